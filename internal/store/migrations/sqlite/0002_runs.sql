-- Run history: one row per run, one per step event (a step's work on one
-- bundle). Bundles are stored as JSON, truncated, without file data or
-- secrets.
CREATE TABLE runs (
    id          TEXT PRIMARY KEY,
    flow        TEXT NOT NULL,
    flow_file   TEXT NOT NULL DEFAULT '',
    flow_hash   TEXT NOT NULL DEFAULT '',
    inputs      TEXT NOT NULL DEFAULT '{}',
    trigger     TEXT NOT NULL DEFAULT '{}',
    status      TEXT NOT NULL,
    error       TEXT NOT NULL DEFAULT '',
    started_at  TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX runs_flow_started ON runs (flow, started_at);
CREATE INDEX runs_started ON runs (started_at);

CREATE TABLE run_events (
    run_id      TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    step_id     TEXT NOT NULL,
    step_index  INTEGER NOT NULL,
    module      TEXT NOT NULL,
    attempt     INTEGER NOT NULL DEFAULT 0,
    status      TEXT NOT NULL,
    input       TEXT,
    output      TEXT,
    error       TEXT NOT NULL DEFAULT '',
    started_at  TEXT NOT NULL,
    duration_us INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, seq)
);
