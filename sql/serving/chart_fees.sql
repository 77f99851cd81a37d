-- name: chart_fees
-- params: from_ms BIGINT, to_ms BIGINT
-- inputs: payments
-- description: the dashboard's fee series: per sealed hour starting in
--   [from, to), the expected value of the tickets gateways sent (what
--   orchestrators earn on average) and their face value, in ETH.
SELECT t, series, eth FROM (
  SELECT CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) AS t, 'expected value' AS series,
    CAST(sum(expected_value_wei) AS DOUBLE) / 1e18 AS eth
  FROM payments GROUP BY 1
  UNION ALL
  SELECT CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT), 'face value',
    CAST(sum(face_value_wei) AS DOUBLE) / 1e18
  FROM payments GROUP BY 1
)
WHERE t >= $1 AND t < $2
ORDER BY 2, 1
