-- name: pricing_snapshots
-- params: start_ms BIGINT, end_ms BIGINT
-- inputs: gateway_events
-- description: the network_capabilities snapshots gateways published in
--   [start, end), oldest first: their time (ms) and raw data, whose
--   entries carry each orchestrator's advertised prices and warm models
--   (the NaaP dashboard's pricing).
SELECT CAST(CAST(event_time AS TIMESTAMP(3)) AS BIGINT) AS at_ms, data
FROM gateway_events
WHERE family = 'network_capabilities'
  AND CAST(CAST(event_time AS TIMESTAMP(3)) AS BIGINT) >= $1
  AND CAST(CAST(event_time AS TIMESTAMP(3)) AS BIGINT) < $2
ORDER BY at_ms
