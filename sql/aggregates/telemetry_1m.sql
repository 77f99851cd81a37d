-- name: telemetry_1m
-- version: 1
-- owner: naap pipeline
-- inputs: node_telemetry (accepted node_telemetry v1 events)
-- output: telemetry_1m
-- description: additive state per orchestrator, node, region and UTC minute.
--   Every column is a count, a sum, a min/max or a mergeable DDSketch, so
--   partial results of micro-batches merge exactly (telemetry_1m_merge.sql)
--   and minutes roll up into hours without averaging averages.
SELECT
  date_bin(INTERVAL '1 minute', event_time, TIMESTAMP '1970-01-01T00:00:00Z') AS window_start,
  date_bin(INTERVAL '1 minute', event_time, TIMESTAMP '1970-01-01T00:00:00Z') + INTERVAL '1 minute' AS window_end,
  orchestrator,
  node_id,
  region,
  count(*) AS events,
  count(*) FILTER (WHERE kind = 'heartbeat') AS heartbeats,
  min(heartbeat_interval_ms) AS heartbeat_interval_ms,
  count(*) FILTER (WHERE kind = 'probe') AS probes,
  count(*) FILTER (WHERE kind = 'probe' AND probe_ok) AS probes_ok,
  count(latency_ms) AS latency_count,
  sum(latency_ms) AS latency_sum_ms,
  min(latency_ms) AS latency_min_ms,
  max(latency_ms) AS latency_max_ms,
  ddsketch_agg(latency_ms) AS latency_sketch,
  count(*) FILTER (WHERE kind = 'gpu') AS gpu_samples,
  sum(gpu_utilization) AS gpu_utilization_sum,
  min(event_time) AS first_event_time,
  max(event_time) AS last_event_time
FROM node_telemetry
GROUP BY 1, 2, 3, 4, 5
