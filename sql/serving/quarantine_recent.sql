-- name: quarantine_recent
-- inputs: quarantine
-- description: the newest 100 quarantined messages with their detail.
SELECT source, source_partition, source_offset, reason, detail
FROM quarantine
ORDER BY source, source_partition, source_offset DESC
LIMIT 100
