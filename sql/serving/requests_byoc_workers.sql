-- name: requests_byoc_workers
-- params: start_ms BIGINT, end_ms BIGINT
-- inputs: byoc_workers
-- description: the BYOC runner inventory per capability over the sealed
--   hours starting in [start, end): runners attached at some time in it
--   (each once, in its latest hour's state), their models, the mean price
--   per unit over runners, and how many are active, saturated or gone at
--   the end. NaaP counts every drained event instead (copies,
--   unregistrations and exhaustions as workers, an empty URL as one).
WITH runners AS (
  SELECT * FROM (
    SELECT *,
      row_number() OVER (PARTITION BY orchestrator_address, capability, worker_url ORDER BY window_start DESC) AS newest
    FROM byoc_workers
    WHERE CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) >= $1
      AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) < $2
  ) WHERE newest = 1
)
SELECT
  capability,
  count(*) AS worker_count,
  coalesce(array_agg(DISTINCT model) FILTER (WHERE model IS NOT NULL), make_array()) AS models,
  avg(CAST(price_per_unit AS DOUBLE)) AS avg_price_per_unit,
  count(*) FILTER (WHERE state = 'active') AS active_workers,
  count(*) FILTER (WHERE state = 'saturated') AS saturated_workers,
  count(*) FILTER (WHERE state = 'gone') AS gone_workers,
  count(DISTINCT orchestrator_address) AS orchestrators
FROM runners
GROUP BY capability
ORDER BY capability
