-- name: telemetry_5m
-- version: 1
-- owner: naap maintainers
-- inputs: telemetry_1m
-- output: telemetry_5m
-- description: rollup of the one-minute windows of telemetry_1m into 5 minutes windows
--   (UTC), merged from their additive state: counts and sums add, mins and
--   maxes take the extreme, latency sketches merge bucket by bucket. Nothing
--   averages averages, so every figure equals its direct computation from the
--   events (quantiles within the sketch's 1% relative error).
SELECT
  date_bin(INTERVAL '5 minutes', window_start, TIMESTAMP '1970-01-01T00:00:00Z') AS window_start,
  date_bin(INTERVAL '5 minutes', window_start, TIMESTAMP '1970-01-01T00:00:00Z') + INTERVAL '5 minutes' AS window_end,
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
FROM telemetry_1m
GROUP BY 1, 2, 3, 4, 5
