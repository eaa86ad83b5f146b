-- Where in the flow an event happened (the listing bundles that led to it),
-- so a resumed run knows what it did before.
ALTER TABLE run_events ADD COLUMN path TEXT NOT NULL DEFAULT '';
CREATE INDEX run_events_run_path ON run_events (run_id, path, step_id);

-- API tokens: only a SHA-256 of each token is kept.
CREATE TABLE api_tokens (
    name       TEXT PRIMARY KEY,
    hash       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    last_used  TEXT
);

-- Flows the server knows, with their enabled state.
CREATE TABLE flow_state (
    name    TEXT PRIMARY KEY,
    enabled INTEGER NOT NULL DEFAULT 1
);
