-- name: router_jobs_scores
-- params: pipeline VARCHAR, model VARCHAR, jobs_version INT
-- inputs: jobs_hourly
-- description: the served jobs rule version's scores of a pipeline (or
--   BYOC capability) and model in the newest sealed hour that scored it;
--   orchestrator is an on-chain address (BYOC) or a service URL (AI batch).
WITH served AS (
  SELECT * FROM jobs_hourly
  WHERE rule = 'jobs' AND rule_version = $3 AND pipeline = $1 AND model = $2 AND jobs_score IS NOT NULL
)
SELECT orchestrator, jobs_score, CAST(window_start AS VARCHAR) AS hour
FROM served
WHERE window_start = (SELECT max(window_start) FROM served)
