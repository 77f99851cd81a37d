-- name: requests_orchestrators
-- params: start_ms BIGINT, end_ms BIGINT
-- inputs: capability_snapshots, byoc_workers
-- description: every orchestrator with an offer in [start, end): its
--   service URI, its "pipeline:model" pairs (batch pipelines from its
--   capability snapshots, BYOC capabilities from its runners), its GPUs
--   and when it was last seen (its latest snapshot or runner change).
WITH offers AS (
  SELECT address, orch_uri AS uri,
    CASE WHEN pipeline IS NOT NULL AND model_id IS NOT NULL THEN pipeline || ':' || model_id END AS capability,
    address || '/' || gpu_id AS gpu,
    event_time AS seen_at
  FROM capability_snapshots
  WHERE CAST(CAST(event_time AS TIMESTAMP(3)) AS BIGINT) >= $1
    AND CAST(CAST(event_time AS TIMESTAMP(3)) AS BIGINT) < $2
  UNION ALL
  SELECT orchestrator_address, orchestrator_url, capability || ':' || coalesce(model, ''), CAST(NULL AS VARCHAR),
    last_seen_at
  FROM byoc_workers
  WHERE orchestrator_address IS NOT NULL
    AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) >= $1
    AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) < $2
)
SELECT
  address,
  max(uri) AS uri,
  coalesce(array_sort(array_agg(DISTINCT capability) FILTER (WHERE capability IS NOT NULL)), make_array()) AS capabilities,
  count(DISTINCT gpu) AS gpu_count,
  to_char(max(seen_at), '%Y-%m-%dT%H:%M:%S%.3fZ') AS last_seen
FROM offers
GROUP BY address
ORDER BY address
