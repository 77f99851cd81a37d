-- name: leaderboard_latency
-- params: within_ms BIGINT
-- inputs: discovery_latency
-- description: per gateway and orchestrator service URL, the lowest
--   discovery round trip, their sum and how many, in the hours that start
--   less than `within_ms` before the newest one (the server adds the
--   gateways up, all or those of one region).
WITH recent AS (
  SELECT * FROM discovery_latency
  WHERE CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT)
    > (SELECT CAST(CAST(max(window_start) AS TIMESTAMP(3)) AS BIGINT) FROM discovery_latency) - $1
)
SELECT
  coalesce(gateway, '') AS gateway,
  orchestrator_url,
  min(latency_min_ms) AS best_lat_ms,
  sum(latency_sum_ms) AS latency_sum_ms,
  sum(samples) AS samples
FROM recent
WHERE orchestrator_url IS NOT NULL AND orchestrator_url <> ''
GROUP BY 1, orchestrator_url
