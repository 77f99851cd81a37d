-- name: streaming_active
-- params: since_ms BIGINT, end_ms BIGINT, rows BIGINT
-- inputs: sessions, gateway_events
-- description: live-video sessions not closed and last seen in
--   [since, end), most recently seen first, one row each (its newest
--   sealed hour): the job feed's streams and what counts as active. With
--   the newest ai_stream_status event of its stream up to end (state,
--   output fps and the raw event, whose input_status carries the input
--   fps), when there is one.
WITH open AS (
  SELECT session_id, stream_id, gateway, orchestrator, orchestrator_url,
    coalesce(nullif(pipeline, ''), 'live-video-to-video') AS pipeline, coalesce(model, '') AS model,
    CAST(CAST(coalesce(started_at, last_seen_at) AS TIMESTAMP(3)) AS BIGINT) AS first_seen_ms,
    CAST(CAST(last_seen_at AS TIMESTAMP(3)) AS BIGINT) AS last_seen_ms,
    row_number() OVER (PARTITION BY session_id ORDER BY window_start DESC) AS newest_first
  FROM sessions
  WHERE NOT completed
    AND CAST(CAST(last_seen_at AS TIMESTAMP(3)) AS BIGINT) >= $1
    AND CAST(CAST(last_seen_at AS TIMESTAMP(3)) AS BIGINT) < $2
),
feed AS (
  SELECT * FROM open WHERE newest_first = 1 ORDER BY last_seen_ms DESC, session_id LIMIT $3
),
status AS (
  SELECT stream_id, event_id, state, output_fps, data,
    row_number() OVER (PARTITION BY stream_id ORDER BY event_time DESC, event_id DESC) AS newest_first
  FROM gateway_events
  WHERE family = 'ai_stream_status' AND stream_id IN (SELECT stream_id FROM feed)
    AND CAST(CAST(event_time AS TIMESTAMP(3)) AS BIGINT) < $2
)
SELECT f.session_id, coalesce(s.event_id, f.session_id) AS id, f.pipeline, f.model, coalesce(f.gateway, '') AS gateway,
  coalesce(f.orchestrator, '') AS orchestrator_address, coalesce(f.orchestrator_url, '') AS orchestrator_url,
  coalesce(s.state, '') AS state, coalesce(s.output_fps, 0.0) AS output_fps, s.data AS status_event,
  f.first_seen_ms, f.last_seen_ms
FROM feed f
LEFT JOIN status s ON s.stream_id = f.stream_id AND s.newest_first = 1
ORDER BY f.last_seen_ms DESC, f.session_id
