-- name: dashboard_sla
-- params: sla_version INT, within_ms BIGINT
-- inputs: sla_hourly
-- description: per orchestrator, its SLA over its newest scored hour of
--   the served version among those that start less than `within_ms` before
--   the version's newest sealed hour (one quiet in the newest hour keeps
--   its previous one), weighted by requested sessions across its pipelines
--   and models; average output FPS is the plain mean of its rows; with the
--   hour used.
WITH served AS (
  SELECT * FROM sla_hourly WHERE rule = 'sla' AND rule_version = $1
),
scored AS (
  SELECT * FROM served
  WHERE sla_score IS NOT NULL
    AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT)
      > (SELECT CAST(CAST(max(window_start) AS TIMESTAMP(3)) AS BIGINT) FROM served) - $2
),
newest AS (
  SELECT orchestrator, max(window_start) AS window_start FROM scored GROUP BY orchestrator
)
SELECT
  s.orchestrator,
  weighted_avg(s.sla_score, s.requested_sessions) AS sla_score,
  sum(s.requested_sessions) AS requested_sessions,
  weighted_avg(s.startup_success_rate, s.requested_sessions) AS startup_success_rate,
  avg(s.avg_output_fps) AS avg_output_fps,
  CAST(n.window_start AS VARCHAR) AS window_start
FROM scored s
JOIN newest n ON s.orchestrator = n.orchestrator AND s.window_start = n.window_start
GROUP BY s.orchestrator, n.window_start
