-- A sweep writes a decision, its actions and the invoice's state one row at a time
-- (src/sqlite/direct.rs), so per-row costs that a multi-row statement used to share now
-- count for every invoice. Two of them bought nothing:
-- * AUTOINCREMENT on decisions and actions reads and rewrites `sqlite_sequence` per insert.
--   Without it a new row's id is the largest id + 1; rows of the log and the outbox are never
--   deleted, so ids still only grow and paging by id is unchanged.
-- * The index on dunning_state (tenant_id, next_review_on): no query uses it (the page query
--   reaches states through their primary key), yet every recorded state updated it.
-- Measured with callgrind on 20,000 invoices written the sweep's way: 7 % and 8 % of the
-- writer's instructions.
--
-- SQLite cannot drop AUTOINCREMENT from a table: rebuild both. The new actions table
-- references the new decisions table from the start, so neither drop leaves a dangling
-- reference; the renames then point it at `decisions`.
CREATE TABLE decisions_new (
    id               INTEGER PRIMARY KEY,
    tenant_id        TEXT NOT NULL,
    invoice_id       TEXT NOT NULL,
    as_of            TEXT NOT NULL,
    policy_version   INTEGER,
    policy_sha256    TEXT,
    context          BLOB NOT NULL,      -- zstd-compressed JSON of the policy's Context
    decision         TEXT,                -- JSON of the Decision, absent on failure
    reason           TEXT NOT NULL,
    interventions    TEXT NOT NULL,       -- JSON array from the guardrails
    fuel_used        INTEGER,
    duration_us      INTEGER,
    failure_code     TEXT,
    failure_message  TEXT,
    created_at       TEXT NOT NULL,
    UNIQUE (tenant_id, invoice_id, as_of),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id)
);

CREATE TABLE actions_new (
    id               INTEGER PRIMARY KEY,
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
    FOREIGN KEY (tenant_id, invoice_id, as_of)
        REFERENCES decisions_new (tenant_id, invoice_id, as_of)
);

INSERT INTO decisions_new (id, tenant_id, invoice_id, as_of, policy_version, policy_sha256,
                           context, decision, reason, interventions, fuel_used, duration_us,
                           failure_code, failure_message, created_at)
SELECT id, tenant_id, invoice_id, as_of, policy_version, policy_sha256, context, decision,
       reason, interventions, fuel_used, duration_us, failure_code, failure_message, created_at
FROM decisions;

INSERT INTO actions_new (id, tenant_id, invoice_id, as_of, ordinal, customer_id, kind, channel,
                         level, tone, payload, status, attempts, next_attempt_at, last_error,
                         created_at, updated_at)
SELECT id, tenant_id, invoice_id, as_of, ordinal, customer_id, kind, channel, level, tone,
       payload, status, attempts, next_attempt_at, last_error, created_at, updated_at
FROM actions;

DROP TABLE actions;
DROP TABLE decisions;
ALTER TABLE decisions_new RENAME TO decisions;
ALTER TABLE actions_new RENAME TO actions;
CREATE INDEX actions_customer ON actions (tenant_id, customer_id, as_of);
CREATE INDEX actions_pending ON actions (tenant_id, id) WHERE status = 'pending';

DROP INDEX dunning_state_review;
