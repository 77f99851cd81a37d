-- name: requests_models
-- params: start_ms BIGINT, end_ms BIGINT
-- inputs: capability_snapshots, byoc_workers, requests_hourly
-- description: every (pipeline, model) offered or asked for in [start,
--   end), per job type: ai-batch offers are the batch pipelines of the
--   capability snapshots (warm orchestrators, GPU slots), byoc offers the
--   runners of byoc_workers (GPUs unknown: null); demand is requests_hourly.
--   A model asked for but offered by nobody is listed with 0 warm
--   orchestrators (NaaP drops it); success_rate and avg_duration_ms are
--   null without jobs or durations.
WITH offers AS (
  SELECT 'ai-batch' AS job_type, pipeline, model_id AS model,
    count(DISTINCT address) AS warm_orch_count,
    count(DISTINCT address || '/' || gpu_id) AS gpu_slots
  FROM capability_snapshots
  WHERE pipeline IS NOT NULL AND model_id IS NOT NULL AND pipeline <> 'live-video-to-video'
    AND CAST(CAST(event_time AS TIMESTAMP(3)) AS BIGINT) >= $1
    AND CAST(CAST(event_time AS TIMESTAMP(3)) AS BIGINT) < $2
  GROUP BY pipeline, model_id
  UNION ALL
  SELECT 'byoc', capability, model, count(DISTINCT orchestrator_address), CAST(NULL AS BIGINT)
  FROM byoc_workers
  WHERE CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) >= $1
    AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) < $2
  GROUP BY capability, model
),
demand AS (
  SELECT family AS job_type, pipeline, model,
    sum(jobs) AS jobs,
    sum(success_jobs) AS success_jobs,
    sum(duration_ms_sum) AS duration_ms_sum,
    sum(duration_ms_count) AS duration_ms_count
  FROM requests_hourly
  WHERE CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) >= $1
    AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) < $2
  GROUP BY family, pipeline, model
)
SELECT
  coalesce(o.pipeline, d.pipeline) AS pipeline,
  coalesce(o.model, d.model) AS model,
  coalesce(o.job_type, d.job_type) AS job_type,
  coalesce(o.warm_orch_count, 0) AS warm_orch_count,
  coalesce(o.gpu_slots, 0) AS gpu_slots,
  coalesce(d.jobs, 0) AS job_count_24h,
  round(CAST(d.success_jobs AS DOUBLE) / CAST(nullif(d.jobs, 0) AS DOUBLE), 3) AS success_rate,
  round(d.duration_ms_sum / CAST(nullif(d.duration_ms_count, 0) AS DOUBLE)) AS avg_duration_ms
FROM offers o
FULL OUTER JOIN demand d
  ON d.job_type = o.job_type AND d.pipeline = o.pipeline AND coalesce(d.model, '') = coalesce(o.model, '')
ORDER BY job_type, pipeline, model
