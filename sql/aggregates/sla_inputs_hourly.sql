-- name: sla_inputs_hourly
-- version: 1
-- owner: naap maintainers
-- inputs: sessions
-- output: sla_inputs_hourly
-- description: the SLA rules' additive input per hour, on-chain
--   orchestrator (null unless resolved, with attribution_status saying
--   why), pipeline, model and gateway, built the way production NaaP builds
--   it (resolver/repo.go insertSLAComplianceRollups over canonical status
--   hours): only the hours in which a session has status samples count,
--   less NaaP's rollover tail artifacts, so a session without a status
--   sample adds nothing here (it stays in sessions and
--   orchestrator_hourly). A session sampled in two hours counts in both,
--   with its session-level outcomes and health signals, and its
--   prompt-to-first-frame, E2E and startup latencies carried into each of
--   those hours (counted when > 0, as NaaP does). output_fps_sum adds
--   every sample's fps, so avg fps = output_fps_sum / status_samples.
SELECT
  window_start,
  window_end,
  orchestrator,
  attribution_status,
  pipeline,
  model,
  gateway,
  count(*) AS status_hour_sessions,
  sum(CASE WHEN requested_seen THEN 1 ELSE 0 END) AS requested_sessions,
  sum(CASE WHEN requested_seen AND startup_outcome = 'success' THEN 1 ELSE 0 END) AS startup_success_sessions,
  sum(CASE WHEN requested_seen AND selection_outcome = 'no_orch' THEN 1 ELSE 0 END) AS no_orch_sessions,
  sum(CASE WHEN requested_seen AND startup_outcome = 'failed' AND excusal_reason <> 'none' THEN 1 ELSE 0 END)
    AS startup_excused_sessions,
  sum(CASE WHEN requested_seen AND startup_outcome = 'failed' AND excusal_reason = 'none' THEN 1 ELSE 0 END)
    AS startup_unexcused_sessions,
  sum(CASE WHEN requested_seen AND swapped THEN 1 ELSE 0 END) AS swapped_sessions,
  sum(CASE WHEN requested_seen AND loading_only THEN 1 ELSE 0 END) AS loading_only_sessions,
  sum(CASE WHEN requested_seen AND zero_output_fps THEN 1 ELSE 0 END) AS zero_output_fps_sessions,
  sum(CASE WHEN requested_seen AND output_failed THEN 1 ELSE 0 END) AS output_failed_sessions,
  sum(CASE WHEN requested_seen AND (output_failed OR (startup_outcome = 'failed' AND excusal_reason = 'none'))
    THEN 1 ELSE 0 END) AS effective_failed_sessions,
  sum(health_signal_count) AS health_signal_count,
  sum(health_expected_signal_count) AS health_expected_signal_count,
  sum(hour_status_samples) AS status_samples,
  sum(hour_output_fps_sum) AS output_fps_sum,
  sum(CASE WHEN prompt_to_playable_ms > 0 THEN CAST(prompt_to_playable_ms AS DOUBLE) END) AS prompt_to_playable_sum_ms,
  count(CASE WHEN prompt_to_playable_ms > 0 THEN prompt_to_playable_ms END) AS prompt_to_playable_count,
  sum(CASE WHEN e2e_latency_ms > 0 THEN CAST(e2e_latency_ms AS DOUBLE) END) AS e2e_latency_sum_ms,
  count(CASE WHEN e2e_latency_ms > 0 THEN e2e_latency_ms END) AS e2e_latency_count,
  sum(CASE WHEN startup_latency_ms > 0 THEN CAST(startup_latency_ms AS DOUBLE) END) AS startup_latency_sum_ms,
  count(CASE WHEN startup_latency_ms > 0 THEN startup_latency_ms END) AS startup_latency_count
FROM sessions
WHERE hour_status_samples > 0 AND NOT tail_artifact
GROUP BY window_start, window_end, orchestrator, attribution_status, pipeline, model, gateway
