-- name: leaderboard_latency
-- params: within_ms BIGINT
-- inputs: discovery_latency
-- description: per orchestrator service URL, the lowest and the mean
--   discovery round trip gateways measured in the hours that start less
--   than `within_ms` before the newest one, and how many round trips.
WITH recent AS (
  SELECT * FROM discovery_latency
  WHERE CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT)
    > (SELECT CAST(CAST(max(window_start) AS TIMESTAMP(3)) AS BIGINT) FROM discovery_latency) - $1
)
SELECT
  orchestrator_url,
  min(latency_min_ms) AS best_lat_ms,
  sum(latency_sum_ms) / sum(samples) AS avg_lat_ms,
  sum(samples) AS samples
FROM recent
WHERE orchestrator_url IS NOT NULL AND orchestrator_url <> ''
GROUP BY orchestrator_url
