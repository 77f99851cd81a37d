-- name: orchestrator_advertised
-- params: orchestrator VARCHAR
-- inputs: capability_snapshots
-- description: what one orchestrator advertises: pipelines, models, GPUs
--   (with the memory they report) and its service URI.
SELECT pipeline, model_id AS model, gpu_id, gpu_name, orch_uri, max(gpu_memory_total) AS gpu_memory_bytes
FROM capability_snapshots
WHERE address = $1
GROUP BY pipeline, model_id, gpu_id, gpu_name, orch_uri
ORDER BY pipeline, model, gpu_id
