-- name: requests_hourly
-- version: 1
-- owner: naap maintainers
-- inputs: ai_requests, llm_requests, byoc_jobs
-- output: requests_hourly
-- description: additive per-hour demand for non-live work, per family
--   (ai-batch: ai_requests; byoc: byoc_jobs), pipeline (the BYOC
--   capability), model, orchestrator and gateway: NaaP's hourly request
--   demand, with DDSketches beside the sums so percentiles merge across
--   hours exactly. jobs counts requests (ai-batch) or jobs across their
--   attempts (byoc); selected_jobs those an orchestrator was tried for;
--   no_orch_jobs those none was found for. duration_ms_* cover the jobs
--   with a duration (every AI request; a BYOC job that succeeded). The
--   llm_* columns follow llm_requests: TTFT over streams, tokens/s and
--   tokens over requests that produced tokens, success not counting broken
--   streams.
-- (Each family is aggregated on its own and the rows united: a boolean
-- carried through UNION ALL trips DataFusion's nullability check.)
WITH ai AS (
  SELECT
    a.window_start,
    a.window_end,
    'ai-batch' AS family,
    a.pipeline,
    a.model_id AS model,
    a.orchestrator_address,
    a.orchestrator_url,
    a.gateway,
    count(*) AS jobs,
    sum(CASE WHEN a.selection_outcome = 'selected' THEN 1 ELSE 0 END) AS selected_jobs,
    sum(CASE WHEN a.selection_outcome = 'no_orch' THEN 1 ELSE 0 END) AS no_orch_jobs,
    sum(CASE WHEN a.success THEN 1 ELSE 0 END) AS success_jobs,
    sum(CAST(a.duration_ms AS DOUBLE)) AS duration_ms_sum,
    count(a.duration_ms) AS duration_ms_count,
    ddsketch_agg(CAST(a.duration_ms AS DOUBLE)) AS duration_sketch,
    sum(CASE WHEN l.request_id IS NOT NULL THEN 1 ELSE 0 END) AS llm_requests,
    sum(CASE WHEN l.streaming THEN 1 ELSE 0 END) AS llm_streamed,
    sum(CASE WHEN l.success THEN 1 ELSE 0 END) AS llm_success,
    sum(CAST(l.ttft_ms AS DOUBLE)) AS ttft_ms_sum,
    count(l.ttft_ms) AS ttft_count,
    ddsketch_agg(CAST(l.ttft_ms AS DOUBLE)) AS ttft_sketch,
    sum(CAST(l.tokens_per_second AS DOUBLE)) AS tokens_per_second_sum,
    count(l.tokens_per_second) AS tokens_per_second_count,
    ddsketch_agg(CAST(l.tokens_per_second AS DOUBLE)) AS tokens_per_second_sketch,
    sum(CASE WHEN l.completion_tokens > 0 THEN CAST(l.total_tokens AS DOUBLE) END) AS total_tokens_sum,
    count(CASE WHEN l.completion_tokens > 0 THEN l.total_tokens END) AS total_tokens_count
  FROM ai_requests a
  LEFT JOIN llm_requests l
    ON l.window_start = a.window_start AND l.gateway = a.gateway AND l.request_id = a.request_id
  GROUP BY a.window_start, a.window_end, a.pipeline, a.model_id, a.orchestrator_address, a.orchestrator_url, a.gateway
),
byoc AS (
  SELECT
    window_start,
    window_end,
    'byoc' AS family,
    capability AS pipeline,
    model,
    orchestrator_address,
    orchestrator_url,
    gateway,
    count(*) AS jobs,
    sum(CASE WHEN attempts > 0 THEN 1 ELSE 0 END) AS selected_jobs,
    sum(CASE WHEN outcome = 'no_orchestrators' THEN 1 ELSE 0 END) AS no_orch_jobs,
    sum(CASE WHEN success THEN 1 ELSE 0 END) AS success_jobs,
    sum(CAST(duration_ms AS DOUBLE)) AS duration_ms_sum,
    count(duration_ms) AS duration_ms_count,
    ddsketch_agg(CAST(duration_ms AS DOUBLE)) AS duration_sketch,
    CAST(NULL AS BIGINT) AS llm_requests,
    CAST(NULL AS BIGINT) AS llm_streamed,
    CAST(NULL AS BIGINT) AS llm_success,
    CAST(NULL AS DOUBLE) AS ttft_ms_sum,
    CAST(0 AS BIGINT) AS ttft_count,
    arrow_cast(NULL, 'Binary') AS ttft_sketch,
    CAST(NULL AS DOUBLE) AS tokens_per_second_sum,
    CAST(0 AS BIGINT) AS tokens_per_second_count,
    arrow_cast(NULL, 'Binary') AS tokens_per_second_sketch,
    CAST(NULL AS DOUBLE) AS total_tokens_sum,
    CAST(0 AS BIGINT) AS total_tokens_count
  FROM byoc_jobs
  GROUP BY window_start, window_end, capability, model, orchestrator_address, orchestrator_url, gateway
)
SELECT * FROM ai
UNION ALL
SELECT * FROM byoc
