-- name: explorer_raw_probes
-- params: orchestrator VARCHAR, since_ms BIGINT, until_ms BIGINT, region VARCHAR
-- inputs: node_telemetry
-- description: one orchestrator's individual probes in [since, until),
--   newest first, at most 10000 (the Explorer's raw stats); region filters
--   when given.
SELECT
  upper(region) AS region,
  orchestrator,
  probe_ok,
  latency_ms,
  CAST(CAST(event_time AS TIMESTAMP(3)) AS BIGINT) AS t
FROM node_telemetry
WHERE kind = 'probe'
  AND lower(orchestrator) = $1
  AND CAST(CAST(event_time AS TIMESTAMP(3)) AS BIGINT) >= $2
  AND CAST(CAST(event_time AS TIMESTAMP(3)) AS BIGINT) < $3
  AND ($4 IS NULL OR upper(region) = $4)
ORDER BY t DESC
LIMIT 10000
