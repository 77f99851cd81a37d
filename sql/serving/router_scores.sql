-- name: router_scores
-- params: pipeline VARCHAR, model VARCHAR, sla_version INT, within_ms BIGINT
-- inputs: sla_hourly
-- description: the served SLA version's score of each orchestrator for a
--   pipeline and model in its newest scored hour among those that start
--   less than `within_ms` before the version's newest sealed hour (an
--   orchestrator quiet in the newest hour keeps its previous one), with
--   that hour.
WITH served AS (
  SELECT * FROM sla_hourly WHERE rule = 'sla' AND rule_version = $3
),
recent AS (
  SELECT orchestrator, sla_score, window_start,
    row_number() OVER (PARTITION BY orchestrator ORDER BY window_start DESC) AS newest_first
  FROM served
  WHERE pipeline = $1 AND model = $2
    AND sla_score IS NOT NULL
    AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT)
      > (SELECT CAST(CAST(max(window_start) AS TIMESTAMP(3)) AS BIGINT) FROM served) - $4
)
SELECT orchestrator, sla_score, CAST(window_start AS VARCHAR) AS hour
FROM recent
WHERE newest_first = 1
