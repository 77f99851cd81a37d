-- name: router_scores
-- params: pipeline VARCHAR, model VARCHAR, sla_version INT
-- inputs: sla_hourly
-- description: the served SLA version's scores of a pipeline and model in
--   that version's newest sealed hour.
WITH served AS (
  SELECT * FROM sla_hourly WHERE rule = 'sla' AND rule_version = $3
)
SELECT orchestrator, sla_score, CAST(window_start AS VARCHAR) AS hour
FROM served
WHERE pipeline = $1 AND model = $2
  AND sla_score IS NOT NULL
  AND window_start = (SELECT max(window_start) FROM served)
