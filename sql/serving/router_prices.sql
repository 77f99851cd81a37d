-- name: router_prices
-- inputs: payment_events
-- description: the prices orchestrators were paid at, newest first.
SELECT recipient, price_wei_per_pixel FROM payment_events ORDER BY event_time DESC
