-- name: orchestrator_node_regions
-- params: orchestrator VARCHAR
-- inputs: telemetry_1m
-- description: one orchestrator's nodes per declared region.
SELECT region, count(DISTINCT node_id) AS nodes
FROM telemetry_1m
WHERE orchestrator = $1
GROUP BY region
ORDER BY region
