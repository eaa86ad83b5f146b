-- Connections: the secret and session token are AES-256-GCM ciphertexts.
CREATE TABLE connections (
    name              TEXT PRIMARY KEY,
    kind              TEXT NOT NULL,
    access_key_id     TEXT NOT NULL DEFAULT '',
    secret_enc        BLOB,
    session_token_enc BLOB,
    region            TEXT NOT NULL DEFAULT '',
    endpoint          TEXT NOT NULL DEFAULT '',
    path_style        INTEGER NOT NULL DEFAULT 0,
    checksum_mode     TEXT NOT NULL DEFAULT '',
    verify_status     TEXT NOT NULL DEFAULT '',
    created_at        TEXT NOT NULL,
    verified_at       TEXT
);

-- meta holds facts about the store itself, e.g. the ciphertext that proves
-- the encryption key is the one the secrets were written with.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
