-- name: backtest_hourly
-- params: run_id VARCHAR, metric VARCHAR
-- inputs: backtests
-- description: one run's per-hour values of one metric (the hour scored,
--   compared with the outcomes `horizon_hours` later), per pipeline, model
--   and rule version, oldest first: the dashboard's correlation chart.
SELECT
  pipeline,
  model,
  rule,
  rule_version,
  rule_digest,
  CAST(window_start AS VARCHAR) AS window_start,
  value,
  pairs
FROM backtests
WHERE run_id = $1 AND metric = $2 AND window_start IS NOT NULL
-- By position: the sixth column (the hour as text, which sorts as time)
-- shares its name with the table's timestamp.
ORDER BY 1, 2, 3, 4, 5, 6
