-- name: advertised_models
-- inputs: capability_snapshots
-- description: every (pipeline, model) some orchestrator advertises.
SELECT DISTINCT pipeline, model_id
FROM capability_snapshots
WHERE pipeline IS NOT NULL AND model_id IS NOT NULL
