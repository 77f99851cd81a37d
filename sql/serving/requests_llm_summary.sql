-- name: requests_llm_summary
-- params: start_ms BIGINT, end_ms BIGINT
-- inputs: requests_hourly
-- description: LLM requests per requested model over the sealed hours
--   starting in [start, end), busiest first. A broken stream is not a
--   success; TTFT is over streams; tokens per second and total tokens over
--   requests that produced tokens (NaaP averages zeros in for both).
SELECT
  model,
  sum(llm_requests) AS total_requests,
  CAST(sum(llm_success) AS DOUBLE) / CAST(sum(llm_requests) AS DOUBLE) AS success_rate,
  sum(tokens_per_second_sum) / CAST(nullif(sum(tokens_per_second_count), 0) AS DOUBLE) AS avg_tokens_per_sec,
  sum(ttft_ms_sum) / CAST(nullif(sum(ttft_count), 0) AS DOUBLE) AS avg_ttft_ms,
  sum(total_tokens_sum) / CAST(nullif(sum(total_tokens_count), 0) AS DOUBLE) AS avg_total_tokens,
  sum(llm_streamed) AS streamed_requests,
  ddsketch_quantile(ddsketch_merge(ttft_sketch), 0.5) AS p50_ttft_ms,
  ddsketch_quantile(ddsketch_merge(ttft_sketch), 0.95) AS p95_ttft_ms,
  ddsketch_quantile(ddsketch_merge(tokens_per_second_sketch), 0.5) AS p50_tokens_per_sec
FROM requests_hourly
WHERE family = 'ai-batch' AND llm_requests > 0
  AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) >= $1
  AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) < $2
GROUP BY model
ORDER BY total_requests DESC, model
