-- name: ai_requests
-- version: 1
-- owner: naap maintainers
-- inputs: ai_batch_events, capability_snapshots, seal_window
-- output: ai_requests
-- description: one row per AI batch request whose completed event falls in
--   the hour (NaaP's "job"), keyed by gateway and request id (ids are the
--   gateway's own). received_at is the earliest received event of the id
--   not after the completion, back to the seal lookback. selection_outcome
--   follows NaaP: selected when an orchestrator was tried, no_orch when none
--   was and the error is no_orchestrators, else unknown. For a streaming
--   LLM request, success means the stream started (see llm_requests). An
--   event delivered twice counts once. orchestrator_address is resolved
--   from the newest capability snapshot (back to the seal lookback, not
--   after the completion) that names the orchestrator URL, and
--   gpu_model_name from its entry for the request's pipeline and model:
--   attribution_status resolved, or unresolved without such a snapshot.
WITH events AS (
  SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY event_time) AS copy
  FROM ai_batch_events
),
completed AS (
  SELECT e.*,
    row_number() OVER (PARTITION BY e.gateway, e.request_id ORDER BY e.event_time DESC, e.event_id) AS latest
  FROM events e
  CROSS JOIN seal_window w
  WHERE e.copy = 1
    AND e.subtype = 'ai_batch_request_completed'
    AND e.request_id <> ''
    AND e.event_time >= w.window_start AND e.event_time < w.window_end
),
received AS (
  SELECT c.gateway, c.request_id, min(e.event_time) AS received_at
  FROM completed c
  JOIN events e ON e.gateway = c.gateway AND e.request_id = c.request_id
  WHERE c.latest = 1 AND e.copy = 1
    AND e.subtype = 'ai_batch_request_received'
    AND e.event_time <= c.event_time
  GROUP BY c.gateway, c.request_id
),
-- The snapshot that names each selected request's orchestrator URL.
attributed AS (
  SELECT c.gateway, c.request_id, s.address, s.pipeline, s.model_id, s.gpu_name,
    row_number() OVER (
      PARTITION BY c.gateway, c.request_id
      ORDER BY s.event_time DESC, (s.pipeline = c.pipeline AND s.model_id = c.model_id) DESC, s.gpu_name
    ) AS nearest
  FROM completed c
  CROSS JOIN seal_window w
  JOIN capability_snapshots s
    ON s.orch_uri = c.orchestrator_url AND s.event_time <= c.event_time AND s.event_time >= w.lookback_start
  WHERE c.latest = 1
),
gpus AS (
  SELECT c.gateway, c.request_id, min(s.gpu_name) AS gpu_name
  FROM completed c
  JOIN attributed a ON a.gateway = c.gateway AND a.request_id = c.request_id AND a.nearest = 1
  JOIN capability_snapshots s
    ON s.address = a.address AND s.orch_uri = c.orchestrator_url AND s.pipeline = c.pipeline
    AND s.model_id = c.model_id AND s.event_time <= c.event_time
  WHERE c.latest = 1
  GROUP BY c.gateway, c.request_id
)
SELECT
  w.window_start,
  w.window_end,
  c.gateway,
  c.request_id,
  c.pipeline,
  c.model_id,
  r.received_at,
  c.event_time AS completed_at,
  c.success,
  c.tries,
  c.duration_ms,
  c.orchestrator_url,
  a.address AS orchestrator_address,
  g.gpu_name AS gpu_model_name,
  CASE WHEN a.address IS NOT NULL THEN 'resolved' ELSE 'unresolved' END AS attribution_status,
  CASE
    WHEN c.orchestrator_url IS NOT NULL THEN 'selected'
    WHEN NOT c.success AND c.error_type = 'no_orchestrators' THEN 'no_orch'
    ELSE 'unknown'
  END AS selection_outcome,
  c.error_type,
  c.error,
  c.price_per_unit,
  c.latency_score
FROM completed c
CROSS JOIN seal_window w
LEFT JOIN attributed a ON a.gateway = c.gateway AND a.request_id = c.request_id AND a.nearest = 1
LEFT JOIN gpus g ON g.gateway = c.gateway AND g.request_id = c.request_id
LEFT JOIN received r ON r.gateway = c.gateway AND r.request_id = c.request_id
WHERE c.latest = 1
