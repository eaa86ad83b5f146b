-- What on_error handled in a run: the step errors ignore and resume passed
-- over (a run that succeeded says so), the bundles a break stopped.
ALTER TABLE runs ADD COLUMN errors_ignored INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN errors_resumed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN bundles_broken INTEGER NOT NULL DEFAULT 0;

-- Reads look for running runs whose process is gone (runs.Store.LockDir).
CREATE INDEX runs_status ON runs (status);
