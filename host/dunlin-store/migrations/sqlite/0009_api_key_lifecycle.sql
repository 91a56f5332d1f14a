-- API keys get a public id (what `tenant key list` shows and `revoke` takes: the first 12 hex
-- digits of the key's sha256, which say nothing usable about the key), the time a request last
-- used one, and the time it was revoked (a revoked key finds no tenant; its row stays, so
-- the list still says what it was).
ALTER TABLE api_keys ADD COLUMN id TEXT NOT NULL DEFAULT '';
UPDATE api_keys SET id = substr(key_sha256, 1, 12);
ALTER TABLE api_keys ADD COLUMN last_used_at TEXT;
ALTER TABLE api_keys ADD COLUMN revoked_at TEXT;
CREATE UNIQUE INDEX api_keys_tenant_id ON api_keys (tenant_id, id);
