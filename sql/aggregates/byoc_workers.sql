-- name: byoc_workers
-- version: 1
-- owner: naap maintainers
-- inputs: worker_events, byoc_attempts, seal_window
-- output: byoc_workers
-- description: the BYOC runner inventory of the hour: one row per runner
--   (orchestrator address, capability, worker URL) attached at some time in
--   the hour, that is registered before the hour's end (back to the seal
--   lookback) and not unregistered before it began. An orchestrator event
--   counts once however many gateways drained it (worker_event_id);
--   last_seen_at is the latest drain of its registration or its
--   unregistration. Model,
--   options and price are the runner's latest registration's; state is the
--   runner's at the hour's end: gone once unregistered (by its URL, or by
--   capability alone when the URL is empty), saturated after a
--   capacity_exhausted on its orchestrator and capability until the next
--   registration there or a job that succeeded there, else active. NaaP
--   instead counts every event, copies, unregistrations and exhaustions
--   included, as a worker observation.
WITH events AS (
  SELECT e.* FROM (
    SELECT *,
      row_number() OVER (PARTITION BY worker_event_id ORDER BY event_time, gateway) AS copy,
      count(*) OVER (PARTITION BY worker_event_id) AS copies,
      max(event_time) OVER (PARTITION BY worker_event_id) AS last_copy_at
    FROM worker_events
  ) e
  CROSS JOIN seal_window w
  WHERE e.copy = 1 AND e.event_time >= w.lookback_start AND e.event_time < w.window_end
),
latest_registration AS (
  SELECT * FROM (
    SELECT *,
      row_number() OVER (
        PARTITION BY orchestrator_address, capability, worker_url ORDER BY event_time DESC, worker_event_id
      ) AS newest
    FROM events
    WHERE subtype = 'worker_registered' AND orchestrator_address IS NOT NULL
  ) WHERE newest = 1
),
unregistrations AS (
  SELECT r.worker_event_id,
    min(u.event_time) AS unregistered_at,
    first_value(u.reason ORDER BY u.event_time) AS unregister_reason
  FROM latest_registration r
  JOIN events u
    ON u.subtype = 'worker_unregistered'
    AND u.orchestrator_address = r.orchestrator_address AND u.capability = r.capability
    AND (u.worker_url = coalesce(r.worker_url, '') OR u.worker_url = '')
    AND u.event_time >= r.event_time
  GROUP BY r.worker_event_id
),
exhaustions AS (
  SELECT r.worker_event_id,
    max(x.event_time) FILTER (WHERE x.event_time >= r.event_time) AS exhausted_at,
    count(*) FILTER (WHERE x.event_time >= w.window_start) AS exhaustions_in_hour
  FROM latest_registration r
  CROSS JOIN seal_window w
  JOIN events x
    ON x.subtype = 'worker_capacity_exhausted'
    AND x.orchestrator_address = r.orchestrator_address AND x.capability = r.capability
  GROUP BY r.worker_event_id
),
-- What ends saturation on an orchestrator and capability: a runner
-- registering there, or a job succeeding there.
relief AS (
  SELECT orchestrator_address, capability, event_time AS relieved_at FROM events
  WHERE subtype = 'worker_registered'
  UNION ALL
  SELECT orchestrator_address, capability, coalesce(completed_at, submitted_at) FROM byoc_attempts
  WHERE outcome = 'ok'
),
saturation AS (
  SELECT r.worker_event_id
  FROM latest_registration r
  JOIN exhaustions x ON x.worker_event_id = r.worker_event_id AND x.exhausted_at IS NOT NULL
  LEFT JOIN relief f
    ON f.orchestrator_address = r.orchestrator_address AND f.capability = r.capability
    AND f.relieved_at > x.exhausted_at
  GROUP BY r.worker_event_id
  HAVING count(f.relieved_at) = 0
)
SELECT
  w.window_start,
  w.window_end,
  r.orchestrator_address,
  r.orchestrator_url,
  r.capability,
  r.worker_url,
  r.models[1] AS model,
  r.models,
  r.options_count,
  r.price_per_unit,
  r.price_scaling,
  CAST(r.price_per_unit AS DOUBLE) / CAST(greatest(r.price_scaling, 1) AS DOUBLE) AS price_wei_per_second,
  r.event_time AS registered_at,
  u.unregistered_at,
  greatest(r.last_copy_at, coalesce(u.unregistered_at, r.last_copy_at)) AS last_seen_at,
  u.unregister_reason,
  CASE
    WHEN u.unregistered_at IS NOT NULL THEN 'gone'
    WHEN s.worker_event_id IS NOT NULL THEN 'saturated'
    ELSE 'active'
  END AS state,
  CAST(coalesce(x.exhaustions_in_hour, 0) AS BIGINT) AS exhaustions_in_hour,
  CAST(r.copies AS BIGINT) AS registration_copies
FROM latest_registration r
CROSS JOIN seal_window w
LEFT JOIN unregistrations u ON u.worker_event_id = r.worker_event_id
LEFT JOIN exhaustions x ON x.worker_event_id = r.worker_event_id
LEFT JOIN saturation s ON s.worker_event_id = r.worker_event_id
WHERE u.unregistered_at IS NULL OR u.unregistered_at >= w.window_start
