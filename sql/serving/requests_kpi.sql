-- name: requests_kpi
-- params: start_ms BIGINT, end_ms BIGINT
-- inputs: requests_hourly
-- description: the dashboard's request KPIs per family (ai-batch, byoc)
--   over the sealed hours starting in [start, end): the figures of
--   requests_summary over every pipeline.
SELECT
  family,
  sum(jobs) AS total_jobs,
  sum(selected_jobs) AS selected_jobs,
  sum(no_orch_jobs) AS no_orch_jobs,
  CAST(sum(success_jobs) AS DOUBLE) / CAST(sum(jobs) AS DOUBLE) AS success_rate,
  sum(duration_ms_sum) / CAST(nullif(sum(duration_ms_count), 0) AS DOUBLE) AS avg_duration_ms
FROM requests_hourly
WHERE CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) >= $1
  AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) < $2
GROUP BY family
ORDER BY family
