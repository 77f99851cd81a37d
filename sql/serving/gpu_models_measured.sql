-- name: gpu_models_measured
-- inputs: gpu_sample
-- description: a GPU model per orchestrator, as its nodes' NVML reports it.
SELECT orchestrator, max(hw_model) AS gpu FROM gpu_sample GROUP BY orchestrator
