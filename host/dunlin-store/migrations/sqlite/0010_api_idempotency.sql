-- The API's idempotency keys: the first response to a tenant's POST with an `Idempotency-Key`
-- header, replayed to a repeat of the same key on the same route. `status` is NULL while the
-- first request is still under way, so a concurrent repeat finds the key taken instead of
-- doing the work again. A key is forgotten after `expires_at`.
CREATE TABLE api_idempotency (
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    route           TEXT NOT NULL,
    key             TEXT NOT NULL,
    request_sha256  TEXT NOT NULL,
    status          INTEGER,
    body            TEXT,
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    PRIMARY KEY (tenant_id, route, key)
);
CREATE INDEX api_idempotency_expiry ON api_idempotency (tenant_id, expires_at);

-- What the tenant's own systems made of an action they executed (a payment retry, a letter,
-- a call), as the tenant reported it: what (succeeded, declined, delivered, reached, failed),
-- when, the decline code and its kind for a declined retry, a note, and when the report came.
ALTER TABLE actions ADD COLUMN outcome TEXT;
ALTER TABLE actions ADD COLUMN outcome_on TEXT;
ALTER TABLE actions ADD COLUMN outcome_code TEXT;
ALTER TABLE actions ADD COLUMN outcome_kind TEXT;
ALTER TABLE actions ADD COLUMN outcome_note TEXT;
ALTER TABLE actions ADD COLUMN outcome_reported_at TEXT;
