-- name: chart_orchestrators
-- params: from_ms BIGINT, to_ms BIGINT
-- inputs: sla_hourly
-- description: the dashboard's count of orchestrators that served
--   live-video sessions, per sealed hour starting in [from, to) and per
--   pipeline and model (rows of SLA v1's table, one per orchestrator, so
--   any served version counts the same).
SELECT
  CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) AS t,
  pipeline || ' · ' || model AS series,
  CAST(count(DISTINCT orchestrator) AS DOUBLE) AS orchestrators
FROM sla_hourly
WHERE requested_sessions > 0
  AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) >= $1
  AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) < $2
GROUP BY 1, 2
ORDER BY 2, 1
