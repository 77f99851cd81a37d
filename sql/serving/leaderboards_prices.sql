-- name: leaderboards_prices
-- inputs: payment_events
-- description: each orchestrator's newest price per pixel (wei), as the
--   tickets gateways paid it carried: the leaderboards' price column.
SELECT
  recipient AS orchestrator,
  last_value(price_wei_per_pixel ORDER BY event_time, event_id) AS price_wei_per_pixel
FROM payment_events
GROUP BY recipient
ORDER BY recipient
