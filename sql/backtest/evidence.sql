-- name: backtest_evidence
-- version: 1
-- owner: naap maintainers
-- inputs: payments, discovery_latency
-- output: (in memory, for naap backtest --weights)
-- description: what a gateway could see of each on-chain orchestrator in
--   an hour besides its score, for a weighted selection policy: the price
--   per pixel it was paid at (the middle of the hour's paid range, over
--   gateways) and the mean discovery round trip gateways measured in the
--   hour. Discovery names the operating address or the service URL: a URL
--   the payments of the range tie to a recipient counts for that
--   recipient, else the address discovery reported.
--   price_wei_per_pixel = (min(price_wei_per_pixel_min) + max(price_wei_per_pixel_max)) / 2
--   latency_ms = sum(latency_sum_ms) / sum(samples)
WITH urls AS (
  SELECT lower(orchestrator_url) AS url, min(lower(orchestrator)) AS orchestrator
  FROM payments
  WHERE orchestrator IS NOT NULL AND orchestrator_url IS NOT NULL
  GROUP BY 1
),
prices AS (
  SELECT
    CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) AS hour_ms,
    lower(orchestrator) AS orchestrator,
    (min(CAST(price_wei_per_pixel_min AS DOUBLE)) + max(CAST(price_wei_per_pixel_max AS DOUBLE))) / 2
      AS price_wei_per_pixel
  FROM payments
  WHERE orchestrator IS NOT NULL AND price_wei_per_pixel_min IS NOT NULL
  GROUP BY 1, 2
),
latency AS (
  SELECT
    CAST(CAST(d.window_start AS TIMESTAMP(3)) AS BIGINT) AS hour_ms,
    coalesce(u.orchestrator, lower(d.orchestrator_address)) AS orchestrator,
    sum(CAST(d.latency_sum_ms AS DOUBLE)) / sum(CAST(d.samples AS DOUBLE)) AS latency_ms
  FROM discovery_latency d
  LEFT JOIN urls u ON lower(d.orchestrator_url) = u.url
  WHERE d.samples > 0
  GROUP BY 1, 2
)
SELECT
  coalesce(p.hour_ms, l.hour_ms) AS hour_ms,
  coalesce(p.orchestrator, l.orchestrator) AS orchestrator,
  p.price_wei_per_pixel,
  l.latency_ms
FROM prices p
FULL OUTER JOIN latency l ON p.hour_ms = l.hour_ms AND p.orchestrator = l.orchestrator
WHERE coalesce(p.orchestrator, l.orchestrator) IS NOT NULL
