-- Scoped tokens: what a token may do (scopes, comma-separated), on which functions (a JSON
-- array; NULL for all), until when, and where it came from ('bootstrap' for the admin token
-- of FLINT_ADMIN_TOKEN or the data directory's admin-token file, 'api' otherwise).
ALTER TABLE api_tokens ADD COLUMN id TEXT;
ALTER TABLE api_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT 'admin';
ALTER TABLE api_tokens ADD COLUMN functions TEXT;
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
ALTER TABLE api_tokens ADD COLUMN last_used_at BIGINT;
ALTER TABLE api_tokens ADD COLUMN source TEXT NOT NULL DEFAULT 'api';
UPDATE api_tokens SET id = substr(token_hash, 1, 16);
UPDATE api_tokens SET source = 'bootstrap' WHERE name = 'admin';
CREATE UNIQUE INDEX api_tokens_by_id ON api_tokens (id);
