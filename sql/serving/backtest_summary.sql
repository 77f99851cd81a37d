-- name: backtest_summary
-- params: run_id VARCHAR
-- inputs: backtests
-- description: one run's figures over its whole range (rows without a
--   window_start), per pipeline, model, rule version and metric, with
--   their 95 % bootstrap intervals.
SELECT
  pipeline,
  model,
  rule,
  rule_version,
  rule_digest,
  rule_source,
  metric,
  value,
  ci_low,
  ci_high,
  hours,
  pairs
FROM backtests
WHERE run_id = $1 AND window_start IS NULL
ORDER BY pipeline, model, rule, rule_version, rule_digest, metric
