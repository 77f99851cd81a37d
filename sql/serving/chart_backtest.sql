-- name: chart_backtest
-- params: run_id VARCHAR, pipeline VARCHAR, model VARCHAR
-- inputs: backtests
-- description: one backtest run's rank correlations per scored hour for
--   one pipeline and model, a series per rule version (file digest
--   included, so two files of one version stay apart): the backtest page's
--   charts.
SELECT
  CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) AS t,
  rule || ' v' || CAST(rule_version AS VARCHAR) || ' (' || left(rule_digest, 8) || ')' AS series,
  max(CASE WHEN metric = 'spearman_startup_success' THEN value END) AS startup_success,
  max(CASE WHEN metric = 'spearman_output_viability' THEN value END) AS output_viability,
  max(CASE WHEN metric = 'spearman_no_swap' THEN value END) AS no_swap,
  max(CASE WHEN metric = 'spearman_e2e_latency' THEN value END) AS e2e_latency
FROM backtests
WHERE run_id = $1 AND pipeline = $2 AND model = $3 AND window_start IS NOT NULL
GROUP BY 1, 2
ORDER BY 2, 1
