-- name: streaming_orchestrators
-- params: start_ms BIGINT, end_ms BIGINT, sla_version INT
-- inputs: sla_inputs_hourly, sla_hourly
-- description: each attributed orchestrator's live-video service over the
--   sealed hours starting in [start, end): requested and startup-success
--   sessions, effective success and no-swap rates over its requested
--   sessions (null without any), and the served SLA version's score in
--   its newest scored hour of the window (requested-session weighted over
--   its pipelines and models there, 0..100) with that hour.
WITH service AS (
  SELECT orchestrator,
    sum(requested_sessions) AS known_sessions,
    sum(startup_success_sessions) AS success_sessions,
    sum(effective_failed_sessions) AS effective_failed_sessions,
    sum(swapped_sessions) AS swapped_sessions
  FROM sla_inputs_hourly
  WHERE coalesce(orchestrator, '') <> ''
    AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) >= $1
    AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) < $2
  GROUP BY orchestrator
),
scored AS (
  SELECT orchestrator, CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) AS window_ms,
    sla_score, requested_sessions
  FROM sla_hourly
  WHERE rule = 'sla' AND rule_version = $3 AND sla_score IS NOT NULL
    AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) >= $1
    AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) < $2
),
newest AS (
  SELECT orchestrator, max(window_ms) AS window_ms FROM scored GROUP BY orchestrator
),
latest AS (
  SELECT s.orchestrator, n.window_ms AS sla_window_ms,
    CASE WHEN sum(s.requested_sessions) > 0
      THEN sum(s.sla_score * s.requested_sessions) / CAST(sum(s.requested_sessions) AS DOUBLE)
      ELSE avg(s.sla_score) END AS sla_score
  FROM scored s JOIN newest n ON n.orchestrator = s.orchestrator AND n.window_ms = s.window_ms
  GROUP BY s.orchestrator, n.window_ms
)
SELECT
  coalesce(v.orchestrator, l.orchestrator) AS address,
  coalesce(v.known_sessions, 0) AS known_sessions,
  coalesce(v.success_sessions, 0) AS success_sessions,
  CASE WHEN v.known_sessions > 0
    THEN 1.0 - CAST(v.effective_failed_sessions AS DOUBLE) / CAST(v.known_sessions AS DOUBLE) END
    AS effective_success_rate,
  CASE WHEN v.known_sessions > 0
    THEN 1.0 - CAST(v.swapped_sessions AS DOUBLE) / CAST(v.known_sessions AS DOUBLE) END AS no_swap_ratio,
  l.sla_score,
  l.sla_window_ms
FROM service v
FULL OUTER JOIN latest l ON l.orchestrator = v.orchestrator
ORDER BY address
