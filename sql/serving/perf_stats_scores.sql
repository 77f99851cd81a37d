-- name: perf_stats_scores
-- params: window_ms BIGINT
-- inputs: rule_rows (orchestrator, window_start, score 0..100, weight,
--   success_rate, round_trip_score: a rule version's rows in that shape)
-- description: per orchestrator, the score of one window in 0..1 and its
--   success and latency parts, each weighted (requested sessions for the
--   SLA, 1 for a rule without them).
SELECT
  orchestrator,
  weighted_avg(score, weight) / 100.0 AS score,
  weighted_avg(success_rate, weight) AS success_rate,
  weighted_avg(round_trip_score, weight) AS round_trip_score
FROM rule_rows
WHERE CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) = $1
  AND score IS NOT NULL
  AND weight > 0
GROUP BY orchestrator
