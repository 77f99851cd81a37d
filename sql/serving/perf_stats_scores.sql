-- name: perf_stats_scores
-- params: within_ms BIGINT
-- inputs: rule_rows (orchestrator, window_start, score 0..100, weight,
--   success_rate, round_trip_score: a rule version's rows in that shape)
-- description: per orchestrator, the score of its newest scored window
--   among those that start less than `within_ms` before the newest window
--   of the rows (an orchestrator quiet in the newest hour keeps its
--   previous one), in 0..1, with its success and latency parts, each
--   weighted (requested sessions for the SLA, 1 for a rule without them),
--   and the window used (ms).
WITH usable AS (
  SELECT *, CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) AS window_ms
  FROM rule_rows
  WHERE score IS NOT NULL AND weight > 0
),
recent AS (
  SELECT * FROM usable
  WHERE window_ms > (SELECT max(CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT)) FROM rule_rows) - $1
),
newest AS (
  SELECT orchestrator, max(window_ms) AS window_ms FROM recent GROUP BY orchestrator
)
SELECT
  r.orchestrator,
  weighted_avg(r.score, r.weight) / 100.0 AS score,
  weighted_avg(r.success_rate, r.weight) AS success_rate,
  weighted_avg(r.round_trip_score, r.weight) AS round_trip_score,
  n.window_ms
FROM recent r
JOIN newest n ON r.orchestrator = n.orchestrator AND r.window_ms = n.window_ms
GROUP BY r.orchestrator, n.window_ms
