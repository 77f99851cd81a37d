-- name: byoc_auth_hourly
-- version: 1
-- owner: naap maintainers
-- inputs: byoc_auth_events, byoc_job_events, seal_window
-- output: byoc_auth_hourly
-- description: BYOC authentication per hour, check (job_credential_verify_result:
--   the orchestrator checked a job's signature; job_auth_webhook_result:
--   the gateway's webhook admitted a BYOC stream), capability, orchestrator
--   and gateway: events, successes and failures. A failed credential check
--   names no capability; it takes the capability of the job the gateway
--   last submitted to that orchestrator before it (within a minute). A
--   webhook's capability is the stream's pipeline. NaaP keeps only rows
--   with a capability, so it counts no failure and no webhook.
WITH events AS (
  SELECT e.* FROM (
    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY event_time) AS copy FROM byoc_auth_events
  ) e
  CROSS JOIN seal_window w
  WHERE e.copy = 1 AND e.event_time >= w.window_start AND e.event_time < w.window_end
),
submissions AS (
  SELECT DISTINCT event_id, event_time, gateway, orchestrator_address, capability
  FROM byoc_job_events
  WHERE subtype = 'job_gateway_submitted'
),
attributed AS (
  SELECT e.event_id, e.subtype, e.gateway, e.orchestrator_address, e.success,
    coalesce(e.capability, s.capability) AS capability,
    row_number() OVER (PARTITION BY e.event_id ORDER BY s.event_time DESC, s.event_id) AS nearest
  FROM events e
  LEFT JOIN submissions s
    ON e.capability IS NULL AND e.subtype = 'job_credential_verify_result'
    AND s.gateway = e.gateway AND s.orchestrator_address = e.orchestrator_address
    AND s.event_time <= e.event_time AND s.event_time > e.event_time - INTERVAL '1 minute'
)
SELECT
  w.window_start,
  w.window_end,
  a.subtype AS check_type,
  a.capability,
  a.orchestrator_address,
  a.gateway,
  count(*) AS events,
  sum(CASE WHEN a.success THEN 1 ELSE 0 END) AS successes,
  sum(CASE WHEN a.success THEN 0 ELSE 1 END) AS failures
FROM attributed a
CROSS JOIN seal_window w
WHERE a.nearest = 1
GROUP BY w.window_start, w.window_end, a.subtype, a.capability, a.orchestrator_address, a.gateway
