-- name: uptime
-- version: 1
-- owner: naap maintainers
-- inputs: telemetry_1m
-- output: scores
-- description: job-agnostic service score per orchestrator and minute, 0-100.
--   uptime_ratio        = heartbeats seen / heartbeats promised by the nodes
--                         seen in the window (each node promises one per
--                         heartbeat_interval_ms), capped at 1; 0 when only
--                         probes saw the orchestrator (it was observed but
--                         silent); null when nothing at all was seen.
--   probe_success_ratio = successful probes / probes (null without probes).
--   latency_score       = 1 at or below a p95 of 100 ms, 0 at or above
--                         500 ms, linear in between; 0.5 (neutral) when no
--                         probe succeeded, so missing evidence neither helps
--                         nor ruins a score.
--   score = 100 * (0.6 * uptime + 0.2 * probe success + 0.2 * latency score),
--           probe success defaulting to uptime when there were no probes.
--   Windows without any evidence produce no row: "no data" is never 0.
WITH per_orchestrator AS (
  SELECT
    orchestrator,
    window_start,
    window_end,
    sum(heartbeats) AS heartbeats_seen,
    sum(CASE WHEN heartbeat_interval_ms > 0 THEN 60000 / heartbeat_interval_ms ELSE 0 END) AS heartbeats_expected,
    sum(probes) AS probes,
    sum(probes_ok) AS probes_ok,
    ddsketch_merge(latency_sketch) AS latency_sketch
  FROM telemetry_1m
  GROUP BY orchestrator, window_start, window_end
),
components AS (
  SELECT
    orchestrator,
    window_start,
    window_end,
    heartbeats_seen,
    heartbeats_expected,
    probes,
    probes_ok,
    CASE
      WHEN heartbeats_expected > 0 THEN least(CAST(heartbeats_seen AS DOUBLE) / heartbeats_expected, 1.0)
      WHEN probes > 0 THEN 0.0
    END AS uptime_ratio,
    CASE WHEN probes > 0 THEN CAST(probes_ok AS DOUBLE) / probes END AS probe_success_ratio,
    ddsketch_quantile(latency_sketch, 0.5) AS latency_p50_ms,
    ddsketch_quantile(latency_sketch, 0.95) AS latency_p95_ms,
    ddsketch_quantile(latency_sketch, 0.99) AS latency_p99_ms
  FROM per_orchestrator
),
scored AS (
  SELECT
    *,
    -- least()/greatest() skip nulls, so missing evidence is handled first.
    CASE
      WHEN latency_p95_ms IS NULL THEN 0.5
      ELSE greatest(least((500.0 - latency_p95_ms) / 400.0, 1.0), 0.0)
    END AS latency_score
  FROM components
  WHERE uptime_ratio IS NOT NULL
)
SELECT
  orchestrator,
  'uptime' AS rule,
  CAST(1 AS INT) AS rule_version,
  window_start,
  window_end,
  round(100.0 * (0.6 * uptime_ratio + 0.2 * coalesce(probe_success_ratio, uptime_ratio) + 0.2 * latency_score), 3) AS score,
  uptime_ratio,
  probe_success_ratio,
  latency_score,
  latency_p50_ms,
  latency_p95_ms,
  latency_p99_ms,
  heartbeats_seen,
  heartbeats_expected,
  probes,
  probes_ok
FROM scored
