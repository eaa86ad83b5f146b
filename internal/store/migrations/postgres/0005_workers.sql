-- Which worker runs a run, its last sign of life (a dead worker's runs are
-- handed to another when it stops beating), and its job in the run queue
-- (to cancel or retry it).
ALTER TABLE runs ADD COLUMN worker TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN heartbeat_at TEXT;
ALTER TABLE runs ADD COLUMN job_id BIGINT;
CREATE INDEX runs_flow_status ON runs (flow, status);
