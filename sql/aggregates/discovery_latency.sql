-- name: discovery_latency
-- version: 1
-- owner: naap maintainers
-- inputs: discovery_results, seal_window
-- output: discovery_latency
-- description: gateway -> orchestrator discovery latency per hour, as each
--   gateway measured it (discovery_results latency_ms). The address is the
--   one discovery reports (often the operating one). Additive: samples,
--   sum, min, max and a DDSketch for percentiles.
SELECT
  w.window_start,
  w.window_end,
  d.gateway,
  d.orchestrator_address,
  d.orchestrator_url,
  count(*) AS samples,
  sum(d.latency_ms) AS latency_sum_ms,
  min(d.latency_ms) AS latency_min_ms,
  max(d.latency_ms) AS latency_max_ms,
  ddsketch_agg(d.latency_ms) AS latency_sketch
FROM discovery_results d
CROSS JOIN seal_window w
WHERE d.event_time >= w.window_start AND d.event_time < w.window_end
GROUP BY w.window_start, w.window_end, d.gateway, d.orchestrator_address, d.orchestrator_url
