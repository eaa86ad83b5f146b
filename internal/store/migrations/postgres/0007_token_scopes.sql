ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'read';
UPDATE api_tokens SET scope = 'admin';
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
ALTER TABLE api_tokens ADD COLUMN id TEXT;
UPDATE api_tokens SET id = 'old-' || substr(hash, 1, 16);
CREATE UNIQUE INDEX api_tokens_id ON api_tokens (id);
