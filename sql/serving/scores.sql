-- name: scores
-- inputs: scores
-- description: every orchestrator's newest score of every rule version
--   (the `/v1/scores` snapshot and the Flight ticket `scores`); each row
--   names its rule and version, so gateways choose.
SELECT * FROM scores ORDER BY orchestrator, rule, rule_version
