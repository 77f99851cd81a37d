-- name: chart_orchestrator_gpu
-- params: orchestrator VARCHAR, from_ms BIGINT, to_ms BIGINT
-- inputs: gpu_sample
-- description: one orchestrator's GPUs per hour in [from, to), each
--   device (node, model, the end of its NVML UUID) its own series: mean
--   utilisation and memory utilisation as shares.
SELECT
  CAST(CAST(date_trunc('hour', event_time) AS TIMESTAMP(3)) AS BIGINT) AS t,
  coalesce(hw_model, 'GPU') || ' …' || right(hw_id, 6) || ' (' || node_id || ')' AS series,
  avg(hw_gpu_utilization) AS utilization,
  avg(hw_gpu_memory_utilization) AS memory_utilization
FROM gpu_sample
WHERE orchestrator = $1
  AND CAST(CAST(event_time AS TIMESTAMP(3)) AS BIGINT) >= $2
  AND CAST(CAST(event_time AS TIMESTAMP(3)) AS BIGINT) < $3
GROUP BY 1, 2
ORDER BY 2, 1
