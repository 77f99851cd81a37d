-- name: requests_by_orchestrator
-- params: start_ms BIGINT, end_ms BIGINT
-- inputs: requests_hourly
-- description: AI batch and BYOC work per orchestrator (its on-chain
--   address for BYOC, its service URL for AI batch) over the sealed hours
--   starting in [start, end), busiest first: jobs tried there, the success
--   rate, and percentiles of duration, TTFT and tokens per second from the
--   hourly DDSketches (null without samples).
SELECT
  coalesce(orchestrator_address, orchestrator_url) AS orchestrator,
  family,
  sum(selected_jobs) AS total_jobs,
  CAST(sum(success_jobs) AS DOUBLE) / CAST(nullif(sum(selected_jobs), 0) AS DOUBLE) AS success_rate,
  ddsketch_quantile(ddsketch_merge(duration_sketch), 0.5) AS p50_duration_ms,
  ddsketch_quantile(ddsketch_merge(duration_sketch), 0.95) AS p95_duration_ms,
  ddsketch_quantile(ddsketch_merge(ttft_sketch), 0.5) AS p50_ttft_ms,
  ddsketch_quantile(ddsketch_merge(ttft_sketch), 0.95) AS p95_ttft_ms,
  ddsketch_quantile(ddsketch_merge(tokens_per_second_sketch), 0.5) AS p50_tokens_per_sec
FROM requests_hourly
WHERE coalesce(orchestrator_address, orchestrator_url) IS NOT NULL
  AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) >= $1
  AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) < $2
GROUP BY coalesce(orchestrator_address, orchestrator_url), family
ORDER BY total_jobs DESC, orchestrator, family
