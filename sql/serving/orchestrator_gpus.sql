-- name: orchestrator_gpus
-- params: orchestrator VARCHAR
-- inputs: gpu_sample
-- description: one orchestrator's GPUs, per node, as NVML reports them.
SELECT
  node_id,
  hw_id,
  max(hw_model) AS hw_model,
  max(hw_gpu_memory_limit_bytes) AS memory_bytes
FROM gpu_sample
WHERE orchestrator = $1
GROUP BY node_id, hw_id
ORDER BY node_id, hw_id
