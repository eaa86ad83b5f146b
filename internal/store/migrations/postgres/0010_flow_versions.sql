-- Every version of a flow file saved through the API (and the version on
-- disk it replaced, when that was written by hand), by content hash, with
-- who saved it and when. internal/flowfile writes it.
CREATE TABLE flow_versions (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    flow     TEXT NOT NULL,
    hash     TEXT NOT NULL,
    -- saved, restored, deleted, or found (on disk, written by hand)
    action   TEXT NOT NULL,
    yaml     TEXT NOT NULL,
    saved_by TEXT NOT NULL,
    saved_at TEXT NOT NULL
);
CREATE INDEX flow_versions_flow ON flow_versions (flow, id);
CREATE INDEX flow_versions_hash ON flow_versions (flow, hash);
