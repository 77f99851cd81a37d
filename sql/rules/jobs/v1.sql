-- name: jobs
-- version: 1
-- owner: naap maintainers
-- inputs: requests_hourly, byoc_workers
-- output: jobs_hourly
-- description: an SLA-style score for AI batch requests and BYOC jobs,
--   0-100 per orchestrator (the on-chain address for BYOC; the service URL
--   for AI batch, whose address is not resolved yet), family, pipeline (a
--   BYOC capability), model and UTC hour. An orchestrator whose BYOC runners
--   were attached in the hour but were tried for no job has a row with a
--   null score and status no_data: it is unknown, never ranked as bad.
--   jobs_score = 100 * (0.7 * success_rate + 0.3 * quality)
--   success_rate = successes / jobs tried (a BYOC job counts once across
--     its attempts, under the orchestrator of its last)
--   quality = weighted mean of the parts that have evidence: latency (1.0;
--     0.4 for LLMs), TTFT (0.3, LLM streams) and tokens per second (0.3,
--     LLMs with tokens); 0.5 when none has.
--   Each part compares the orchestrator's median, from its DDSketches, with
--   the hour's network-wide cohort of the same family, pipeline and model:
--   latency and TTFT score 1 at or below the cohort's p50, 0 at or above
--   its p90, linear in between; tokens per second scores 0 at or below the
--   cohort's p10, 1 at or above its p50. A part with fewer than 10 samples
--   is shrunk toward 0.5 by samples / 10.
WITH cur AS (
  SELECT
    window_start,
    window_end,
    family,
    pipeline,
    coalesce(model, '') AS model,
    coalesce(orchestrator_address, orchestrator_url) AS orchestrator,
    sum(selected_jobs) AS selected_jobs,
    sum(success_jobs) AS success_jobs,
    sum(duration_ms_count) AS duration_count,
    ddsketch_merge(duration_sketch) AS duration_sketch,
    sum(ttft_count) AS ttft_count,
    ddsketch_merge(ttft_sketch) AS ttft_sketch,
    sum(tokens_per_second_count) AS tps_count,
    ddsketch_merge(tokens_per_second_sketch) AS tps_sketch,
    sum(llm_requests) AS llm_requests
  FROM requests_hourly
  WHERE coalesce(orchestrator_address, orchestrator_url) IS NOT NULL
  GROUP BY window_start, window_end, family, pipeline, coalesce(model, ''),
    coalesce(orchestrator_address, orchestrator_url)
),
cohort AS (
  SELECT
    window_start, family, pipeline, model,
    ddsketch_quantile(ddsketch_merge(duration_sketch), 0.5) AS duration_p50,
    ddsketch_quantile(ddsketch_merge(duration_sketch), 0.9) AS duration_p90,
    ddsketch_quantile(ddsketch_merge(ttft_sketch), 0.5) AS ttft_p50,
    ddsketch_quantile(ddsketch_merge(ttft_sketch), 0.9) AS ttft_p90,
    ddsketch_quantile(ddsketch_merge(tps_sketch), 0.1) AS tps_p10,
    ddsketch_quantile(ddsketch_merge(tps_sketch), 0.5) AS tps_p50
  FROM cur
  GROUP BY window_start, family, pipeline, model
),
own AS (
  SELECT c.*,
    ddsketch_quantile(c.duration_sketch, 0.5) AS p50_duration_ms,
    ddsketch_quantile(c.ttft_sketch, 0.5) AS p50_ttft_ms,
    ddsketch_quantile(c.tps_sketch, 0.5) AS p50_tokens_per_sec,
    b.duration_p50, b.duration_p90, b.ttft_p50, b.ttft_p90, b.tps_p10, b.tps_p50
  FROM cur c
  JOIN cohort b
    ON b.window_start = c.window_start AND b.family = c.family AND b.pipeline = c.pipeline AND b.model = c.model
),
raw AS (
  SELECT *,
    CASE
      WHEN p50_duration_ms IS NULL THEN NULL
      WHEN p50_duration_ms <= duration_p50 THEN 1.0
      WHEN p50_duration_ms >= duration_p90 THEN 0.0
      ELSE (duration_p90 - p50_duration_ms) / (duration_p90 - duration_p50)
    END AS latency_raw,
    CASE
      WHEN p50_ttft_ms IS NULL THEN NULL
      WHEN p50_ttft_ms <= ttft_p50 THEN 1.0
      WHEN p50_ttft_ms >= ttft_p90 THEN 0.0
      ELSE (ttft_p90 - p50_ttft_ms) / (ttft_p90 - ttft_p50)
    END AS ttft_raw,
    CASE
      WHEN p50_tokens_per_sec IS NULL THEN NULL
      WHEN p50_tokens_per_sec >= tps_p50 THEN 1.0
      WHEN p50_tokens_per_sec <= tps_p10 THEN 0.0
      ELSE (p50_tokens_per_sec - tps_p10) / (tps_p50 - tps_p10)
    END AS tps_raw
  FROM own
),
parts AS (
  SELECT *,
    CASE WHEN selected_jobs > 0 THEN CAST(success_jobs AS DOUBLE) / CAST(selected_jobs AS DOUBLE) END AS success_rate,
    0.5 + (latency_raw - 0.5) * least(CAST(duration_count AS DOUBLE) / 10.0, 1.0) AS latency_score,
    0.5 + (ttft_raw - 0.5) * least(CAST(ttft_count AS DOUBLE) / 10.0, 1.0) AS ttft_score,
    0.5 + (tps_raw - 0.5) * least(CAST(tps_count AS DOUBLE) / 10.0, 1.0) AS tokens_per_second_score,
    CASE WHEN llm_requests > 0 THEN 0.4 ELSE 1.0 END AS latency_weight
  FROM raw
),
quality AS (
  SELECT *,
    coalesce(
      (coalesce(latency_weight * latency_score, 0.0) + coalesce(0.3 * ttft_score, 0.0)
        + coalesce(0.3 * tokens_per_second_score, 0.0))
      / nullif(
        CASE WHEN latency_score IS NULL THEN 0.0 ELSE latency_weight END
        + CASE WHEN ttft_score IS NULL THEN 0.0 ELSE 0.3 END
        + CASE WHEN tokens_per_second_score IS NULL THEN 0.0 ELSE 0.3 END, 0.0),
      0.5) AS quality_score
  FROM parts
)
SELECT
  window_start,
  window_end,
  'jobs' AS rule,
  CAST(1 AS INT) AS rule_version,
  orchestrator,
  family,
  pipeline,
  model,
  selected_jobs,
  success_jobs,
  success_rate,
  p50_duration_ms,
  latency_score,
  p50_ttft_ms,
  ttft_score,
  p50_tokens_per_sec,
  tokens_per_second_score,
  quality_score,
  CASE WHEN selected_jobs > 0 THEN 100.0 * (0.7 * success_rate + 0.3 * quality_score) END AS jobs_score,
  CASE WHEN selected_jobs > 0 THEN 'scored' ELSE 'no_data' END AS status
FROM quality
UNION ALL
SELECT DISTINCT
  w.window_start,
  w.window_end,
  'jobs',
  CAST(1 AS INT),
  w.orchestrator_address,
  'byoc',
  w.capability,
  coalesce(w.model, ''),
  CAST(0 AS BIGINT),
  CAST(0 AS BIGINT),
  CAST(NULL AS DOUBLE),
  CAST(NULL AS DOUBLE),
  CAST(NULL AS DOUBLE),
  CAST(NULL AS DOUBLE),
  CAST(NULL AS DOUBLE),
  CAST(NULL AS DOUBLE),
  CAST(NULL AS DOUBLE),
  CAST(NULL AS DOUBLE),
  CAST(NULL AS DOUBLE),
  'no_data'
FROM byoc_workers w
WHERE w.orchestrator_address IS NOT NULL
  AND NOT EXISTS (
    SELECT 1 FROM cur c
    WHERE c.family = 'byoc' AND c.orchestrator = w.orchestrator_address AND c.pipeline = w.capability
      AND c.window_start = w.window_start
  )
