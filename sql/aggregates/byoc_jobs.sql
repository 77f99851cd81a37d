-- name: byoc_jobs
-- version: 1
-- owner: naap maintainers
-- inputs: byoc_job_events, byoc_attempts, byoc_workers, seal_window
-- output: byoc_jobs
-- description: one row per BYOC job whose discovery falls in the hour (the
--   discovery's envelope id is job_id), across its attempts (byoc_attempts
--   holds each). A job succeeds when one attempt is ok; otherwise its
--   outcome is its last attempt's, or no_orchestrators when discovery kept
--   none. Unlike NaaP, which counts each completed attempt as a job and so
--   sees neither HTTP errors nor jobs that never completed, every job
--   counts once. model and price_per_unit are those of the runners the
--   last attempt's orchestrator had for the capability in the hour, when
--   they agree (NaaP takes whatever worker event of that orchestrator came
--   last, an exhaustion's empty model included).
WITH discoveries AS (
  SELECT * FROM (
    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY event_time) AS copy
    FROM byoc_job_events
    WHERE subtype = 'job_orchestrator_discovery_result'
  ) WHERE copy = 1
),
per_job AS (
  SELECT job_id,
    count(*) AS attempts,
    bool_or(outcome = 'ok') AS success,
    last_value(outcome ORDER BY submitted_at, attempt_index) AS last_outcome,
    last_value(orchestrator_address ORDER BY submitted_at, attempt_index) AS last_orchestrator,
    last_value(orchestrator_url ORDER BY submitted_at, attempt_index) AS last_orchestrator_url,
    last_value(http_status ORDER BY submitted_at, attempt_index) AS last_http_status,
    max(request_id) AS request_id,
    max(duration_ms) FILTER (WHERE outcome = 'ok') AS duration_ms,
    bool_or(streaming) FILTER (WHERE outcome = 'ok') AS streaming,
    max(coalesce(completed_at, submitted_at)) AS ended_at,
    sum(charged_wei) AS charged_wei
  FROM byoc_attempts
  GROUP BY job_id
),
runner_offer AS (
  SELECT orchestrator_address, capability,
    CASE WHEN count(DISTINCT model) = 1 THEN max(model) END AS model,
    CASE WHEN count(DISTINCT price_per_unit) = 1 THEN max(price_per_unit) END AS price_per_unit
  FROM byoc_workers
  GROUP BY orchestrator_address, capability
)
SELECT
  w.window_start,
  w.window_end,
  d.event_id AS job_id,
  d.gateway,
  d.capability,
  p.request_id,
  d.event_time AS started_at,
  p.ended_at,
  d.selected AS orchestrators_selected,
  coalesce(p.attempts, 0) AS attempts,
  coalesce(p.success, false) AS success,
  CASE
    WHEN p.success THEN 'ok'
    WHEN p.attempts IS NULL THEN 'no_orchestrators'
    ELSE p.last_outcome
  END AS outcome,
  p.last_orchestrator AS orchestrator_address,
  p.last_orchestrator_url AS orchestrator_url,
  o.model,
  o.price_per_unit,
  p.last_http_status AS http_status,
  p.duration_ms,
  coalesce(p.streaming, false) AS streaming,
  p.charged_wei,
  CASE WHEN p.attempts IS NULL THEN d.error END AS error
FROM discoveries d
CROSS JOIN seal_window w
LEFT JOIN per_job p ON p.job_id = d.event_id
LEFT JOIN runner_offer o ON o.orchestrator_address = p.last_orchestrator AND o.capability = d.capability
WHERE d.event_time >= w.window_start AND d.event_time < w.window_end
