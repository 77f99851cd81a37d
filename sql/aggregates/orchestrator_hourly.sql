-- name: orchestrator_hourly
-- version: 1
-- owner: naap maintainers
-- inputs: sessions
-- output: orchestrator_hourly
-- description: additive per-hour demand, per on-chain orchestrator (null
--   unless resolved, with attribution_status saying why), pipeline, model
--   and gateway, counted where NaaP's demand rollups count it: session
--   counters and latency edges once, in the hour the session started (its
--   first event's hour when no stream request was seen), whether or not it
--   ever sent a status sample; status samples and output fps in the hours
--   they were sampled (a row with no session started in it is NaaP's
--   perf-only row). Rollover tail artifacts are left out. The SLA rules
--   read sla_inputs_hourly (status hours) instead. Every column is a sum, a
--   count or a DDSketch, so hours merge into days exactly.
SELECT
  window_start,
  window_end,
  orchestrator,
  attribution_status,
  pipeline,
  model,
  gateway,
  count(*) AS sessions,
  sum(CASE WHEN started_in_hour AND requested_seen THEN 1 ELSE 0 END) AS requested_sessions,
  sum(CASE WHEN started_in_hour AND requested_seen AND startup_outcome = 'success' THEN 1 ELSE 0 END) AS startup_success_sessions,
  sum(CASE WHEN started_in_hour AND requested_seen AND selection_outcome = 'no_orch' THEN 1 ELSE 0 END) AS no_orch_sessions,
  sum(CASE WHEN started_in_hour AND requested_seen AND startup_outcome = 'failed' AND excusal_reason <> 'none' THEN 1 ELSE 0 END)
    AS startup_excused_sessions,
  sum(CASE WHEN started_in_hour AND requested_seen AND startup_outcome = 'failed' AND excusal_reason = 'none' THEN 1 ELSE 0 END)
    AS startup_unexcused_sessions,
  sum(CASE WHEN started_in_hour AND requested_seen AND confirmed_swap THEN 1 ELSE 0 END) AS confirmed_swapped_sessions,
  sum(CASE WHEN started_in_hour AND requested_seen AND inferred_swap THEN 1 ELSE 0 END) AS inferred_swapped_sessions,
  sum(CASE WHEN started_in_hour AND requested_seen AND swapped THEN 1 ELSE 0 END) AS swapped_sessions,
  sum(CASE WHEN started_in_hour AND requested_seen AND loading_only THEN 1 ELSE 0 END) AS loading_only_sessions,
  sum(CASE WHEN started_in_hour AND requested_seen AND zero_output_fps THEN 1 ELSE 0 END) AS zero_output_fps_sessions,
  sum(CASE WHEN started_in_hour AND requested_seen AND output_failed THEN 1 ELSE 0 END) AS output_failed_sessions,
  sum(CASE WHEN started_in_hour THEN health_signal_count ELSE 0 END) AS health_signal_count,
  sum(CASE WHEN started_in_hour THEN health_expected_signal_count ELSE 0 END) AS health_expected_signal_count,
  sum(hour_status_samples) AS status_samples,
  sum(hour_output_fps_samples) AS output_fps_samples,
  sum(hour_output_fps_sum) AS output_fps_sum,
  sum(CASE WHEN started_in_hour THEN CAST(startup_latency_ms AS DOUBLE) END) AS startup_latency_sum_ms,
  count(CASE WHEN started_in_hour THEN startup_latency_ms END) AS startup_latency_count,
  ddsketch_agg(CASE WHEN started_in_hour THEN CAST(startup_latency_ms AS DOUBLE) END) AS startup_latency_sketch,
  sum(CASE WHEN started_in_hour THEN CAST(e2e_latency_ms AS DOUBLE) END) AS e2e_latency_sum_ms,
  count(CASE WHEN started_in_hour THEN e2e_latency_ms END) AS e2e_latency_count,
  ddsketch_agg(CASE WHEN started_in_hour THEN CAST(e2e_latency_ms AS DOUBLE) END) AS e2e_latency_sketch,
  sum(CASE WHEN started_in_hour THEN CAST(prompt_to_playable_ms AS DOUBLE) END) AS prompt_to_playable_sum_ms,
  count(CASE WHEN started_in_hour THEN prompt_to_playable_ms END) AS prompt_to_playable_count,
  ddsketch_agg(CASE WHEN started_in_hour THEN CAST(prompt_to_playable_ms AS DOUBLE) END) AS prompt_to_playable_sketch
FROM sessions
WHERE NOT tail_artifact
GROUP BY window_start, window_end, orchestrator, attribution_status, pipeline, model, gateway
