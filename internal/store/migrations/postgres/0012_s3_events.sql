-- The URL tokens of flows' s3_event triggers (POST /events/{flow}/{token}),
-- by their SHA-256: a token is shown once, when it is made.
CREATE TABLE event_tokens (
    flow       TEXT PRIMARY KEY,
    hash       TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- The S3 event records an s3_event trigger started a run for, recorded in
-- the run's transaction; event is the SHA-256 of the record's event name,
-- time and version (else sequencer, else ETag), seen_at a Unix time in
-- seconds.
CREATE TABLE s3_event_seen (
    flow    TEXT NOT NULL,
    bucket  TEXT NOT NULL,
    key     TEXT NOT NULL,
    event   TEXT NOT NULL,
    seen_at BIGINT NOT NULL,
    PRIMARY KEY (flow, bucket, key, event)
);
