-- name: router_discovery_latency
-- inputs: discovery_latency
-- description: each gateway's discovery round-trip sums per orchestrator.
SELECT
  gateway,
  orchestrator_address,
  orchestrator_url,
  sum(latency_sum_ms) AS latency_sum_ms,
  sum(samples) AS samples
FROM discovery_latency
GROUP BY gateway, orchestrator_address, orchestrator_url
