-- name: streaming_hours
-- params: start_ms BIGINT, end_ms BIGINT, sla_version INT, with_gpu BOOLEAN, after_ms BIGINT, after_key VARCHAR, rows BIGINT
-- inputs: sla_inputs_hourly, sla_hourly, gpu_inventory
-- description: live-video service per sealed hour starting in [start, end),
--   orchestrator (blank when unattributed), pipeline, model and GPU,
--   newest hour first, one page: NaaP's streaming SLA and GPU-metrics
--   rows. Sessions count in every hour they reported status in
--   (sla_inputs_hourly). The GPU is the one the orchestrator advertised
--   for that pipeline and model in that hour when it advertised exactly
--   one, else blank (sessions are not attributed to a GPU of several);
--   with_gpu keeps only rows with a GPU. sla_score is the served SLA
--   version's score (0..100, null without requested sessions). Paging:
--   rows after (after_ms, after_key) in (window_ms DESC, cursor_key)
--   order, cursor_key joining the keys with U+0001.
WITH service AS (
  SELECT window_start, coalesce(orchestrator, '') AS orchestrator_address,
    coalesce(nullif(pipeline, ''), 'live-video-to-video') AS pipeline_id, coalesce(model, '') AS model_id,
    sum(requested_sessions) AS requested_sessions,
    sum(startup_success_sessions) AS startup_success_sessions,
    sum(effective_failed_sessions) AS effective_failed_sessions,
    sum(swapped_sessions) AS swapped_sessions,
    sum(output_fps_sum) AS output_fps_sum,
    sum(status_samples) AS status_samples,
    sum(e2e_latency_sum_ms) AS e2e_latency_sum_ms,
    sum(e2e_latency_count) AS e2e_latency_count
  FROM sla_inputs_hourly
  WHERE CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) >= $1
    AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) < $2
  GROUP BY 1, 2, 3, 4
),
gpus AS (
  SELECT window_start, orchestrator, coalesce(nullif(pipeline, ''), 'live-video-to-video') AS pipeline_id,
    coalesce(model, '') AS model_id, min(gpu_id) AS gpu_id, min(coalesce(gpu_name, '')) AS gpu_model_name
  FROM gpu_inventory
  WHERE coalesce(gpu_id, '') <> ''
    AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) >= $1
    AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) < $2
  GROUP BY 1, 2, 3, 4
  HAVING count(DISTINCT gpu_id) = 1
),
scores AS (
  SELECT window_start, orchestrator, coalesce(nullif(pipeline, ''), 'live-video-to-video') AS pipeline_id,
    coalesce(model, '') AS model_id, max(sla_score) AS sla_score
  FROM sla_hourly
  WHERE rule = 'sla' AND rule_version = $3
    AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) >= $1
    AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) < $2
  GROUP BY 1, 2, 3, 4
),
keyed AS (
  SELECT
    CAST(CAST(s.window_start AS TIMESTAMP(3)) AS BIGINT) AS window_ms,
    s.orchestrator_address, s.pipeline_id, s.model_id,
    coalesce(g.gpu_id, '') AS gpu_id,
    coalesce(g.gpu_model_name, '') AS gpu_model_name,
    s.requested_sessions, s.startup_success_sessions, s.effective_failed_sessions, s.swapped_sessions,
    s.output_fps_sum, s.status_samples, s.e2e_latency_sum_ms, s.e2e_latency_count,
    c.sla_score,
    s.orchestrator_address || chr(1) || s.pipeline_id || chr(1) || s.model_id || chr(1) || coalesce(g.gpu_id, '')
      AS cursor_key
  FROM service s
  LEFT JOIN gpus g ON g.window_start = s.window_start AND g.orchestrator = s.orchestrator_address
    AND g.pipeline_id = s.pipeline_id AND g.model_id = s.model_id
  LEFT JOIN scores c ON c.window_start = s.window_start AND c.orchestrator = s.orchestrator_address
    AND c.pipeline_id = s.pipeline_id AND c.model_id = s.model_id
)
SELECT * FROM keyed
WHERE (NOT $4 OR gpu_id <> '')
  AND ($5 IS NULL OR window_ms < $5 OR (window_ms = $5 AND cursor_key > $6))
ORDER BY window_ms DESC, cursor_key
LIMIT $7
