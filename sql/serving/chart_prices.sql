-- name: chart_prices
-- params: from_ms BIGINT, to_ms BIGINT
-- inputs: payments
-- description: the dashboard's price series: per sealed hour starting in
--   [from, to), the lowest and highest price per pixel (wei) that the
--   tickets gateways sent carried, network-wide.
SELECT t, series, wei_per_pixel FROM (
  SELECT CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) AS t, 'lowest' AS series,
    min(price_wei_per_pixel_min) AS wei_per_pixel
  FROM payments GROUP BY 1
  UNION ALL
  SELECT CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT), 'highest', max(price_wei_per_pixel_max)
  FROM payments GROUP BY 1
)
WHERE t >= $1 AND t < $2
ORDER BY 2, 1
