-- name: orchestrator_regions
-- inputs: telemetry_1m
-- description: the regions each orchestrator's nodes declared.
SELECT DISTINCT orchestrator, region FROM telemetry_1m ORDER BY region
