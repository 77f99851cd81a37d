-- name: router_byoc_candidates
-- params: capability VARCHAR, model VARCHAR
-- inputs: byoc_workers
-- description: the orchestrators with a BYOC runner of a capability and
--   model (an empty model: runners that name none) that is not gone in
--   the newest hour it is listed, with their service URI.
WITH newest AS (
  SELECT *,
    row_number() OVER (PARTITION BY orchestrator_address, capability, worker_url ORDER BY window_start DESC) AS n
  FROM byoc_workers
  WHERE capability = $1 AND coalesce(model, '') = $2 AND orchestrator_address IS NOT NULL
)
SELECT DISTINCT orchestrator_address AS address, orchestrator_url AS orch_uri
FROM newest
WHERE n = 1 AND state <> 'gone' AND orchestrator_url IS NOT NULL
