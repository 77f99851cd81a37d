-- name: chart_live
-- params: from_ms BIGINT, to_ms BIGINT
-- inputs: sessions
-- description: the dashboard's live-video series: per sealed hour starting
--   in [from, to) and per pipeline and model, the sessions requested in
--   it (by the hour they started in, as NaaP's demand counts them), the
--   share of them that started, and their minutes from start to last seen.
SELECT
  CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) AS t,
  coalesce(nullif(pipeline, ''), 'live-video-to-video') || ' · ' || coalesce(nullif(model, ''), '(no model)') AS series,
  CAST(sum(CASE WHEN started_in_hour AND requested_seen THEN 1 ELSE 0 END) AS DOUBLE) AS sessions,
  CAST(sum(CASE WHEN started_in_hour AND requested_seen AND startup_outcome = 'success' THEN 1 ELSE 0 END) AS DOUBLE)
    / nullif(sum(CASE WHEN started_in_hour AND requested_seen THEN 1 ELSE 0 END), 0) AS startup_success,
  coalesce(sum(CASE WHEN started_in_hour AND last_seen_at > started_at
      THEN CAST(CAST(last_seen_at AS TIMESTAMP(3)) AS BIGINT) - CAST(CAST(started_at AS TIMESTAMP(3)) AS BIGINT)
      ELSE 0 END) / 60000.0, 0.0) AS usage_minutes
FROM sessions
WHERE CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) >= $1
  AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) < $2
GROUP BY 1, 2
ORDER BY 2, 1
