-- name: payments
-- version: 1
-- owner: naap maintainers
-- inputs: payment_events, seal_window
-- output: payments
-- description: probabilistic-micropayment tickets per hour, gateway, sender,
--   recipient (on-chain orchestrator) and orchestrator URL. face_value_wei
--   sums face values per ticket batch x tickets; expected_value_wei sums
--   face value x win probability x tickets (what the orchestrator earns on
--   average). face_value_wei stays exact (DECIMAL). Additive; the price per pixel is kept as min and max.
SELECT
  w.window_start,
  w.window_end,
  p.gateway,
  p.sender,
  p.recipient AS orchestrator,
  p.orchestrator_url,
  count(*) AS payment_events,
  sum(p.num_tickets) AS tickets,
  sum(p.face_value_wei * CAST(p.num_tickets AS DECIMAL(20, 0))) AS face_value_wei,
  sum(CAST(p.face_value_wei AS DOUBLE) * p.win_prob * p.num_tickets) AS expected_value_wei,
  min(p.price_wei_per_pixel) AS price_wei_per_pixel_min,
  max(p.price_wei_per_pixel) AS price_wei_per_pixel_max
FROM payment_events p
CROSS JOIN seal_window w
WHERE p.event_time >= w.window_start AND p.event_time < w.window_end
GROUP BY w.window_start, w.window_end, p.gateway, p.sender, p.recipient, p.orchestrator_url
