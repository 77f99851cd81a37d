-- name: perf_stats_regional_inputs
-- params: window_ms BIGINT, region VARCHAR, default_region VARCHAR
-- inputs: regional_inputs_all (a rule's input rows), gateway_regions
--   (gateway, region: the feed's --region-map)
-- description: a rule's input as one region sees it: the window's rows of
--   the gateways mapped to the region (unmapped gateways count for the
--   default region), beside every earlier row (the network-wide benchmark
--   history).
SELECT i.*
FROM regional_inputs_all AS i
LEFT JOIN gateway_regions AS g ON i.gateway = g.gateway
WHERE CAST(CAST(i.window_start AS TIMESTAMP(3)) AS BIGINT) < $1
  OR (CAST(CAST(i.window_start AS TIMESTAMP(3)) AS BIGINT) = $1 AND coalesce(g.region, $3) = $2)
