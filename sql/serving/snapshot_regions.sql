-- name: snapshot_regions
-- inputs: telemetry_1m
-- description: the regions each orchestrator sent heartbeats from in the
--   last day of the lake's minutes.
SELECT DISTINCT orchestrator, upper(region) AS region
FROM telemetry_1m
WHERE heartbeats > 0
  AND window_start >= (SELECT max(window_start) FROM telemetry_1m) - INTERVAL '1 day'
