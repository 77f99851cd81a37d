-- name: llm_requests
-- version: 1
-- owner: naap maintainers
-- inputs: ai_requests, llm_events, seal_window
-- output: llm_requests
-- description: one row per `llm` request of ai_requests, with its LLM
--   events (the end of a stream may come after the hour, within the settle
--   time). streaming is what the client asked for (the started event; the
--   completed subtype when that is missing). outcome: completed, broken (a
--   stream whose reading failed: finish_reason error or an error text) or
--   no_completion (the call failed, or its end was not seen by the
--   horizon); success is a completed one. Figures are null where they do
--   not apply, never 0: ttft_ms for streams only (and only once a chunk
--   came), tokens_per_second only with completion tokens. model_id is the
--   requested model, served_model the one the worker reported.
WITH events AS (
  SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY event_time) AS copy
  FROM llm_events
),
started AS (
  SELECT gateway, request_id,
    bool_or(streaming) AS streaming,
    max(max_tokens) AS max_tokens,
    max(message_count) AS message_count,
    min(event_time) AS started_at
  FROM events
  WHERE copy = 1 AND subtype = 'llm_request_started'
  GROUP BY gateway, request_id
),
ended AS (
  SELECT e.*,
    e.subtype = 'llm_stream_completed'
      AND (coalesce(e.finish_reason, '') = 'error' OR e.error IS NOT NULL) AS broken,
    row_number() OVER (PARTITION BY e.gateway, e.request_id ORDER BY e.event_time DESC, e.event_id) AS latest
  FROM events e
  CROSS JOIN seal_window w
  WHERE e.copy = 1
    AND e.subtype IN ('llm_stream_completed', 'llm_request_completed')
    AND e.event_time <= w.horizon_end
)
SELECT
  a.window_start,
  a.window_end,
  a.gateway,
  a.request_id,
  a.model_id,
  d.model AS served_model,
  a.orchestrator_url,
  coalesce(s.streaming, d.subtype = 'llm_stream_completed') AS streaming,
  CASE
    WHEN d.request_id IS NULL THEN 'no_completion'
    WHEN d.broken THEN 'broken'
    ELSE 'completed'
  END AS outcome,
  coalesce(a.success AND NOT d.broken, false) AS success,
  a.success AS request_success,
  s.started_at,
  d.event_time AS ended_at,
  s.max_tokens,
  s.message_count,
  d.prompt_tokens,
  d.completion_tokens,
  d.total_tokens,
  d.token_utilization,
  d.finish_reason,
  d.total_duration_ms,
  CASE WHEN d.subtype = 'llm_stream_completed' AND d.ttft_ms > 0 THEN d.ttft_ms END AS ttft_ms,
  CASE WHEN d.completion_tokens > 0 THEN d.tokens_per_second END AS tokens_per_second,
  d.price_per_unit
FROM ai_requests a
LEFT JOIN started s ON s.gateway = a.gateway AND s.request_id = a.request_id
LEFT JOIN ended d ON d.gateway = a.gateway AND d.request_id = a.request_id AND d.latest = 1
WHERE a.pipeline = 'llm'
