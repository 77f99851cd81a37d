-- name: leaderboards_sla
-- params: sla_version INT, within_ms BIGINT
-- inputs: sla_hourly
-- description: the dashboard's SLA leaderboards: per pipeline, model and
--   orchestrator, its newest scored hour of one SLA version among those
--   that start less than `within_ms` before the version's newest sealed
--   hour, with the score's components (shares 0..1, scores 0..1 but the
--   SLA's 0..100). One table per pipeline and model: rows never mix
--   cohorts.
WITH served AS (
  SELECT * FROM sla_hourly
  WHERE rule = 'sla' AND rule_version = $1 AND sla_score IS NOT NULL
),
recent AS (
  SELECT * FROM served
  WHERE CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT)
    > (SELECT CAST(CAST(max(window_start) AS TIMESTAMP(3)) AS BIGINT) FROM served) - $2
),
ranked AS (
  SELECT *, row_number() OVER (PARTITION BY pipeline, model, orchestrator ORDER BY window_start DESC) AS newest
  FROM recent
)
SELECT
  pipeline,
  model,
  orchestrator,
  CAST(window_start AS VARCHAR) AS window_start,
  sla_score,
  reliability_score,
  quality_score,
  startup_success_rate,
  no_swap_rate,
  output_viability_rate,
  latency_score,
  avg_output_fps,
  avg_e2e_latency_ms,
  CAST(requested_sessions AS DOUBLE) AS requested_sessions
FROM ranked
WHERE newest = 1
ORDER BY pipeline, model, sla_score DESC, orchestrator
