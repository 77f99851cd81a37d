-- name: discover_jobs
-- params: within_ms BIGINT, jobs_version INT
-- inputs: jobs_hourly
-- description: discovery's score of request work: per orchestrator (an
--   on-chain address for BYOC, a service URL for AI batch) and pipeline,
--   the served jobs rule's score / 100 over the hours that start less than
--   `within_ms` before its newest hour, weighted by jobs tried.
SELECT orchestrator, pipeline,
    sum(jobs_score * selected_jobs) / sum(selected_jobs) / 100.0 AS score
  FROM jobs_hourly
  WHERE rule = 'jobs' AND rule_version = $2 AND jobs_score IS NOT NULL AND selected_jobs > 0
    AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) > (
      SELECT CAST(CAST(max(window_start) AS TIMESTAMP(3)) AS BIGINT) FROM jobs_hourly
      WHERE rule = 'jobs' AND rule_version = $2) - $1
  GROUP BY orchestrator, pipeline
