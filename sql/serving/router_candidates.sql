-- name: router_candidates
-- params: pipeline VARCHAR, model VARCHAR
-- inputs: capability_snapshots
-- description: the orchestrators advertising a pipeline and model, with
--   their service URI and the local (operating) address they sign with.
SELECT DISTINCT address, local_address, orch_uri
FROM capability_snapshots
WHERE pipeline = $1 AND model_id = $2 AND orch_uri IS NOT NULL
