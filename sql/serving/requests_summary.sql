-- name: requests_summary
-- params: start_ms BIGINT, end_ms BIGINT, family VARCHAR
-- inputs: requests_hourly
-- description: the request summary of one family (ai-batch, byoc) per
--   pipeline (a BYOC capability) over the sealed hours starting in
--   [start, end), busiest first: jobs, those an orchestrator was tried
--   for, those none was found for, the success rate, and the mean and
--   percentiles of the durations known (null, not 0, when none is).
SELECT
  pipeline,
  sum(jobs) AS total_jobs,
  sum(selected_jobs) AS selected_jobs,
  sum(no_orch_jobs) AS no_orch_jobs,
  CAST(sum(success_jobs) AS DOUBLE) / CAST(sum(jobs) AS DOUBLE) AS success_rate,
  sum(duration_ms_sum) / CAST(nullif(sum(duration_ms_count), 0) AS DOUBLE) AS avg_duration_ms,
  ddsketch_quantile(ddsketch_merge(duration_sketch), 0.5) AS p50_duration_ms,
  ddsketch_quantile(ddsketch_merge(duration_sketch), 0.95) AS p95_duration_ms
FROM requests_hourly
WHERE family = $3
  AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) >= $1
  AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) < $2
GROUP BY pipeline
ORDER BY total_jobs DESC, pipeline
