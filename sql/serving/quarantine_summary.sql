-- name: quarantine_summary
-- inputs: quarantine
-- description: quarantined messages by source and reason.
SELECT source, reason, count(*) AS messages
FROM quarantine
GROUP BY source, reason
ORDER BY source, reason
