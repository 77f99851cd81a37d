-- name: dashboard_sla
-- params: sla_version INT
-- inputs: sla_hourly
-- description: per orchestrator, its SLA over the newest sealed hour of the
--   served version, weighted by requested sessions across its pipelines
--   and models; average output FPS is the plain mean of its rows.
WITH served AS (
  SELECT * FROM sla_hourly WHERE rule = 'sla' AND rule_version = $1
)
SELECT
  orchestrator,
  weighted_avg(sla_score, requested_sessions) AS sla_score,
  sum(requested_sessions) AS requested_sessions,
  weighted_avg(startup_success_rate, requested_sessions) AS startup_success_rate,
  avg(avg_output_fps) AS avg_output_fps,
  CAST(max(window_start) AS VARCHAR) AS window_start
FROM served
WHERE sla_score IS NOT NULL
  AND window_start = (SELECT max(window_start) FROM served)
GROUP BY orchestrator
