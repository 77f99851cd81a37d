-- name: orchestrator_jobs
-- params: orchestrator VARCHAR, max_rows BIGINT
-- inputs: ai_requests, byoc_jobs, capability_snapshots
-- description: one orchestrator's newest AI batch requests and BYOC jobs,
--   newest first, at most max_rows: AI batch requests by their resolved
--   address or by a service URL the orchestrator advertised (an AI batch
--   request's address is often unresolved), BYOC jobs by the address of
--   their last attempt.
WITH urls AS (
  SELECT DISTINCT orch_uri FROM capability_snapshots WHERE address = $1 AND orch_uri IS NOT NULL
),
jobs AS (
  SELECT 'ai-batch' AS family, request_id AS id, pipeline, model_id AS model, completed_at AS ended,
    success, duration_ms, error_type AS error
  FROM ai_requests
  WHERE orchestrator_address = $1 OR orchestrator_url IN (SELECT orch_uri FROM urls)
  UNION ALL
  SELECT 'byoc', job_id, capability, model, coalesce(ended_at, started_at), success, duration_ms, error
  FROM byoc_jobs
  WHERE orchestrator_address = $1
)
SELECT
  family,
  id,
  pipeline,
  model,
  to_char(ended, '%Y-%m-%dT%H:%M:%S%.3fZ') AS completed_at,
  success,
  duration_ms,
  error
FROM jobs
ORDER BY ended DESC, id
LIMIT $2
