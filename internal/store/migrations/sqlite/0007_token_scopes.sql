-- API tokens get a scope (read, run or admin), an end and an id that
-- download tickets are bound to. Tokens made before scopes existed keep the
-- full rights they had; a row written without a scope gets the least.
-- expires_at is unix seconds (NULL: never), so it compares as a number.
ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'read';
UPDATE api_tokens SET scope = 'admin';
ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER;
-- The id names a token in tickets without giving away its hash.
ALTER TABLE api_tokens ADD COLUMN id TEXT;
UPDATE api_tokens SET id = 'old-' || substr(hash, 1, 16);
CREATE UNIQUE INDEX api_tokens_id ON api_tokens (id);
