-- name: leaderboard_snapshots
-- params: within_ms BIGINT
-- inputs: gateway_events
-- description: the network_capabilities snapshots gateways published less
--   than `within_ms` before the newest one, oldest first: their time (ms)
--   and raw data (one entry per orchestrator: identity, slots, prices,
--   hardware), which the leaderboard reads per model.
WITH snapshots AS (
  SELECT CAST(CAST(event_time AS TIMESTAMP(3)) AS BIGINT) AS at_ms, data
  FROM gateway_events
  WHERE family = 'network_capabilities'
)
SELECT at_ms, data
FROM snapshots
WHERE at_ms > (SELECT max(at_ms) FROM snapshots) - $1
ORDER BY at_ms
