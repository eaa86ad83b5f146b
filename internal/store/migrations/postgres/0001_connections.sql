-- Connections: the secret and session token are AES-256-GCM ciphertexts.
-- The PostgreSQL twin of sqlite/0001_connections.sql: same tables, same
-- columns, native types where SQLite has none.
CREATE TABLE connections (
    name              TEXT PRIMARY KEY,
    kind              TEXT NOT NULL,
    access_key_id     TEXT NOT NULL DEFAULT '',
    secret_enc        BYTEA,
    session_token_enc BYTEA,
    region            TEXT NOT NULL DEFAULT '',
    endpoint          TEXT NOT NULL DEFAULT '',
    path_style        BOOLEAN NOT NULL DEFAULT FALSE,
    checksum_mode     TEXT NOT NULL DEFAULT '',
    verify_status     TEXT NOT NULL DEFAULT '',
    created_at        TEXT NOT NULL,
    verified_at       TEXT
);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);
