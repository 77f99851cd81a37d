-- name: explorer_probe_regions
-- inputs: telemetry_1m
-- description: every observer region that probes came from, upper-cased:
--   the labels /api/aggregated_stats reports probe figures under.
SELECT DISTINCT upper(region) AS region
FROM telemetry_1m
WHERE probes > 0 AND region IS NOT NULL AND region <> ''
ORDER BY 1
