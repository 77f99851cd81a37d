-- name: orchestrator_uptime_hours
-- params: orchestrator VARCHAR, uptime_version INT
-- inputs: scores_history
-- description: one orchestrator's minute uptime scores of the served
--   version, averaged per hour.
SELECT
  CAST(date_trunc('hour', window_start) AS VARCHAR) AS hour,
  avg(score) AS mean_minute_score,
  avg(uptime_ratio) AS mean_uptime_ratio,
  count(*) AS minutes
FROM scores_history
WHERE orchestrator = $1 AND rule = 'uptime' AND rule_version = $2
GROUP BY 1
ORDER BY 1
