-- name: gpu_models_advertised
-- inputs: capability_snapshots
-- description: a GPU model per orchestrator, as its capabilities advertise it.
SELECT address AS orchestrator, max(gpu_name) AS gpu FROM capability_snapshots GROUP BY address
