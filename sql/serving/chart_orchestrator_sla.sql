-- name: chart_orchestrator_sla
-- params: orchestrator VARCHAR, sla_version INT, from_ms BIGINT, to_ms BIGINT
-- inputs: sla_hourly
-- description: one orchestrator's SLA and its components, per sealed hour
--   starting in [from, to) and per pipeline and model, of one SLA
--   version; the rates as shares (0..1), the scores 0..100.
SELECT
  CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) AS t,
  pipeline || ' · ' || model AS series,
  sla_score,
  100.0 * reliability_score AS reliability_score,
  100.0 * quality_score AS quality_score,
  startup_success_rate,
  no_swap_rate,
  output_viability_rate,
  avg_e2e_latency_ms,
  avg_prompt_to_first_frame_ms,
  avg_output_fps,
  CAST(requested_sessions AS DOUBLE) AS requested_sessions
FROM sla_hourly
WHERE orchestrator = $1 AND rule = 'sla' AND rule_version = $2
  AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) >= $3
  AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) < $4
ORDER BY 2, 1
