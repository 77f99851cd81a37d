-- name: discover_orchestrators
-- params: recent_ms BIGINT
-- inputs: capability_snapshots
-- description: NaaP's discovery rows: one per (orchestrator, pipeline)
--   advertised in a capability snapshot less than `recent_ms` before the
--   newest one, with the service URI of its newest offer, its
--   pipeline/model pairs of that pipeline, and when it was last seen (ms).
WITH offers AS (
  SELECT lower(address) AS address, orch_uri, pipeline, model_id,
    CAST(CAST(event_time AS TIMESTAMP(3)) AS BIGINT) AS seen_ms
  FROM capability_snapshots
  WHERE orch_uri IS NOT NULL AND orch_uri <> '' AND pipeline IS NOT NULL AND pipeline <> ''
),
recent AS (
  SELECT * FROM offers WHERE seen_ms > (SELECT max(seen_ms) FROM offers) - $1
),
seen AS (
  SELECT address, orch_uri, last_seen_ms FROM (
    SELECT address, orch_uri, max(seen_ms) OVER (PARTITION BY address) AS last_seen_ms,
      row_number() OVER (PARTITION BY address ORDER BY seen_ms DESC, orch_uri) AS newest_first
    FROM recent
  ) WHERE newest_first = 1
),
offered AS (
  SELECT address, pipeline,
    array_sort(array_agg(DISTINCT pipeline || '/' || model_id) FILTER (WHERE model_id IS NOT NULL AND model_id <> '')) AS capabilities
  FROM recent
  GROUP BY address, pipeline
)
SELECT s.orch_uri AS address, o.address AS orchestrator, o.pipeline, o.capabilities, s.last_seen_ms
FROM offered o
JOIN seen s ON s.address = o.address
