-- name: orchestrator_sla_hours
-- params: orchestrator VARCHAR, sla_version INT
-- inputs: sla_hourly
-- description: one orchestrator's SLA rows of the served version, hour by
--   hour, per pipeline and model.
SELECT
  CAST(window_start AS VARCHAR) AS window_start,
  pipeline,
  model,
  sla_score,
  reliability_score,
  quality_score,
  requested_sessions,
  startup_success_rate,
  avg_output_fps,
  avg_e2e_latency_ms
FROM sla_hourly
WHERE orchestrator = $1 AND rule = 'sla' AND rule_version = $2
ORDER BY window_start, pipeline, model
