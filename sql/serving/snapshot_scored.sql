-- name: snapshot_scored
-- inputs: sla_hourly
-- description: every (orchestrator, pipeline, model) with an SLA row.
SELECT DISTINCT orchestrator, pipeline, model FROM sla_hourly
