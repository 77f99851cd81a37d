-- name: sla
-- version: 1
-- owner: naap maintainers
-- inputs: sla_inputs_hourly
-- output: sla_hourly
-- description: the NaaP SLA score (Cloud-SPE livepeer-naap-analytics,
--   docs/metrics-and-sla-reference.md and data-validation-rules.md
--   RULE-AGGREGATE-005), 0-100 per on-chain orchestrator, pipeline, model
--   and UTC hour; null when nothing was requested.
--   sla_score = 100 * coverage * (0.7 * reliability + 0.3 * quality)
--   reliability = 0.4 * startup_success_rate + 0.2 * no_swap_rate
--                 + 0.4 * output_viability_rate
--   quality = 0.6 * (0.6 * ptff_score + 0.4 * e2e_score) + 0.4 * fps_score
--   coverage = min(health signals / expected, 1), 1 when none expected.
--   Quality compares the hour's averages with the benchmark of the
--   previous 7 full UTC days of hourly rows of the same (pipeline, model),
--   network-wide: PTFF and E2E score 1 at or below their p50, 0 at or above
--   their p90, linear in between; FPS scores 0 at or below its p10, 1 at or
--   above its p50. Constants the public documents leave open, taken from
--   NaaP's published scoring SQL and tested in v1.slt:
--     BENCHMARK_MIN_ROWS = 48: fewer benchmark rows with a value -> 0.5;
--     shrink toward 0.5 by min(samples / N, 1) with N = 10 PTFF samples,
--     10 E2E samples, 30 status samples (FPS);
--     equal p50/p90 (or p10/p50): 1 on the favourable side, else 0.
--   Benchmark percentiles come from DDSketch (1% relative accuracy).
--   Inputs are NaaP's status hours (sla_inputs_hourly): a session counts
--   in each hour it has status samples, with its latencies carried into
--   each; avg_output_fps = output_fps_sum / status_samples (every sample).
--   Unresolved orchestrators (null) are not scored; pipeline '' is never a
--   benchmark cohort.
WITH cur AS (
  SELECT
    window_start,
    window_end,
    orchestrator,
    pipeline,
    model,
    sum(requested_sessions) AS requested_sessions,
    sum(startup_success_sessions) AS startup_success_sessions,
    sum(swapped_sessions) AS swapped_sessions,
    sum(output_failed_sessions) AS output_failed_sessions,
    sum(health_signal_count) AS health_signal_count,
    sum(health_expected_signal_count) AS health_expected_signal_count,
    sum(status_samples) AS status_samples,
    sum(output_fps_sum) AS output_fps_sum,
    sum(prompt_to_playable_sum_ms) AS prompt_to_playable_sum_ms,
    sum(prompt_to_playable_count) AS prompt_to_playable_count,
    sum(e2e_latency_sum_ms) AS e2e_latency_sum_ms,
    sum(e2e_latency_count) AS e2e_latency_count
  FROM sla_inputs_hourly
  WHERE orchestrator IS NOT NULL
  GROUP BY window_start, window_end, orchestrator, pipeline, model
),
rates AS (
  SELECT
    *,
    CASE WHEN requested_sessions > 0 THEN CAST(startup_success_sessions AS DOUBLE) / requested_sessions END
      AS startup_success_rate,
    CASE WHEN requested_sessions > 0 THEN 1.0 - CAST(swapped_sessions AS DOUBLE) / requested_sessions END
      AS no_swap_rate,
    CASE WHEN requested_sessions > 0 THEN 1.0 - CAST(output_failed_sessions AS DOUBLE) / requested_sessions END
      AS output_viability_rate,
    CASE
      WHEN health_expected_signal_count > 0
        THEN least(CAST(health_signal_count AS DOUBLE) / health_expected_signal_count, 1.0)
      ELSE 1.0
    END AS health_signal_coverage_ratio,
    CASE WHEN prompt_to_playable_count > 0 THEN prompt_to_playable_sum_ms / prompt_to_playable_count END
      AS avg_prompt_to_first_frame_ms,
    CASE WHEN e2e_latency_count > 0 THEN e2e_latency_sum_ms / e2e_latency_count END AS avg_e2e_latency_ms,
    CASE WHEN status_samples > 0 THEN output_fps_sum / status_samples END AS avg_output_fps
  FROM cur
),
-- The benchmark depends only on (pipeline, model, day): computed once per
-- cohort and day, not per orchestrator and hour (a rewrite for speed; every
-- result in v1.slt is the one the per-row form gave).
cohort_days AS (
  SELECT DISTINCT
    pipeline,
    model,
    date_trunc('day', window_start) AS benchmark_to,
    date_trunc('day', window_start) - INTERVAL '7 days' AS benchmark_from
  FROM rates
),
benchmark AS (
  SELECT
    d.pipeline,
    d.model,
    d.benchmark_to,
    count(b.avg_prompt_to_first_frame_ms) AS ptff_benchmark_rows,
    ddsketch_quantile(ddsketch_agg(b.avg_prompt_to_first_frame_ms), 0.5) AS ptff_p50,
    ddsketch_quantile(ddsketch_agg(b.avg_prompt_to_first_frame_ms), 0.9) AS ptff_p90,
    count(b.avg_e2e_latency_ms) AS e2e_benchmark_rows,
    ddsketch_quantile(ddsketch_agg(b.avg_e2e_latency_ms), 0.5) AS e2e_p50,
    ddsketch_quantile(ddsketch_agg(b.avg_e2e_latency_ms), 0.9) AS e2e_p90,
    count(b.avg_output_fps) AS fps_benchmark_rows,
    ddsketch_quantile(ddsketch_agg(b.avg_output_fps), 0.1) AS fps_p10,
    ddsketch_quantile(ddsketch_agg(b.avg_output_fps), 0.5) AS fps_p50
  FROM cohort_days d
  LEFT JOIN rates b
    ON b.pipeline = d.pipeline
    AND b.model = d.model
    AND b.pipeline <> ''
    AND b.window_start >= d.benchmark_from
    AND b.window_start < d.benchmark_to
  GROUP BY d.pipeline, d.model, d.benchmark_to
),
raw AS (
  SELECT
    r.*,
    k.ptff_benchmark_rows,
    k.e2e_benchmark_rows,
    k.fps_benchmark_rows,
    CASE
      WHEN r.avg_prompt_to_first_frame_ms IS NULL OR k.ptff_benchmark_rows < 48 THEN 0.5
      WHEN k.ptff_p90 <= k.ptff_p50 THEN CASE WHEN r.avg_prompt_to_first_frame_ms <= k.ptff_p50 THEN 1.0 ELSE 0.0 END
      WHEN r.avg_prompt_to_first_frame_ms <= k.ptff_p50 THEN 1.0
      WHEN r.avg_prompt_to_first_frame_ms >= k.ptff_p90 THEN 0.0
      ELSE 1.0 - (r.avg_prompt_to_first_frame_ms - k.ptff_p50) / (k.ptff_p90 - k.ptff_p50)
    END AS ptff_raw,
    CASE
      WHEN r.avg_e2e_latency_ms IS NULL OR k.e2e_benchmark_rows < 48 THEN 0.5
      WHEN k.e2e_p90 <= k.e2e_p50 THEN CASE WHEN r.avg_e2e_latency_ms <= k.e2e_p50 THEN 1.0 ELSE 0.0 END
      WHEN r.avg_e2e_latency_ms <= k.e2e_p50 THEN 1.0
      WHEN r.avg_e2e_latency_ms >= k.e2e_p90 THEN 0.0
      ELSE 1.0 - (r.avg_e2e_latency_ms - k.e2e_p50) / (k.e2e_p90 - k.e2e_p50)
    END AS e2e_raw,
    CASE
      WHEN r.avg_output_fps IS NULL OR k.fps_benchmark_rows < 48 THEN 0.5
      WHEN k.fps_p50 <= k.fps_p10 THEN CASE WHEN r.avg_output_fps >= k.fps_p50 THEN 1.0 ELSE 0.0 END
      WHEN r.avg_output_fps >= k.fps_p50 THEN 1.0
      WHEN r.avg_output_fps <= k.fps_p10 THEN 0.0
      ELSE (r.avg_output_fps - k.fps_p10) / (k.fps_p50 - k.fps_p10)
    END AS fps_raw
  FROM rates r
  JOIN benchmark k
    ON k.benchmark_to = date_trunc('day', r.window_start)
    AND k.pipeline = r.pipeline
    AND k.model = r.model
),
components AS (
  SELECT
    *,
    0.5 + least(prompt_to_playable_count / 10.0, 1.0) * (ptff_raw - 0.5) AS ptff_score,
    0.5 + least(e2e_latency_count / 10.0, 1.0) * (e2e_raw - 0.5) AS e2e_score,
    0.5 + least(status_samples / 30.0, 1.0) * (fps_raw - 0.5) AS fps_score,
    CASE
      WHEN requested_sessions > 0
        THEN 0.4 * startup_success_rate + 0.2 * no_swap_rate + 0.4 * output_viability_rate
    END AS reliability_score
  FROM raw
),
scored AS (
  SELECT
    *,
    0.6 * ptff_score + 0.4 * e2e_score AS latency_score,
    0.6 * (0.6 * ptff_score + 0.4 * e2e_score) + 0.4 * fps_score AS quality_score
  FROM components
)
SELECT
  window_start,
  window_end,
  orchestrator,
  pipeline,
  model,
  'sla' AS rule,
  CAST(1 AS INT) AS rule_version,
  CASE
    WHEN requested_sessions > 0
      THEN greatest(least(100.0 * health_signal_coverage_ratio * (0.7 * reliability_score + 0.3 * quality_score), 100.0), 0.0)
  END AS sla_score,
  reliability_score,
  quality_score,
  latency_score,
  ptff_score,
  e2e_score,
  fps_score,
  startup_success_rate,
  no_swap_rate,
  output_viability_rate,
  health_signal_coverage_ratio,
  avg_prompt_to_first_frame_ms,
  avg_e2e_latency_ms,
  avg_output_fps,
  requested_sessions,
  startup_success_sessions,
  swapped_sessions,
  output_failed_sessions,
  health_signal_count,
  health_expected_signal_count,
  status_samples,
  prompt_to_playable_count,
  e2e_latency_count,
  ptff_benchmark_rows,
  e2e_benchmark_rows,
  fps_benchmark_rows
FROM scored
