-- name: requests_ai_jobs
-- params: start_ms BIGINT, end_ms BIGINT, pipeline VARCHAR, after_ms BIGINT, after_key VARCHAR, page_rows BIGINT
-- inputs: ai_requests
-- description: AI batch requests completed in [start, end), newest first
--   (then by gateway and request id), one page: at most page_rows rows
--   after the cursor (after_ms, after_key: the last row of the previous
--   page; null for the first). pipeline filters when given.
WITH keyed AS (
  SELECT *,
    CAST(CAST(completed_at AS TIMESTAMP(3)) AS BIGINT) AS completed_ms,
    gateway || '/' || request_id AS cursor_key
  FROM ai_requests
)
SELECT
  request_id,
  '' AS org,
  gateway,
  pipeline,
  model_id,
  to_char(received_at, '%Y-%m-%dT%H:%M:%S%.3fZ') AS received_at,
  to_char(completed_at, '%Y-%m-%dT%H:%M:%S%.3fZ') AS completed_at,
  success,
  tries,
  duration_ms,
  orchestrator_url AS orch_url,
  selection_outcome,
  orchestrator_address AS orch_address,
  gpu_model_name,
  attribution_status,
  error_type,
  completed_ms,
  cursor_key
FROM keyed
WHERE completed_ms >= $1 AND completed_ms < $2
  AND ($3 IS NULL OR pipeline = $3)
  AND ($4 IS NULL OR completed_ms < $4 OR (completed_ms = $4 AND cursor_key > $5))
ORDER BY completed_ms DESC, cursor_key
LIMIT $6
