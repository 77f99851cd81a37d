-- name: sessions
-- version: 1
-- owner: naap maintainers
-- inputs: gateway_events, capability_snapshots, seal_window
-- output: sessions
-- description: one row per (session, UTC hour) for every live-video session
--   that has status samples in the hour or started in it. seal_window holds
--   one row: the hour [window_start, window_end), the horizon up to which
--   later events still inform the session's lifecycle (horizon_end), and how
--   far back its earlier events are read (lookback_start). The pipeline
--   gives it, as gateway_events, only the stream_trace, ai_stream_status and
--   ai_stream_events rows of sessions with an event in the hour (from
--   lookback_start to horizon_end; pipeline/src/commit/seal/sessions.rs),
--   in groups of whole sessions, one run per group: every row it writes
--   must read only its own session's events (and the capability
--   snapshots). It is the only aggregate reading gateway_events. Rules follow
--   production NaaP's code (Cloud-SPE/livepeer-naap-analytics,
--   api/internal/resolver/session.go, attribution.go, normalization.go).
--   * session_id: stream_id|request_id, with _missing_stream /
--     _missing_request placeholders, or the event id when both are missing.
--   * lifecycle (fixed precedence): not a known stream (no
--     gateway_receive_stream_request) -> unknown; playable
--     (gateway_receive_few_processed_segments) -> success; no-orchestrator
--     trace -> failed, excused no_orch; startup errors (ai_stream_events of
--     type error; a status sample's last_error is not one) that are all
--     excusable (case-insensitive substrings below) -> failed, excused;
--     else failed.
--   * swaps: an orchestrator_swap trace (confirmed), else the session's
--     orchestrator changing between two non-empty identities (inferred).
--   * loading_only: status samples exist and none is in a running state
--     (ONLINE, DEGRADED_INPUT, DEGRADED_INFERENCE); zero_output_fps: status
--     samples exist and none has fps > 0.
--   * health signals: a status sample, a playable signal, a status sample
--     whose output did not fail (not both loading-only and zero-fps);
--     expected 3 for a known stream, 0 otherwise.
--   * latency edges (signal times, ms): startup = stream request -> first
--     processed segment; e2e = first ingest segment sent -> runner's first
--     processed segment; prompt_to_playable = status start_time -> few
--     processed segments. Null when an edge is missing or inverted.
--   * attribution: the last event naming an orchestrator up to the hour's
--     end is the selection, timed when the session first named that
--     orchestrator (address, else URL). Its URL, when present, is looked up alone among
--     the snapshots' orch_uri; else its address among their addresses, then
--     their local_address aliases. The nearest snapshot in time wins (one
--     at most 30 s after the selection before any later one). Among that
--     snapshot's rows, those compatible with the session's hints (pipeline
--     name, model) are kept when any is. One orchestrator with one
--     (pipeline, model) -> resolved (hardware_less when its entry lists no
--     hardware at all);
--     several -> ambiguous; none -> unresolved. attribution_reason uses
--     NaaP's names: matched, future_skew (the snapshot came after the
--     selection), matched_without_hardware, ambiguous_candidates,
--     missing_uri_snapshot_local_alias_present,
--     missing_uri_snapshot_address_match_present (a URL no snapshot knows,
--     whose address one does: stays unresolved), missing_candidate,
--     no_selection_no_orch_excused. orchestrator is null unless resolved or
--     hardware_less, never guessed; attribution_snapshot_at is the time of
--     the snapshot it was matched to.
--   * pipeline/model: the matched capability's pipeline and model; without
--     one, the session's hint (status `pipeline` field, else the trace's,
--     else the events') when it names a known pipeline, or a StreamDiffusion
--     model (whose pipeline is live-video-to-video); an unknown hint is not
--     a model. The pipeline is blank when it would repeat the model.
--   * tail_artifact: the session started before the hour, ended in it, and
--     both this and the previous hour have no fps > 0, no running state and
--     fewer than 3 status samples (NaaP's rollover tail filter).
WITH w AS (
  SELECT window_start, window_end, horizon_end, lookback_start, window_start - INTERVAL '1 hour' AS previous_start
  FROM seal_window
),
-- one row per snapshot, orchestrator and (pipeline, model): GPUs collapse
snapshot_rows AS (
  SELECT DISTINCT
    c.event_time,
    lower(trim(c.address)) AS address,
    lower(trim(coalesce(c.local_address, ''))) AS local_address,
    lower(trim(coalesce(c.orch_uri, ''))) AS uri,
    coalesce(c.pipeline, '') AS pipeline,
    coalesce(c.model_id, '') AS model,
    coalesce(c.gpu_id, '') <> '' OR coalesce(c.pipeline, '') <> '' OR coalesce(c.model_id, '') <> '' AS has_hardware
  FROM capability_snapshots c CROSS JOIN w
  WHERE c.event_time >= w.lookback_start AND c.event_time < w.horizon_end
),
-- What each snapshot row answers to: a URL lookup (priority 0), an address
-- lookup by on-chain address (1) or by operating alias (2).
identities AS (
  SELECT 'uri' AS lookup, 0 AS priority, uri AS identity, event_time, address, pipeline, model, has_hardware
  FROM snapshot_rows WHERE uri <> ''
  UNION ALL
  SELECT 'address', 1, address AS identity, event_time, address AS address, pipeline, model, has_hardware
  FROM snapshot_rows WHERE address <> ''
  UNION ALL
  SELECT 'address', 2, local_address, event_time, address, pipeline, model, has_hardware
  FROM snapshot_rows WHERE local_address <> '' AND local_address <> address
),
aliases AS (
  SELECT lookup, identity, count(DISTINCT address) AS candidates, min(address) AS address
  FROM identities
  GROUP BY lookup, identity
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
    e.message,
    e.last_error,
    coalesce(trim(e.orchestrator_address), '') <> '' OR coalesce(trim(e.orchestrator_url), '') <> '' AS names_orchestrator,
    coalesce(nullif(lower(trim(e.orchestrator_address)), ''), nullif(lower(trim(e.orchestrator_url)), '')) AS identity,
    CASE
      WHEN coalesce(e.stream_id, '') <> '' AND coalesce(e.request_id, '') <> '' THEN e.stream_id || '|' || e.request_id
      WHEN coalesce(e.stream_id, '') <> '' THEN e.stream_id || '|_missing_request'
      WHEN coalesce(e.request_id, '') <> '' THEN '_missing_stream|' || e.request_id
      ELSE '_missing_stream|_missing_request|' || e.event_id
    END AS session_id,
    CAST(e.signal_time AS BIGINT) AS signal_ms,
    CAST(e.start_time AS BIGINT) AS start_ms,
    e.event_time >= w.window_start AND e.event_time < w.window_end AS in_hour,
    e.event_time >= w.previous_start AND e.event_time < w.window_start AS in_previous_hour,
    e.event_time < w.window_end AS until_hour_end,
    e.family = 'ai_stream_events' AND lower(coalesce(e.subtype, '')) = 'error' AS startup_error,
    coalesce(e.state IN ('ONLINE', 'DEGRADED_INPUT', 'DEGRADED_INFERENCE'), false) AS running,
    CASE
      WHEN u.candidates = 1 THEN u.address
      WHEN u.candidates IS NULL AND a.candidates = 1 THEN a.address
      ELSE coalesce(nullif(lower(trim(e.orchestrator_address)), ''), nullif(lower(trim(e.orchestrator_url)), ''))
    END AS orchestrator_key
  -- the lookups (a few rows per orchestrator) are the joins' build side;
  -- the events stream past them
  FROM aliases a
  RIGHT JOIN (
    aliases u
    RIGHT JOIN gateway_events e ON u.lookup = 'uri' AND u.identity = lower(trim(e.orchestrator_url))
  ) ON a.lookup = 'address' AND a.identity = lower(trim(e.orchestrator_address))
  CROSS JOIN w
  WHERE e.family IN ('stream_trace', 'ai_stream_status', 'ai_stream_events')
    AND e.event_time >= w.lookback_start AND e.event_time < w.horizon_end
),
flagged AS (
  SELECT
    *,
    startup_error AND (
      lower(coalesce(message, '')) LIKE '%no orchestrators available%'
      OR lower(coalesce(message, '')) LIKE '%mediamtx ingest disconnected%'
      OR lower(coalesce(message, '')) LIKE '%whip disconnected%'
      OR lower(coalesce(message, '')) LIKE '%missing video%'
      OR lower(coalesce(message, '')) LIKE '%ice connection state failed%'
      OR lower(coalesce(message, '')) LIKE '%user disconnected%'
    ) AS error_excusable
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
    coalesce(bool_or(subtype = 'gateway_no_orchestrators_available'), false) AS no_orch_seen,
    coalesce(bool_or(subtype = 'orchestrator_swap'), false) AS confirmed_swap,
    coalesce(bool_or(subtype = 'gateway_ingest_stream_closed'), false) AS completed,
    coalesce(bool_or(family = 'ai_stream_status' AND coalesce(last_error, '') NOT IN ('', 'null')), false) AS error_seen,
    count(DISTINCT orchestrator_key) AS orchestrators_seen,
    sum(CASE WHEN startup_error THEN 1 ELSE 0 END) AS error_count,
    sum(CASE WHEN error_excusable THEN 1 ELSE 0 END) AS excusable_error_count,
    sum(CASE WHEN family = 'ai_stream_status' THEN 1 ELSE 0 END) AS status_samples,
    sum(CASE WHEN family = 'ai_stream_status' AND running THEN 1 ELSE 0 END) AS running_samples,
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
    sum(CASE WHEN in_hour AND family = 'ai_stream_status' AND state = 'DEGRADED_INPUT' THEN 1 ELSE 0 END)
      AS hour_degraded_input_samples,
    sum(CASE WHEN in_hour AND family = 'ai_stream_status' AND state = 'DEGRADED_INFERENCE' THEN 1 ELSE 0 END)
      AS hour_degraded_inference_samples,
    sum(CASE WHEN in_hour AND family = 'ai_stream_status' AND coalesce(last_error, '') NOT IN ('', 'null') THEN 1 ELSE 0 END)
      AS hour_error_samples,
    sum(CASE WHEN in_previous_hour AND family = 'ai_stream_status' THEN 1 ELSE 0 END) AS previous_status_samples,
    sum(CASE WHEN in_previous_hour AND family = 'ai_stream_status' AND output_fps > 0 THEN 1 ELSE 0 END) AS previous_fps_samples,
    sum(CASE WHEN in_previous_hour AND family = 'ai_stream_status' AND running THEN 1 ELSE 0 END) AS previous_running_samples,
    -- the selection: the last event naming an orchestrator up to the hour's end
    last_value(orchestrator_address ORDER BY event_time, event_id)
      FILTER (WHERE names_orchestrator AND until_hour_end) AS orchestrator_local_address,
    last_value(orchestrator_url ORDER BY event_time, event_id)
      FILTER (WHERE names_orchestrator AND until_hour_end) AS orchestrator_url,
    last_value(identity ORDER BY event_time, event_id)
      FILTER (WHERE names_orchestrator AND until_hour_end) AS selected_identity,
    count(DISTINCT identity) FILTER (WHERE names_orchestrator AND until_hour_end) AS identities_seen,
    last_value(pipeline ORDER BY event_time, event_id)
      FILTER (WHERE coalesce(pipeline, '') <> '' AND family = 'ai_stream_status') AS status_hint,
    last_value(pipeline ORDER BY event_time, event_id)
      FILTER (WHERE coalesce(pipeline, '') <> '' AND family = 'stream_trace') AS trace_hint,
    last_value(pipeline ORDER BY event_time, event_id)
      FILTER (WHERE coalesce(pipeline, '') <> '' AND family = 'ai_stream_events') AS event_hint,
    last_value(pipeline_id ORDER BY event_time, event_id)
      FILTER (WHERE coalesce(pipeline_id, '') <> '') AS pipeline_id_hint
  FROM flagged
  GROUP BY session_id
),
-- the selection's time: when the session first named its last orchestrator
selections AS (
  SELECT f.session_id, min(f.event_time) AS selected_at
  FROM per_session p
  JOIN flagged f ON p.session_id = f.session_id AND f.identity = p.selected_identity
  WHERE f.until_hour_end
  GROUP BY f.session_id
),
hinted AS (
  SELECT
    s.*,
    sel.selected_at,
    coalesce(s.status_hint, s.trace_hint, s.event_hint, '') AS fallback_hint,
    -- what the capability must match: a known pipeline name, a model
    CASE WHEN lower(trim(coalesce(s.pipeline_id_hint, ''))) IN (
        'live-video-to-video', 'text-to-image', 'image-to-image', 'image-to-video', 'text-to-video',
        'audio-to-text', 'text-to-speech', 'upscale', 'llm', 'image-to-text', 'segment-anything-2', 'noop')
      THEN lower(trim(s.pipeline_id_hint)) ELSE '' END AS pipeline_key,
    lower(trim(coalesce(s.status_hint, s.event_hint, ''))) AS model_key,
    CASE WHEN coalesce(trim(s.orchestrator_url), '') <> '' THEN 'uri' ELSE 'address' END AS lookup,
    CASE
      WHEN coalesce(trim(s.orchestrator_url), '') <> '' THEN lower(trim(s.orchestrator_url))
      ELSE lower(trim(s.orchestrator_local_address))
    END AS lookup_identity
  FROM per_session s
  LEFT JOIN selections sel ON sel.session_id = s.session_id
),
matches AS (
  SELECT
    h.session_id,
    i.event_time AS snapshot_time,
    i.address,
    i.pipeline,
    i.model,
    i.has_hardware,
    (h.pipeline_key = '' OR lower(i.pipeline) = h.pipeline_key) AND (h.model_key = '' OR lower(i.model) = h.model_key)
      AS compatible,
    rank() OVER (
      PARTITION BY h.session_id
      ORDER BY
        i.priority,
        CASE WHEN i.event_time <= h.selected_at + INTERVAL '30 seconds' THEN 0 ELSE 1 END,
        abs(CAST(i.event_time AS BIGINT) - CAST(h.selected_at AS BIGINT))
    ) AS nearness
  FROM hinted h
  JOIN identities i ON i.lookup = h.lookup AND i.identity = h.lookup_identity
),
nearest AS (
  SELECT m.*, bool_or(m.compatible) OVER (PARTITION BY m.session_id) AS any_compatible
  FROM matches m
  WHERE m.nearness = 1
),
decisions AS (
  SELECT
    session_id,
    count(DISTINCT address) AS addresses,
    count(DISTINCT lower(pipeline) || '|' || lower(model)) AS surfaces,
    min(address) AS address,
    min(pipeline) AS pipeline,
    min(model) AS model,
    NOT bool_or(has_hardware) AS hardware_less,
    min(snapshot_time) AS snapshot_time
  FROM nearest
  WHERE compatible OR NOT any_compatible
  GROUP BY session_id
),
address_kinds AS (
  SELECT identity, bool_or(priority = 1) AS has_address, bool_or(priority = 2) AS has_alias
  FROM identities
  WHERE lookup = 'address'
  GROUP BY identity
),
attributed AS (
  SELECT
    h.*,
    CASE
      WHEN d.session_id IS NULL AND h.lookup_identity IS NOT NULL AND h.identities_seen > 1
        AND (h.lookup = 'address' OR NOT coalesce(k.has_address OR k.has_alias, false)) THEN 'ambiguous'
      WHEN h.lookup_identity IS NULL OR d.session_id IS NULL THEN 'unresolved'
      WHEN d.addresses > 1 OR d.surfaces > 1 THEN 'ambiguous'
      WHEN d.hardware_less THEN 'hardware_less'
      WHEN d.snapshot_time < h.selected_at - INTERVAL '10 minutes' THEN 'stale'
      ELSE 'resolved'
    END AS attribution_status,
    CASE
      WHEN h.lookup_identity IS NULL AND h.no_orch_seen THEN 'no_selection_no_orch_excused'
      WHEN h.lookup_identity IS NULL THEN 'missing_candidate'
      WHEN d.session_id IS NULL AND h.lookup = 'uri' AND k.has_alias THEN 'missing_uri_snapshot_local_alias_present'
      WHEN d.session_id IS NULL AND h.lookup = 'uri' AND k.has_address THEN 'missing_uri_snapshot_address_match_present'
      WHEN d.session_id IS NULL AND h.identities_seen > 1 THEN 'ambiguous_candidates'
      WHEN d.session_id IS NULL THEN 'missing_candidate'
      WHEN d.addresses > 1 OR d.surfaces > 1 THEN 'ambiguous_candidates'
      WHEN d.hardware_less THEN 'matched_without_hardware'
      WHEN d.snapshot_time < h.selected_at - INTERVAL '10 minutes' THEN 'stale_candidate'
      WHEN d.snapshot_time > h.selected_at THEN 'future_skew'
      ELSE 'matched'
    END AS attribution_reason,
    CASE WHEN d.addresses = 1 AND d.surfaces = 1 THEN d.address END AS orchestrator,
    CASE WHEN d.addresses = 1 AND d.surfaces = 1 THEN d.snapshot_time END AS attribution_snapshot_at,
    CASE WHEN d.addresses = 1 AND d.surfaces = 1 THEN d.pipeline END AS capability_pipeline,
    CASE WHEN d.addresses = 1 AND d.surfaces = 1 THEN d.model END AS capability_model
  FROM hinted h
  LEFT JOIN decisions d ON d.session_id = h.session_id
  LEFT JOIN address_kinds k ON k.identity = lower(trim(h.orchestrator_local_address))
),
-- NaaP's normalizeObservedHints(pipeline = the capability's, else the
-- fallback hint; model = the capability's)
named AS (
  SELECT
    a.*,
    coalesce(nullif(a.capability_pipeline, ''), a.fallback_hint) AS pipeline_arg,
    CASE
      WHEN lower(trim(coalesce(a.capability_model, ''))) IN (
          'streamdiffusion-sdxl', 'streamdiffusion-sdxl-v2v', 'streamdiffusion-sdxl-faceid', 'streamdiffusion')
        THEN lower(trim(a.capability_model))
      ELSE trim(coalesce(a.capability_model, ''))
    END AS model_arg
  FROM attributed a
),
normalized AS (
  SELECT
    n.*,
    CASE WHEN lower(trim(n.pipeline_arg)) IN (
        'live-video-to-video', 'text-to-image', 'image-to-image', 'image-to-video', 'text-to-video',
        'audio-to-text', 'text-to-speech', 'upscale', 'llm', 'image-to-text', 'segment-anything-2', 'noop')
      THEN lower(trim(n.pipeline_arg)) ELSE '' END AS known_pipeline,
    CASE WHEN n.model_arg <> '' THEN n.model_arg
      ELSE CASE lower(trim(n.pipeline_arg))
        WHEN 'streamdiffusion-sdxl' THEN 'streamdiffusion-sdxl'
        WHEN 'streamdiffusion-sdxl-v2v' THEN 'streamdiffusion-sdxl-v2v'
        WHEN 'streamdiffusion-sdxl-faceid' THEN 'streamdiffusion-sdxl-faceid'
        WHEN 'streamdiffusion' THEN 'streamdiffusion'
        WHEN 'pip_sdxl-turbo' THEN 'streamdiffusion-sdxl'
        WHEN 'pip_sd-turbo' THEN 'streamdiffusion-sdxl'
        WHEN 'pip_sdxl-turbo-v2v' THEN 'streamdiffusion-sdxl-v2v'
        WHEN 'pip_sdxl-turbo-faceid' THEN 'streamdiffusion-sdxl-faceid'
        ELSE ''
      END
    END AS model
  FROM named n
),
classified AS (
  SELECT
    s.*,
    w.window_start,
    w.window_end,
    CASE
      WHEN s.known_pipeline <> '' THEN s.known_pipeline
      WHEN lower(s.model) LIKE 'streamdiffusion%' THEN 'live-video-to-video'
      ELSE ''
    END AS pipeline_candidate,
    coalesce(s.requested_at, s.first_seen_at) AS started_at,
    CASE
      WHEN NOT s.requested_seen THEN 'unknown'
      WHEN s.playable_seen THEN 'success'
      ELSE 'failed'
    END AS startup_outcome,
    CASE
      WHEN s.lookup_identity IS NOT NULL THEN 'selected'
      WHEN s.no_orch_seen THEN 'no_orch'
      ELSE 'unknown'
    END AS selection_outcome,
    CASE
      WHEN NOT s.requested_seen OR s.playable_seen THEN 'none'
      WHEN s.lookup_identity IS NULL AND s.no_orch_seen THEN 'no_orch'
      WHEN s.error_count > 0 AND s.excusable_error_count = s.error_count THEN 'excusable_error'
      ELSE 'none'
    END AS excusal_reason,
    s.orchestrators_seen > 1 AND NOT s.confirmed_swap AS inferred_swap,
    s.status_samples > 0 AND s.running_samples = 0 AS loading_only,
    s.status_samples > 0 AND s.fps_positive_samples = 0 AS zero_output_fps,
    CASE WHEN s.t_first_processed >= s.t_request THEN s.t_first_processed - s.t_request END AS startup_latency_ms,
    CASE WHEN s.t_runner_first_processed >= s.t_first_ingest THEN s.t_runner_first_processed - s.t_first_ingest END
      AS e2e_latency_ms,
    CASE WHEN s.t_playable >= s.t_prompt THEN s.t_playable - s.t_prompt END AS prompt_to_playable_ms
  FROM normalized s CROSS JOIN w
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
  attribution_reason,
  attribution_snapshot_at,
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
  completed,
  error_seen,
  confirmed_swap,
  inferred_swap,
  confirmed_swap OR inferred_swap AS swapped,
  status_samples,
  loading_only,
  zero_output_fps,
  loading_only OR zero_output_fps AS output_failed,
  (CASE WHEN status_samples > 0 THEN 1 ELSE 0 END)
    + (CASE WHEN playable_seen THEN 1 ELSE 0 END)
    + (CASE WHEN status_samples > 0 AND NOT (loading_only AND zero_output_fps) THEN 1 ELSE 0 END)
    AS health_signal_count,
  CASE WHEN requested_seen THEN 3 ELSE 0 END AS health_expected_signal_count,
  startup_latency_ms,
  e2e_latency_ms,
  prompt_to_playable_ms,
  started_at >= window_start AND started_at < window_end AS started_in_hour,
  hour_status_samples,
  hour_output_fps_samples,
  hour_output_fps_sum,
  hour_running_samples,
  hour_degraded_input_samples,
  hour_degraded_inference_samples,
  hour_error_samples,
  started_at < window_start
    AND last_seen_at >= window_start AND last_seen_at < window_end
    AND hour_output_fps_samples = 0 AND hour_running_samples = 0 AND hour_status_samples < 3
    AND previous_fps_samples = 0 AND previous_running_samples = 0 AND previous_status_samples < 3 AS tail_artifact
FROM classified
WHERE hour_status_samples > 0 OR (started_at >= window_start AND started_at < window_end)
