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
WITH work AS (
  SELECT
    a.window_start, a.window_end,
    'ai-batch' AS family,
    a.pipeline,
    a.model_id AS model,
    CAST(NULL AS VARCHAR) AS orchestrator_address,
    a.orchestrator_url,
    a.gateway,
    a.selection_outcome = 'selected' AS selected,
    a.selection_outcome = 'no_orch' AS no_orch,
    a.success IS TRUE AS success,
    CAST(a.duration_ms AS DOUBLE) AS duration_ms,
    l.request_id IS NOT NULL AS llm,
    l.streaming,
    l.success AS llm_success,
    CAST(l.ttft_ms AS DOUBLE) AS ttft_ms,
    CAST(l.tokens_per_second AS DOUBLE) AS tokens_per_second,
    CASE WHEN l.completion_tokens > 0 THEN CAST(l.total_tokens AS DOUBLE) END AS total_tokens
  FROM ai_requests a
  LEFT JOIN llm_requests l
    ON l.window_start = a.window_start AND l.gateway = a.gateway AND l.request_id = a.request_id
  UNION ALL
  SELECT
    window_start, window_end,
    'byoc',
    capability,
    model,
    orchestrator_address,
    orchestrator_url,
    gateway,
    attempts > 0,
    outcome = 'no_orchestrators',
    success,
    CAST(duration_ms AS DOUBLE),
    false, CAST(NULL AS BOOLEAN), CAST(NULL AS BOOLEAN), CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE)
  FROM byoc_jobs
)
SELECT
  window_start,
  window_end,
  family,
  pipeline,
  model,
  orchestrator_address,
  orchestrator_url,
  gateway,
  count(*) AS jobs,
  sum(CASE WHEN selected THEN 1 ELSE 0 END) AS selected_jobs,
  sum(CASE WHEN no_orch THEN 1 ELSE 0 END) AS no_orch_jobs,
  sum(CASE WHEN success THEN 1 ELSE 0 END) AS success_jobs,
  sum(duration_ms) AS duration_ms_sum,
  count(duration_ms) AS duration_ms_count,
  ddsketch_agg(duration_ms) AS duration_sketch,
  sum(CASE WHEN llm THEN 1 ELSE 0 END) AS llm_requests,
  sum(CASE WHEN streaming THEN 1 ELSE 0 END) AS llm_streamed,
  sum(CASE WHEN llm_success THEN 1 ELSE 0 END) AS llm_success,
  sum(ttft_ms) AS ttft_ms_sum,
  count(ttft_ms) AS ttft_count,
  ddsketch_agg(ttft_ms) AS ttft_sketch,
  sum(tokens_per_second) AS tokens_per_second_sum,
  count(tokens_per_second) AS tokens_per_second_count,
  ddsketch_agg(tokens_per_second) AS tokens_per_second_sketch,
  sum(total_tokens) AS total_tokens_sum,
  count(total_tokens) AS total_tokens_count
FROM work
GROUP BY window_start, window_end, family, pipeline, model, orchestrator_address, orchestrator_url, gateway
