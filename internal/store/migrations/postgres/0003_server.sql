ALTER TABLE run_events ADD COLUMN path TEXT NOT NULL DEFAULT '';
CREATE INDEX run_events_run_path ON run_events (run_id, path, step_id);

CREATE TABLE api_tokens (
    name       TEXT PRIMARY KEY,
    hash       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    last_used  TEXT
);

CREATE TABLE flow_state (
    name    TEXT PRIMARY KEY,
    enabled BOOLEAN NOT NULL DEFAULT TRUE
);
