-- History that scales: past a number of bundles per step (history_detail,
-- or the server's setting), a run keeps the bundles that went well as
-- counts, sizes and durations, one row per step and status, instead of one
-- event each. Failed, ignored and waiting bundles are always kept whole.
CREATE TABLE run_step_summaries (
    run_id          TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_id         TEXT NOT NULL,
    module          TEXT NOT NULL,
    status          TEXT NOT NULL,
    bundles         INTEGER NOT NULL DEFAULT 0,
    bytes           INTEGER NOT NULL DEFAULT 0,
    duration_us     INTEGER NOT NULL DEFAULT 0,
    min_duration_us INTEGER NOT NULL DEFAULT 0,
    max_duration_us INTEGER NOT NULL DEFAULT 0,
    first_started   TEXT NOT NULL,
    last_started    TEXT NOT NULL,
    PRIMARY KEY (run_id, step_id, status)
);
