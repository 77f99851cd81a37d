-- name: perf_stats_latest
-- inputs: rule_rows (a rule version's output rows, registered by the feed)
-- description: the newest window of a rule version's output, in ms.
SELECT CAST(CAST(max(window_start) AS TIMESTAMP(3)) AS BIGINT) AS latest FROM rule_rows
