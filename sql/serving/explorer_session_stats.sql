-- name: explorer_session_stats
-- params: since_ms BIGINT, until_ms BIGINT, pipeline VARCHAR, model VARCHAR, sla_version INT
-- inputs: sla_hourly
-- description: the Explorer's gateway-session figures per orchestrator over
--   the sealed hours starting in [since, until), of the served SLA version,
--   weighted by requested sessions, in 0..1; pipeline and model filter when
--   given.
SELECT
  orchestrator,
  weighted_avg(sla_score, requested_sessions) / 100.0 AS score,
  weighted_avg(startup_success_rate, requested_sessions) AS success_rate,
  weighted_avg(latency_score, requested_sessions) AS round_trip_score
FROM sla_hourly
WHERE rule = 'sla' AND rule_version = $5
  AND sla_score IS NOT NULL
  AND requested_sessions > 0
  AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) >= $1
  AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) < $2
  AND ($3 IS NULL OR pipeline = $3)
  AND ($4 IS NULL OR model = $4)
GROUP BY orchestrator
ORDER BY orchestrator
