-- name: router_jobs_scores
-- params: pipeline VARCHAR, model VARCHAR, jobs_version INT, within_ms BIGINT
-- inputs: jobs_hourly
-- description: the served jobs rule version's score of each orchestrator
--   for a pipeline (or BYOC capability) and model in its newest scored hour
--   among those that start less than `within_ms` before the version's
--   newest sealed hour, with that hour; orchestrator is an on-chain address
--   (BYOC) or a service URL (AI batch).
WITH served AS (
  SELECT * FROM jobs_hourly WHERE rule = 'jobs' AND rule_version = $3
),
recent AS (
  SELECT orchestrator, jobs_score, window_start,
    row_number() OVER (PARTITION BY orchestrator ORDER BY window_start DESC) AS newest_first
  FROM served
  WHERE pipeline = $1 AND model = $2
    AND jobs_score IS NOT NULL
    AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT)
      > (SELECT CAST(CAST(max(window_start) AS TIMESTAMP(3)) AS BIGINT) FROM served) - $4
)
SELECT orchestrator, jobs_score, CAST(window_start AS VARCHAR) AS hour
FROM recent
WHERE newest_first = 1
