-- name: chart_requests
-- params: from_ms BIGINT, to_ms BIGINT
-- inputs: requests_hourly
-- description: the dashboard's AI batch and BYOC series: per sealed hour
--   starting in [from, to) and per family (ai-batch, byoc, and the LLM
--   requests among AI batch as llm), requests (BYOC: jobs across their
--   attempts) and the share that succeeded.
WITH families AS (
  SELECT window_start, family, CAST(sum(jobs) AS DOUBLE) AS jobs, CAST(sum(success_jobs) AS DOUBLE) AS ok
  FROM requests_hourly GROUP BY 1, 2
  UNION ALL
  SELECT window_start, 'llm', CAST(sum(llm_requests) AS DOUBLE), CAST(sum(llm_success) AS DOUBLE)
  FROM requests_hourly WHERE family = 'ai-batch' GROUP BY 1 HAVING sum(llm_requests) > 0
)
SELECT
  CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) AS t,
  family AS series,
  jobs AS requests,
  ok / nullif(jobs, 0) AS success
FROM families
WHERE CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) >= $1
  AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) < $2
ORDER BY 2, 1
