-- name: streaming_offers
-- params: start_ms BIGINT, end_ms BIGINT
-- inputs: capability_snapshots
-- description: what each orchestrator advertised in the capability
--   snapshots of [start, end): one row per (orchestrator, pipeline, model,
--   GPU), blanks for what the snapshot left out, with the GPU's name and
--   memory, when the row was last seen (ms), and the orchestrator's
--   service URI in its newest snapshot. The NaaP dashboard's GPU
--   capacity, pipeline catalog, orchestrator identities and the streaming
--   models and orchestrators are read from these rows.
WITH offers AS (
  SELECT lower(trim(address)) AS address, coalesce(orch_uri, '') AS orch_uri,
    coalesce(pipeline, '') AS pipeline, coalesce(model_id, '') AS model_id, coalesce(gpu_id, '') AS gpu_id,
    coalesce(gpu_name, '') AS gpu_name, gpu_memory_total,
    CAST(CAST(event_time AS TIMESTAMP(3)) AS BIGINT) AS seen_ms
  FROM capability_snapshots
  WHERE coalesce(trim(address), '') <> ''
    AND CAST(CAST(event_time AS TIMESTAMP(3)) AS BIGINT) >= $1
    AND CAST(CAST(event_time AS TIMESTAMP(3)) AS BIGINT) < $2
),
uris AS (
  SELECT address, orch_uri FROM (
    SELECT address, orch_uri,
      row_number() OVER (PARTITION BY address ORDER BY seen_ms DESC, orch_uri DESC) AS newest_first
    FROM offers WHERE orch_uri <> ''
  ) WHERE newest_first = 1
)
SELECT o.address, coalesce(u.orch_uri, '') AS uri, o.pipeline, o.model_id, o.gpu_id,
  max(o.gpu_name) AS gpu_name, max(o.gpu_memory_total) AS gpu_memory_bytes, max(o.seen_ms) AS last_seen_ms
FROM offers o
LEFT JOIN uris u ON u.address = o.address
GROUP BY o.address, u.orch_uri, o.pipeline, o.model_id, o.gpu_id
ORDER BY o.address, o.pipeline, o.model_id, o.gpu_id
