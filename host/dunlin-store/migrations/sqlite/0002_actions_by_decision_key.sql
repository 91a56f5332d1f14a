-- Actions name their decision by its key (tenant, invoice, as-of) instead of its row id, so a
-- sweep writes a page of decisions and their actions without reading ids back. The unique key
-- (tenant, invoice, as-of, ordinal) also serves the history lookups by invoice, so the
-- separate index on (tenant, invoice) goes. SQLite cannot drop a constrained column: rebuild.
CREATE TABLE actions_new (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id        TEXT NOT NULL,
    invoice_id       TEXT NOT NULL,
    as_of            TEXT NOT NULL,
    ordinal          INTEGER NOT NULL,
    customer_id      TEXT NOT NULL,
    kind             TEXT NOT NULL,
    channel          TEXT,
    level            INTEGER,
    tone             TEXT,
    payload          TEXT NOT NULL,       -- JSON of the Action
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT,
    last_error       TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    UNIQUE (tenant_id, invoice_id, as_of, ordinal),
    FOREIGN KEY (tenant_id, invoice_id, as_of) REFERENCES decisions (tenant_id, invoice_id, as_of)
);
INSERT INTO actions_new (id, tenant_id, invoice_id, as_of, ordinal, customer_id, kind, channel,
                         level, tone, payload, status, attempts, next_attempt_at, last_error,
                         created_at, updated_at)
SELECT id, tenant_id, invoice_id, as_of, ordinal, customer_id, kind, channel, level, tone,
       payload, status, attempts, next_attempt_at, last_error, created_at, updated_at
FROM actions;
DROP TABLE actions;
ALTER TABLE actions_new RENAME TO actions;
CREATE INDEX actions_customer ON actions (tenant_id, customer_id, as_of);
CREATE INDEX actions_pending ON actions (tenant_id, id) WHERE status = 'pending';
