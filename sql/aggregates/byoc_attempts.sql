-- name: byoc_attempts
-- version: 1
-- owner: naap maintainers
-- inputs: byoc_job_events, byoc_auth_events, byoc_payment_events, seal_window
-- output: byoc_attempts
-- description: one row per attempt of a BYOC job whose discovery falls in
--   the hour. A job is one job_orchestrator_discovery_result (its envelope
--   id is job_id) and the attempts a gateway submits for that capability
--   until its next discovery; an attempt gathers, from the same gateway and
--   orchestrator until the job's or the gateway's next attempt there, the
--   gateway's completion and what the orchestrator relayed. outcome: ok (a 2xx relayed to the end),
--   transport_error, auth_failed (signature refused), insufficient_balance,
--   no_capacity, worker_error, or no_answer (an HTTP error the gateway does
--   not report: nothing came back). A relayed credential failure names no
--   capability, so it is matched by gateway and orchestrator alone.
WITH events AS (
  SELECT event_id, event_time, gateway, subtype, capability, request_id, orchestrator_address,
    orchestrator_url, attempt_index, success, http_status, duration_ms, streaming, error, selected,
    CAST(NULL AS BIGINT) AS charged_wei
  FROM byoc_job_events
  UNION ALL
  SELECT event_id, event_time, gateway, subtype, capability, NULL, orchestrator_address,
    orchestrator_url, NULL, success, NULL, NULL, NULL, error, NULL, NULL
  FROM byoc_auth_events
  WHERE subtype = 'job_credential_verify_result'
  UNION ALL
  SELECT event_id, event_time, gateway, subtype, capability, request_id, orchestrator_address,
    orchestrator_url, NULL, NULL, NULL, NULL, NULL, error, NULL, total_charged_wei
  FROM byoc_payment_events
  WHERE subtype IN ('payment_insufficient_balance', 'payment_compute_charged')
),
unique_events AS (
  SELECT * FROM (
    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY event_time) AS copy FROM events
  ) WHERE copy = 1
),
jobs AS (
  SELECT event_id AS job_id, gateway, capability, event_time AS started_at,
    lead(event_time) OVER (PARTITION BY gateway, capability ORDER BY event_time, event_id) AS next_job_at
  FROM unique_events
  WHERE subtype = 'job_orchestrator_discovery_result'
),
every_submit AS (
  SELECT *,
    lead(event_time) OVER (PARTITION BY gateway, orchestrator_address ORDER BY event_time, event_id)
      AS next_to_same_orchestrator
  FROM unique_events
  WHERE subtype = 'job_gateway_submitted'
),
submitted AS (
  SELECT j.job_id, j.gateway, j.capability, s.event_time AS submitted_at, s.attempt_index,
    s.request_id, s.orchestrator_address, s.orchestrator_url,
    -- What an attempt gathers ends at the job's next attempt or the
    -- gateway's next attempt on the same orchestrator, whichever is first.
    least(
      lead(s.event_time) OVER (PARTITION BY j.job_id ORDER BY s.event_time, s.event_id),
      s.next_to_same_orchestrator) AS next_attempt_at,
    CAST(row_number() OVER (PARTITION BY j.job_id ORDER BY s.event_time, s.event_id) AS BIGINT) - 1 AS position
  FROM jobs j
  CROSS JOIN seal_window w
  JOIN every_submit s
    ON s.gateway = j.gateway AND s.capability = j.capability
    AND s.event_time >= j.started_at AND (j.next_job_at IS NULL OR s.event_time < j.next_job_at)
  WHERE j.started_at >= w.window_start AND j.started_at < w.window_end
    AND s.event_time <= w.horizon_end
),
gathered AS (
  SELECT a.job_id, a.gateway, a.capability, a.submitted_at, a.position, a.attempt_index, a.request_id,
    a.orchestrator_address, a.orchestrator_url,
    max(e.event_time) FILTER (WHERE e.subtype = 'job_gateway_completed') AS completed_at,
    bool_or(e.success) FILTER (WHERE e.subtype = 'job_gateway_completed') AS relayed_ok,
    max(e.http_status) FILTER (WHERE e.subtype = 'job_gateway_completed') AS http_status,
    max(e.duration_ms) FILTER (WHERE e.subtype = 'job_gateway_completed') AS duration_ms,
    bool_or(e.streaming) FILTER (WHERE e.subtype = 'job_gateway_completed') AS streaming,
    max(e.error) FILTER (WHERE e.subtype = 'job_gateway_completed') AS error,
    bool_or(e.subtype = 'job_credential_verify_result' AND NOT e.success) AS auth_failed,
    bool_or(e.subtype = 'payment_insufficient_balance') AS insufficient_balance,
    bool_or(e.subtype = 'job_orchestrator_capacity_rejected') AS no_capacity,
    bool_or(e.success) FILTER (WHERE e.subtype = 'job_orchestrator_worker_result') AS worker_ok,
    max(e.http_status) FILTER (WHERE e.subtype = 'job_orchestrator_worker_result') AS worker_http_status,
    max(e.duration_ms) FILTER (WHERE e.subtype = 'job_orchestrator_worker_result') AS worker_duration_ms,
    max(e.error) FILTER (WHERE e.subtype <> 'job_gateway_completed') AS orchestrator_error,
    sum(e.charged_wei) AS charged_wei
  FROM submitted a
  CROSS JOIN seal_window w
  LEFT JOIN unique_events e
    ON e.gateway = a.gateway AND e.orchestrator_address = a.orchestrator_address
    AND (e.capability = a.capability OR e.capability IS NULL)
    AND e.subtype <> 'job_gateway_submitted'
    AND e.event_time >= a.submitted_at
    AND (a.next_attempt_at IS NULL OR e.event_time < a.next_attempt_at)
    AND e.event_time <= w.horizon_end
  GROUP BY a.job_id, a.gateway, a.capability, a.submitted_at, a.position, a.attempt_index, a.request_id,
    a.orchestrator_address, a.orchestrator_url
)
SELECT
  w.window_start,
  w.window_end,
  g.job_id,
  g.gateway,
  g.capability,
  g.request_id,
  coalesce(g.attempt_index, g.position) AS attempt_index,
  g.orchestrator_address,
  g.orchestrator_url,
  g.submitted_at,
  g.completed_at,
  CASE
    WHEN g.relayed_ok THEN 'ok'
    WHEN g.completed_at IS NOT NULL THEN 'transport_error'
    WHEN g.auth_failed THEN 'auth_failed'
    WHEN g.insufficient_balance THEN 'insufficient_balance'
    WHEN g.no_capacity THEN 'no_capacity'
    WHEN NOT g.worker_ok THEN 'worker_error'
    ELSE 'no_answer'
  END AS outcome,
  coalesce(g.http_status, g.worker_http_status,
    CASE WHEN g.no_capacity THEN 503 WHEN g.insufficient_balance THEN 400 END) AS http_status,
  g.duration_ms,
  coalesce(g.streaming, false) AS streaming,
  g.worker_http_status,
  g.worker_duration_ms,
  g.charged_wei,
  coalesce(g.error, g.orchestrator_error) AS error
FROM gathered g
CROSS JOIN seal_window w
