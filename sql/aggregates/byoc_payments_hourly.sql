-- name: byoc_payments_hourly
-- version: 1
-- owner: naap maintainers
-- inputs: byoc_payment_events, seal_window
-- output: byoc_payments_hourly
-- description: BYOC payment accounting per hour, subtype, capability,
--   orchestrator and gateway: events, compute charged (wei, as the
--   orchestrator reports it: price numerator × whole seconds), seconds
--   charged, charges made although the worker failed, ticket batches sent
--   and balance refusals. NaaP's hourly payments sum an amount no event
--   carries (always 0) and drop the stream cycles, which name no
--   capability; here a stream cycle counts under a null capability.
WITH events AS (
  SELECT e.* FROM (
    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY event_time) AS copy FROM byoc_payment_events
  ) e
  CROSS JOIN seal_window w
  WHERE e.copy = 1 AND e.event_time >= w.window_start AND e.event_time < w.window_end
)
SELECT
  w.window_start,
  w.window_end,
  e.subtype,
  e.capability,
  e.orchestrator_address,
  e.gateway,
  count(*) AS events,
  sum(e.total_charged_wei) AS charged_wei,
  sum(e.elapsed_seconds) AS charged_seconds,
  sum(CASE WHEN e.on_error THEN 1 ELSE 0 END) AS charged_on_error,
  sum(CASE WHEN e.with_tickets THEN 1 ELSE 0 END) AS ticket_batches,
  sum(CASE WHEN e.subtype = 'payment_insufficient_balance' THEN 1 ELSE 0 END) AS refusals,
  sum(CASE WHEN e.success = false THEN 1 ELSE 0 END) AS failed_cycles
FROM events e
CROSS JOIN seal_window w
GROUP BY w.window_start, w.window_end, e.subtype, e.capability, e.orchestrator_address, e.gateway
