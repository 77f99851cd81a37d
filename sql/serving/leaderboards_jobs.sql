-- name: leaderboards_jobs
-- params: jobs_version INT, within_ms BIGINT
-- inputs: jobs_hourly
-- description: the dashboard's AI batch and BYOC leaderboards: per family,
--   capability (pipeline), model and orchestrator, its newest hour of one
--   jobs rule version among those that start less than `within_ms` before
--   the version's newest sealed hour; an hour without a job tried keeps its
--   null score (no data, never a low score).
WITH served AS (
  SELECT * FROM jobs_hourly WHERE rule = 'jobs' AND rule_version = $1
),
recent AS (
  SELECT * FROM served
  WHERE CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT)
    > (SELECT CAST(CAST(max(window_start) AS TIMESTAMP(3)) AS BIGINT) FROM served) - $2
),
ranked AS (
  SELECT *, row_number() OVER (
    PARTITION BY family, pipeline, model, orchestrator
    ORDER BY jobs_score IS NULL, window_start DESC) AS newest
  FROM recent
)
SELECT
  family,
  pipeline,
  model,
  orchestrator,
  CAST(window_start AS VARCHAR) AS window_start,
  jobs_score,
  success_rate,
  CAST(selected_jobs AS DOUBLE) AS selected_jobs,
  p50_duration_ms,
  p50_ttft_ms,
  p50_tokens_per_sec,
  status
FROM ranked
WHERE newest = 1
ORDER BY family, pipeline, model, jobs_score DESC NULLS LAST, orchestrator
