-- name: requests_byoc_jobs
-- params: start_ms BIGINT, end_ms BIGINT, capability VARCHAR, after_ms BIGINT, after_key VARCHAR, page_rows BIGINT
-- inputs: byoc_jobs
-- description: BYOC jobs that ended in [start, end) (their last
--   completion or attempt; their discovery when none was tried), newest
--   first, one page after the cursor as in requests_ai_jobs. request_id is
--   the job's id (its discovery event's id); the job counts once across
--   its attempts, with the outcome of the last.
WITH keyed AS (
  SELECT *,
    CAST(CAST(coalesce(ended_at, started_at) AS TIMESTAMP(3)) AS BIGINT) AS completed_ms,
    job_id AS cursor_key
  FROM byoc_jobs
)
SELECT
  job_id AS request_id,
  '' AS org,
  gateway,
  capability,
  model,
  price_per_unit,
  to_char(started_at, '%Y-%m-%dT%H:%M:%S%.3fZ') AS started_at,
  to_char(coalesce(ended_at, started_at), '%Y-%m-%dT%H:%M:%S%.3fZ') AS completed_at,
  success,
  outcome,
  attempts,
  duration_ms,
  http_status,
  orchestrator_address AS orch_address,
  orchestrator_url AS orch_url,
  '' AS worker_url,
  CASE WHEN attempts > 0 THEN 'selected' ELSE 'no_orch' END AS selection_outcome,
  CAST(NULL AS VARCHAR) AS gpu_model_name,
  'unresolved' AS attribution_status,
  streaming,
  error,
  completed_ms,
  cursor_key
FROM keyed
WHERE completed_ms >= $1 AND completed_ms < $2
  AND ($3 IS NULL OR capability = $3)
  AND ($4 IS NULL OR completed_ms < $4 OR (completed_ms = $4 AND cursor_key > $5))
ORDER BY completed_ms DESC, cursor_key
LIMIT $6
