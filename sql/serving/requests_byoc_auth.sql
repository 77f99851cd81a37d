-- name: requests_byoc_auth
-- params: start_ms BIGINT, end_ms BIGINT
-- inputs: byoc_auth_hourly
-- description: BYOC authentication per capability over the sealed hours
--   starting in [start, end): credential checks and stream auth webhooks,
--   failures included (NaaP sees neither failures nor webhooks).
SELECT
  capability,
  sum(events) AS total_events,
  CAST(sum(successes) AS DOUBLE) / CAST(sum(events) AS DOUBLE) AS success_rate,
  sum(failures) AS failure_count,
  coalesce(sum(events) FILTER (WHERE check_type = 'job_auth_webhook_result'), 0) AS webhook_events
FROM byoc_auth_hourly
WHERE capability IS NOT NULL
  AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) >= $1
  AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) < $2
GROUP BY capability
ORDER BY capability
