-- name: chart_gpus
-- params: from_ms BIGINT, to_ms BIGINT
-- inputs: gpu_inventory
-- description: the dashboard's GPU capacity: per sealed hour starting in
--   [from, to) and GPU model, the physical GPUs orchestrators advertised
--   (distinct orchestrator and NVML UUID).
SELECT
  CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) AS t,
  gpu_name AS series,
  CAST(count(DISTINCT orchestrator || '/' || gpu_id) AS DOUBLE) AS gpus
FROM gpu_inventory
WHERE gpu_id IS NOT NULL AND gpu_name IS NOT NULL
  AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) >= $1
  AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) < $2
GROUP BY 1, 2
ORDER BY 2, 1
