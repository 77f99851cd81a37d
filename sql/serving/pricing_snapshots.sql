-- name: pricing_snapshots
-- params: start_ms BIGINT, end_ms BIGINT
-- inputs: gateway_events
-- description: the network_capabilities snapshots gateways published in
--   [start, end), each gateway's newest of each hour, oldest first: their
--   time (ms) and raw data, whose entries carry each orchestrator's
--   advertised prices and warm models (the NaaP dashboard's pricing). A
--   gateway republishes the whole network about every minute; the newest
--   of an hour holds what it knew then, and reading one an hour keeps a
--   day's answer to 24 snapshots a gateway.
WITH snapshots AS (
  SELECT CAST(CAST(event_time AS TIMESTAMP(3)) AS BIGINT) AS at_ms, data,
    row_number() OVER (
      PARTITION BY coalesce(gateway, ''), date_trunc('hour', event_time)
      ORDER BY event_time DESC, event_id DESC) AS newest_first
  FROM gateway_events
  WHERE family = 'network_capabilities'
    AND CAST(CAST(event_time AS TIMESTAMP(3)) AS BIGINT) >= $1
    AND CAST(CAST(event_time AS TIMESTAMP(3)) AS BIGINT) < $2
)
SELECT at_ms, data FROM snapshots WHERE newest_first = 1 ORDER BY at_ms
