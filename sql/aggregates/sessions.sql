-- name: sessions
-- version: 1
-- owner: naap maintainers
-- inputs: gateway_events, capability_snapshots, seal_window
-- output: sessions
-- description: one row per (session, UTC hour) for every live-video session
--   that has status samples in the hour or started in it (the NaaP SLA's
--   status-hour semantics). seal_window holds one row: the hour
--   [window_start, window_end), the horizon up to which later events still
--   inform the session's lifecycle (horizon_end), and how far back its
--   earlier events are read (lookback_start).
--   * session_id: stream_id|request_id, with _missing_stream /
--     _missing_request placeholders, or the event id when both are missing.
--   * lifecycle (fixed precedence): not a known stream (no
--     gateway_receive_stream_request) -> unknown; playable
--     (gateway_receive_few_processed_segments) -> success; no-orchestrator
--     trace -> failed, excused no_orch; errors that are all excusable
--     (case-insensitive substrings below) -> failed, excused; else failed.
--   * swaps: an orchestrator_swap trace (confirmed), else the session's
--     orchestrator changing between two non-empty identities (inferred).
--   * loading_only: status samples exist and all are LOADING;
--     zero_output_fps: status samples exist and none has fps > 0.
--   * health signals of a known stream: a status sample, a first processed
--     segment, a playable signal (expected 3); 0 expected otherwise.
--   * latency edges (signal times, ms): startup = stream request -> first
--     processed segment; e2e = first ingest segment sent -> runner's first
--     processed segment; prompt_to_playable = status start_time -> few
--     processed segments. Null when an edge is missing or inverted.
--   * identity: the orchestrator the session used last in the hour is
--     resolved through capability_snapshots (address or local_address, else
--     orch_uri) to one on-chain address; several candidates -> ambiguous,
--     none -> unresolved (orchestrator stays null, never guessed).
--   * pipeline/model: the status `pipeline` field is a model hint; the
--     pipeline is the one the orchestrator advertises for that model, else
--     the trace pipeline_id; blank when it would repeat the model.
--   * tail_artifact: the session started before the hour, ended in it, and
--     both this and the previous hour have no fps > 0, no running state and
--     fewer than 3 status samples (NaaP's rollover tail filter).
WITH w AS (
  SELECT window_start, window_end, horizon_end, lookback_start FROM seal_window
),
aliases AS (
  SELECT alias, count(DISTINCT address) AS candidates, min(address) AS address
  FROM (
    SELECT c.address AS alias, c.address
    FROM capability_snapshots c CROSS JOIN w
    WHERE c.event_time >= w.lookback_start AND c.event_time < w.horizon_end
    UNION ALL
    SELECT c.local_address AS alias, c.address
    FROM capability_snapshots c CROSS JOIN w
    WHERE c.local_address IS NOT NULL AND c.event_time >= w.lookback_start AND c.event_time < w.horizon_end
    UNION ALL
    SELECT c.orch_uri AS alias, c.address
    FROM capability_snapshots c CROSS JOIN w
    WHERE c.orch_uri IS NOT NULL AND c.event_time >= w.lookback_start AND c.event_time < w.horizon_end
  ) a
  GROUP BY alias
),
models AS (
  SELECT c.address, lower(c.model_id) AS model_key, min(c.pipeline) AS pipeline
  FROM capability_snapshots c CROSS JOIN w
  WHERE c.model_id IS NOT NULL AND c.pipeline IS NOT NULL
    AND c.event_time >= w.lookback_start AND c.event_time < w.horizon_end
  GROUP BY c.address, lower(c.model_id)
),
ev AS (
  SELECT
    e.event_id,
    e.event_time,
    e.gateway,
    e.family,
    e.subtype,
    e.stream_id,
    e.request_id,
    e.pipeline_id,
    e.pipeline,
    e.state,
    e.output_fps,
    e.orchestrator_address,
    e.orchestrator_url,
    CASE
      WHEN coalesce(e.stream_id, '') <> '' AND coalesce(e.request_id, '') <> '' THEN e.stream_id || '|' || e.request_id
      WHEN coalesce(e.stream_id, '') <> '' THEN e.stream_id || '|_missing_request'
      WHEN coalesce(e.request_id, '') <> '' THEN '_missing_stream|' || e.request_id
      ELSE '_missing_stream|_missing_request|' || e.event_id
    END AS session_id,
    CAST(e.signal_time AS BIGINT) AS signal_ms,
    CAST(e.start_time AS BIGINT) AS start_ms,
    e.event_time >= w.window_start AND e.event_time < w.window_end AS in_hour,
    e.event_time >= w.window_start - INTERVAL '1 hour' AND e.event_time < w.window_start AS in_previous_hour,
    e.event_time < w.window_end AS until_hour_end,
    CASE
      WHEN e.family = 'ai_stream_events' AND lower(coalesce(e.subtype, '')) = 'error' THEN coalesce(e.message, '')
      WHEN e.family = 'ai_stream_status' THEN e.last_error
    END AS error_text,
    coalesce(e.state IN ('ONLINE', 'DEGRADED_INPUT', 'DEGRADED_INFERENCE'), false) AS running,
    CASE
      WHEN a1.candidates = 1 THEN a1.address
      WHEN a1.candidates IS NULL AND a2.candidates = 1 THEN a2.address
      ELSE e.orchestrator_address
    END AS orchestrator_key
  FROM gateway_events e
  CROSS JOIN w
  LEFT JOIN aliases a1 ON a1.alias = e.orchestrator_address
  LEFT JOIN aliases a2 ON a2.alias = e.orchestrator_url
  WHERE e.family IN ('stream_trace', 'ai_stream_status', 'ai_stream_events')
    AND e.event_time >= w.lookback_start AND e.event_time < w.horizon_end
),
flagged AS (
  SELECT
    *,
    lower(error_text) LIKE '%no orchestrators available%'
      OR lower(error_text) LIKE '%mediamtx ingest disconnected%'
      OR lower(error_text) LIKE '%whip disconnected%'
      OR lower(error_text) LIKE '%missing video%'
      OR lower(error_text) LIKE '%ice connection state failed%'
      OR lower(error_text) LIKE '%user disconnected%' AS error_excusable
  FROM ev
),
per_session AS (
  SELECT
    session_id,
    min(stream_id) AS stream_id,
    min(request_id) AS request_id,
    min(gateway) AS gateway,
    min(event_time) AS first_seen_at,
    max(event_time) AS last_seen_at,
    min(CASE WHEN subtype = 'gateway_receive_stream_request' THEN event_time END) AS requested_at,
    coalesce(bool_or(subtype = 'gateway_receive_stream_request'), false) AS requested_seen,
    coalesce(bool_or(subtype = 'gateway_receive_few_processed_segments'), false) AS playable_seen,
    coalesce(bool_or(subtype = 'gateway_receive_first_processed_segment'), false) AS first_processed_seen,
    coalesce(bool_or(subtype = 'gateway_no_orchestrators_available'), false) AS no_orch_seen,
    coalesce(bool_or(subtype = 'orchestrator_swap'), false) AS confirmed_swap,
    count(DISTINCT orchestrator_key) AS orchestrators_seen,
    count(DISTINCT error_text) AS error_count,
    count(DISTINCT CASE WHEN error_excusable THEN error_text END) AS excusable_error_count,
    sum(CASE WHEN family = 'ai_stream_status' THEN 1 ELSE 0 END) AS status_samples,
    sum(CASE WHEN family = 'ai_stream_status' AND state = 'LOADING' THEN 1 ELSE 0 END) AS loading_samples,
    sum(CASE WHEN family = 'ai_stream_status' AND output_fps > 0 THEN 1 ELSE 0 END) AS fps_positive_samples,
    min(CASE WHEN subtype = 'gateway_receive_stream_request' THEN signal_ms END) AS t_request,
    min(CASE WHEN subtype = 'gateway_receive_first_processed_segment' THEN signal_ms END) AS t_first_processed,
    min(CASE WHEN subtype = 'gateway_send_first_ingest_segment' THEN signal_ms END) AS t_first_ingest,
    min(CASE WHEN subtype = 'runner_send_first_processed_segment' THEN signal_ms END) AS t_runner_first_processed,
    min(CASE WHEN subtype = 'gateway_receive_few_processed_segments' THEN signal_ms END) AS t_playable,
    min(start_ms) AS t_prompt,
    sum(CASE WHEN in_hour AND family = 'ai_stream_status' THEN 1 ELSE 0 END) AS hour_status_samples,
    sum(CASE WHEN in_hour AND family = 'ai_stream_status' AND output_fps > 0 THEN 1 ELSE 0 END) AS hour_output_fps_samples,
    sum(CASE WHEN in_hour AND family = 'ai_stream_status' AND output_fps > 0 THEN output_fps ELSE 0.0 END) AS hour_output_fps_sum,
    sum(CASE WHEN in_hour AND family = 'ai_stream_status' AND running THEN 1 ELSE 0 END) AS hour_running_samples,
    sum(CASE WHEN in_previous_hour AND family = 'ai_stream_status' THEN 1 ELSE 0 END) AS previous_status_samples,
    sum(CASE WHEN in_previous_hour AND family = 'ai_stream_status' AND output_fps > 0 THEN 1 ELSE 0 END) AS previous_fps_samples,
    sum(CASE WHEN in_previous_hour AND family = 'ai_stream_status' AND running THEN 1 ELSE 0 END) AS previous_running_samples,
    last_value(orchestrator_address ORDER BY event_time, event_id)
      FILTER (WHERE orchestrator_address IS NOT NULL AND until_hour_end) AS orchestrator_local_address,
    last_value(orchestrator_url ORDER BY event_time, event_id)
      FILTER (WHERE orchestrator_url IS NOT NULL AND until_hour_end) AS orchestrator_url,
    last_value(pipeline ORDER BY event_time, event_id)
      FILTER (WHERE pipeline IS NOT NULL AND pipeline <> '' AND family <> 'stream_trace') AS model_hint,
    last_value(pipeline ORDER BY event_time, event_id)
      FILTER (WHERE pipeline IS NOT NULL AND pipeline <> '' AND family = 'stream_trace') AS trace_model_hint,
    last_value(pipeline_id ORDER BY event_time, event_id)
      FILTER (WHERE pipeline_id IS NOT NULL AND pipeline_id <> '') AS pipeline_hint
  FROM flagged
  GROUP BY session_id
),
classified AS (
  SELECT
    s.*,
    w.window_start,
    w.window_end,
    coalesce(s.requested_at, s.first_seen_at) AS started_at,
    CASE
      WHEN NOT s.requested_seen THEN 'unknown'
      WHEN s.playable_seen THEN 'success'
      ELSE 'failed'
    END AS startup_outcome,
    CASE
      WHEN NOT s.requested_seen THEN 'unknown'
      WHEN NOT s.playable_seen AND s.no_orch_seen THEN 'no_orch'
      WHEN s.playable_seen OR s.orchestrators_seen > 0 THEN 'selected'
      ELSE 'unknown'
    END AS selection_outcome,
    CASE
      WHEN NOT s.requested_seen OR s.playable_seen THEN 'none'
      WHEN s.no_orch_seen THEN 'no_orch'
      WHEN s.error_count > 0 AND s.excusable_error_count = s.error_count THEN 'excusable_error'
      ELSE 'none'
    END AS excusal_reason,
    s.orchestrators_seen > 1 AND NOT s.confirmed_swap AS inferred_swap,
    s.status_samples > 0 AND s.loading_samples = s.status_samples AS loading_only,
    s.status_samples > 0 AND s.fps_positive_samples = 0 AS zero_output_fps,
    CASE WHEN s.t_first_processed >= s.t_request THEN s.t_first_processed - s.t_request END AS startup_latency_ms,
    CASE WHEN s.t_runner_first_processed >= s.t_first_ingest THEN s.t_runner_first_processed - s.t_first_ingest END
      AS e2e_latency_ms,
    CASE WHEN s.t_playable >= s.t_prompt THEN s.t_playable - s.t_prompt END AS prompt_to_playable_ms
  FROM per_session s CROSS JOIN w
),
resolved AS (
  SELECT
    c.*,
    CASE
      WHEN a1.candidates = 1 THEN a1.address
      WHEN a1.candidates IS NULL AND a2.candidates = 1 THEN a2.address
    END AS orchestrator,
    CASE
      WHEN c.orchestrator_local_address IS NULL AND c.orchestrator_url IS NULL THEN 'no_orchestrator'
      WHEN a1.candidates = 1 OR (a1.candidates IS NULL AND a2.candidates = 1) THEN 'resolved'
      WHEN a1.candidates > 1 OR a2.candidates > 1 THEN 'ambiguous'
      ELSE 'unresolved'
    END AS attribution_status,
    coalesce(c.model_hint, c.trace_model_hint, '') AS model
  FROM classified c
  LEFT JOIN aliases a1 ON a1.alias = c.orchestrator_local_address
  LEFT JOIN aliases a2 ON a2.alias = c.orchestrator_url
),
attributed AS (
  SELECT
    r.*,
    coalesce(m.pipeline, r.pipeline_hint, '') AS pipeline_candidate
  FROM resolved r
  LEFT JOIN models m ON m.address = r.orchestrator AND m.model_key = lower(r.model)
)
SELECT
  window_start,
  window_end,
  session_id,
  stream_id,
  request_id,
  gateway,
  orchestrator,
  orchestrator_local_address,
  orchestrator_url,
  attribution_status,
  CASE WHEN lower(pipeline_candidate) = lower(model) THEN '' ELSE pipeline_candidate END AS pipeline,
  model,
  started_at,
  last_seen_at,
  requested_seen,
  playable_seen,
  selection_outcome,
  startup_outcome,
  excusal_reason,
  error_count,
  excusable_error_count,
  confirmed_swap,
  inferred_swap,
  confirmed_swap OR inferred_swap AS swapped,
  status_samples,
  loading_only,
  zero_output_fps,
  loading_only OR zero_output_fps AS output_failed,
  CASE WHEN requested_seen
    THEN (CASE WHEN status_samples > 0 THEN 1 ELSE 0 END)
       + (CASE WHEN first_processed_seen THEN 1 ELSE 0 END)
       + (CASE WHEN playable_seen THEN 1 ELSE 0 END)
    ELSE 0
  END AS health_signal_count,
  CASE WHEN requested_seen THEN 3 ELSE 0 END AS health_expected_signal_count,
  startup_latency_ms,
  e2e_latency_ms,
  prompt_to_playable_ms,
  started_at >= window_start AND started_at < window_end AS started_in_hour,
  hour_status_samples,
  hour_output_fps_samples,
  hour_output_fps_sum,
  hour_running_samples,
  started_at < window_start
    AND last_seen_at >= window_start AND last_seen_at < window_end
    AND hour_output_fps_samples = 0 AND hour_running_samples = 0 AND hour_status_samples < 3
    AND previous_fps_samples = 0 AND previous_running_samples = 0 AND previous_status_samples < 3 AS tail_artifact
FROM attributed
WHERE hour_status_samples > 0 OR (started_at >= window_start AND started_at < window_end)
