-- name: streaming_demand
-- params: start_ms BIGINT, end_ms BIGINT
-- inputs: sessions
-- description: live-video demand per sealed hour starting in [start, end),
--   gateway, pipeline and model, the way NaaP's streaming demand counts
--   it: sessions by the hour they started in (requested, startup success,
--   effective failures, no orchestrator, minutes from start to last seen),
--   and output fps over the status samples of every hour a session
--   reported in. A session without a pipeline is live-video-to-video (the
--   sessions table holds live-video sessions only).
SELECT
  CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) AS window_ms,
  coalesce(gateway, '') AS gateway,
  coalesce(nullif(pipeline, ''), 'live-video-to-video') AS pipeline_id,
  coalesce(model, '') AS model_id,
  sum(CASE WHEN started_in_hour THEN 1 ELSE 0 END) AS started_sessions,
  sum(CASE WHEN started_in_hour AND requested_seen THEN 1 ELSE 0 END) AS requested_sessions,
  sum(CASE WHEN started_in_hour AND requested_seen AND startup_outcome = 'success' THEN 1 ELSE 0 END)
    AS startup_success_sessions,
  sum(CASE WHEN started_in_hour AND requested_seen
      AND (output_failed OR (startup_outcome = 'failed' AND excusal_reason = 'none')) THEN 1 ELSE 0 END)
    AS effective_failed_sessions,
  sum(CASE WHEN started_in_hour AND requested_seen AND selection_outcome = 'no_orch' THEN 1 ELSE 0 END)
    AS no_orch_sessions,
  coalesce(sum(CASE WHEN started_in_hour AND last_seen_at > started_at
      THEN CAST(CAST(last_seen_at AS TIMESTAMP(3)) AS BIGINT) - CAST(CAST(started_at AS TIMESTAMP(3)) AS BIGINT)
      ELSE 0 END) / 60000.0, 0.0) AS total_minutes,
  coalesce(sum(hour_output_fps_sum), 0.0) AS output_fps_sum,
  coalesce(sum(hour_status_samples), 0) AS status_samples
FROM sessions
WHERE CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) >= $1
  AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) < $2
GROUP BY 1, 2, 3, 4
ORDER BY window_ms DESC, gateway, pipeline_id, model_id
