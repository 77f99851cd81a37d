-- name: gpu_inventory
-- version: 1
-- owner: naap maintainers
-- inputs: capability_snapshots, seal_window
-- output: gpu_inventory
-- description: GPUs that orchestrators advertise in network_capabilities,
--   per hour, on-chain orchestrator, operating address, pipeline, model and
--   GPU (the NVML UUID). Hardware-less entries keep model identity with a
--   null GPU. Count physical devices by (orchestrator, gpu_id) over a
--   window, not by ids ever seen. Additive: snapshot counts and memory sums
--   (average = sum / snapshots), first/last seen as min/max.
SELECT
  w.window_start,
  w.window_end,
  c.address AS orchestrator,
  c.local_address,
  c.orch_uri,
  c.pipeline,
  c.model_id AS model,
  c.gpu_id,
  max(c.gpu_name) AS gpu_name,
  count(*) AS snapshots,
  max(c.gpu_memory_total) AS gpu_memory_total_max,
  sum(c.gpu_memory_free) AS gpu_memory_free_sum,
  count(c.gpu_memory_free) AS gpu_memory_free_count,
  min(c.event_time) AS first_seen_at,
  max(c.event_time) AS last_seen_at
FROM capability_snapshots c
CROSS JOIN seal_window w
WHERE c.event_time >= w.window_start AND c.event_time < w.window_end
GROUP BY w.window_start, w.window_end, c.address, c.local_address, c.orch_uri, c.pipeline, c.model_id, c.gpu_id
