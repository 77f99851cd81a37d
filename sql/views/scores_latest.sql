-- name: scores_latest
-- version: 1
-- owner: naap maintainers
-- inputs: scores_history (every window's score rows, the lake table `scores`)
-- output: scores
-- description: the newest window per orchestrator, rule and rule version:
--   what gateways read. Orchestrators with no scored window are absent,
--   never 0.
SELECT * EXCLUDE (newest_first, date, hour)
FROM (
  SELECT
    *,
    row_number() OVER (PARTITION BY orchestrator, rule, rule_version ORDER BY window_start DESC) AS newest_first
  FROM scores_history
)
WHERE newest_first = 1
