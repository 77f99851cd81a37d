-- name: backtest_outcomes
-- version: 1
-- owner: naap maintainers
-- inputs: sla_inputs_hourly
-- output: (in memory, for naap backtest)
-- description: what each on-chain orchestrator delivered per pipeline,
--   model and UTC hour: the outcomes a score at an earlier hour is
--   compared with. Sessions are NaaP's status hours (sla_inputs_hourly),
--   summed over gateways; unresolved orchestrators (null) are left out, as
--   no rule can score them.
--   startup_success_rate = startup_success_sessions / requested_sessions
--   output_viability_rate = 1 - output_failed_sessions / requested_sessions
--   no_swap_rate = 1 - swapped_sessions / requested_sessions
--   avg_e2e_latency_ms = e2e_latency_sum_ms / e2e_latency_count (null
--   without a sample)
WITH hours AS (
  SELECT
    CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) AS hour_ms,
    orchestrator,
    pipeline,
    model,
    sum(requested_sessions) AS requested_sessions,
    sum(startup_success_sessions) AS startup_success_sessions,
    sum(output_failed_sessions) AS output_failed_sessions,
    sum(swapped_sessions) AS swapped_sessions,
    sum(e2e_latency_sum_ms) AS e2e_latency_sum_ms,
    sum(e2e_latency_count) AS e2e_latency_count
  FROM sla_inputs_hourly
  WHERE orchestrator IS NOT NULL
  GROUP BY 1, orchestrator, pipeline, model
)
SELECT
  hour_ms,
  orchestrator,
  pipeline,
  model,
  requested_sessions,
  CAST(startup_success_sessions AS DOUBLE) / requested_sessions AS startup_success_rate,
  1.0 - CAST(output_failed_sessions AS DOUBLE) / requested_sessions AS output_viability_rate,
  1.0 - CAST(swapped_sessions AS DOUBLE) / requested_sessions AS no_swap_rate,
  CASE WHEN e2e_latency_count > 0 THEN e2e_latency_sum_ms / e2e_latency_count END AS avg_e2e_latency_ms
FROM hours
WHERE requested_sessions > 0
