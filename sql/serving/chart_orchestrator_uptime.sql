-- name: chart_orchestrator_uptime
-- params: orchestrator VARCHAR, uptime_version INT, from_ms BIGINT, to_ms BIGINT
-- inputs: scores_history
-- description: one orchestrator's node health per hour in [from, to): the
--   mean of its minute uptime scores (one uptime version) and the share of
--   minutes its nodes' heartbeats covered.
SELECT
  CAST(CAST(date_trunc('hour', window_start) AS TIMESTAMP(3)) AS BIGINT) AS t,
  'uptime v' || CAST($2 AS VARCHAR) AS series,
  avg(score) AS score,
  avg(uptime_ratio) AS heartbeat_coverage
FROM scores_history
WHERE orchestrator = $1 AND rule = 'uptime' AND rule_version = $2
  AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) >= $3
  AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) < $4
GROUP BY 1, 2
ORDER BY 2, 1
