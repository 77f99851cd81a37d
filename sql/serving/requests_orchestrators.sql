-- name: requests_orchestrators
-- params: start_ms BIGINT, end_ms BIGINT
-- inputs: capability_snapshots, byoc_workers
-- description: every orchestrator with an offer in [start, end): its
--   service URI, its "pipeline:model" pairs (batch pipelines from its
--   capability snapshots, BYOC capabilities from its runners), its GPUs
--   and when it was last seen (its latest snapshot or runner change).
--   Distinct pairs are found by grouping before they are listed or
--   counted: per-group DISTINCT accumulators hold a set per orchestrator
--   that the query's memory pool does not see, and over 10^5
--   orchestrators took gigabytes.
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
),
seen AS (
  SELECT address, max(uri) AS uri, max(seen_at) AS seen_at FROM offers GROUP BY address
),
capabilities AS (
  SELECT address, array_sort(array_agg(capability)) AS capabilities
  FROM (SELECT address, capability FROM offers WHERE capability IS NOT NULL GROUP BY address, capability) pairs
  GROUP BY address
),
gpus AS (
  SELECT address, count(*) AS gpu_count
  FROM (SELECT address, gpu FROM offers WHERE gpu IS NOT NULL GROUP BY address, gpu) distinct_gpus
  GROUP BY address
)
SELECT
  seen.address,
  seen.uri,
  coalesce(capabilities.capabilities, make_array()) AS capabilities,
  coalesce(gpus.gpu_count, 0) AS gpu_count,
  to_char(seen.seen_at, '%Y-%m-%dT%H:%M:%S%.3fZ') AS last_seen
FROM seen
LEFT JOIN capabilities ON capabilities.address = seen.address
LEFT JOIN gpus ON gpus.address = seen.address
ORDER BY seen.address
