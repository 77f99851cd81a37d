-- name: chart_orchestrator_probes
-- params: orchestrator VARCHAR, from_ms BIGINT, to_ms BIGINT
-- inputs: telemetry_1m
-- description: probes of one orchestrator per hour in [from, to) and
--   observer region: median latency (merged DDSketches) and the share of
--   probes answered.
SELECT
  CAST(CAST(date_trunc('hour', window_start) AS TIMESTAMP(3)) AS BIGINT) AS t,
  upper(region) AS series,
  ddsketch_quantile(ddsketch_merge(latency_sketch), 0.5) AS latency_p50_ms,
  CAST(sum(probes_ok) AS DOUBLE) / sum(probes) AS probes_answered
FROM telemetry_1m
WHERE orchestrator = $1
  AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) >= $2
  AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) < $3
GROUP BY 1, 2
HAVING sum(probes) > 0
ORDER BY 2, 1
