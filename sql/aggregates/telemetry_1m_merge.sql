-- name: telemetry_1m_merge
-- version: 1
-- owner: naap pipeline
-- inputs: telemetry_1m_partials (rows shaped like telemetry_1m, several per key)
-- output: telemetry_1m
-- description: merges partial telemetry_1m rows into one row per key. The
--   merge of every column is associative and commutative, so the result does
--   not depend on how the input was split into micro-batches.
SELECT
  window_start,
  window_end,
  orchestrator,
  node_id,
  region,
  sum(events) AS events,
  sum(heartbeats) AS heartbeats,
  min(heartbeat_interval_ms) AS heartbeat_interval_ms,
  sum(probes) AS probes,
  sum(probes_ok) AS probes_ok,
  sum(latency_count) AS latency_count,
  sum(latency_sum_ms) AS latency_sum_ms,
  min(latency_min_ms) AS latency_min_ms,
  max(latency_max_ms) AS latency_max_ms,
  ddsketch_merge(latency_sketch) AS latency_sketch,
  sum(gpu_samples) AS gpu_samples,
  sum(gpu_utilization_sum) AS gpu_utilization_sum,
  min(first_event_time) AS first_event_time,
  max(last_event_time) AS last_event_time
FROM telemetry_1m_partials
GROUP BY 1, 2, 3, 4, 5
