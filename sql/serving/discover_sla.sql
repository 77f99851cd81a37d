-- name: discover_sla
-- params: within_ms BIGINT, sla_version INT
-- inputs: sla_hourly
-- description: discovery's score of what the SLA scores: per orchestrator
--   and pipeline, the served version's score / 100 over the hours that
--   start less than `within_ms` before its newest hour, weighted by
--   requested sessions.
SELECT orchestrator, pipeline,
    sum(sla_score * requested_sessions) / sum(requested_sessions) / 100.0 AS score
  FROM sla_hourly
  WHERE rule = 'sla' AND rule_version = $2 AND sla_score IS NOT NULL AND requested_sessions > 0
    AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) > (
      SELECT CAST(CAST(max(window_start) AS TIMESTAMP(3)) AS BIGINT) FROM sla_hourly
      WHERE rule = 'sla' AND rule_version = $2) - $1
  GROUP BY orchestrator, pipeline
