-- name: explorer_probe_stats
-- params: since_ms BIGINT, until_ms BIGINT
-- inputs: telemetry_1m
-- description: probes sent and answered, and their median latency, per
--   orchestrator and observer region over the minutes in [since, until).
SELECT
  orchestrator,
  upper(region) AS region,
  CAST(sum(probes) AS DOUBLE) AS probes,
  CAST(sum(probes_ok) AS DOUBLE) AS probes_ok,
  ddsketch_quantile(ddsketch_merge(latency_sketch), 0.5) AS latency_p50_ms
FROM telemetry_1m
WHERE CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) >= $1
  AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) < $2
GROUP BY orchestrator, upper(region)
HAVING sum(probes) > 0
ORDER BY 1, 2
