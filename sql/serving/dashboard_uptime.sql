-- name: dashboard_uptime
-- params: uptime_version INT
-- inputs: scores
-- description: the newest minute's uptime score per orchestrator, of the
--   served uptime version.
SELECT
  orchestrator,
  rule_version,
  score,
  uptime_ratio,
  latency_p95_ms,
  CAST(window_start AS VARCHAR) AS window_start
FROM scores
WHERE rule = 'uptime' AND rule_version = $1
