-- name: backtest_runs
-- inputs: backtests
-- description: the 20 newest backtest runs (`naap backtest`), newest
--   first: when each ran, the hours it scored, its horizon and top k, and
--   the rule versions it compared.
SELECT
  run_id,
  CAST(max(run_at) AS VARCHAR) AS run_at,
  CAST(min(range_start) AS VARCHAR) AS range_start,
  CAST(max(range_end) AS VARCHAR) AS range_end,
  max(horizon_hours) AS horizon_hours,
  max(top_k) AS top_k,
  array_to_string(array_sort(array_distinct(array_agg(rule || ' v' || CAST(rule_version AS VARCHAR)))), ', ')
    AS rules
FROM backtests
GROUP BY run_id
ORDER BY max(backtests.run_at) DESC, run_id
LIMIT 20
