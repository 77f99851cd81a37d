-- name: snapshot_advertised
-- inputs: capability_snapshots
-- description: every (orchestrator, pipeline, model) advertised.
SELECT DISTINCT address AS orchestrator, pipeline, model_id AS model FROM capability_snapshots
