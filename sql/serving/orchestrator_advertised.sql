-- name: orchestrator_advertised
-- params: orchestrator VARCHAR
-- inputs: capability_snapshots
-- description: what one orchestrator advertises: pipelines, models, GPUs
--   and its service URI.
SELECT DISTINCT pipeline, model_id AS model, gpu_id, gpu_name, orch_uri
FROM capability_snapshots
WHERE address = $1
ORDER BY pipeline, model, gpu_id
