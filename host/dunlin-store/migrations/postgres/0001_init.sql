-- Dunlin's schema, PostgreSQL flavour. Keep in step with migrations/sqlite: same tables, same
-- columns, same constraints; only the column types differ.
-- Every row belongs to one tenant, and every key starts with tenant_id.

CREATE TABLE tenants (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    time_zone     TEXT NOT NULL,
    schedule      TEXT NOT NULL,
    guardrails    TEXT NOT NULL,          -- JSON object, read by the guardrails
    failure_mode  TEXT NOT NULL,
    params        TEXT NOT NULL,          -- JSON object of strings, given to the policy
    lead_days     BIGINT NOT NULL CHECK (lead_days >= 0),
    last_tick_at  TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_keys (
    key_sha256  TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    label       TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

CREATE TABLE policy_versions (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    version       BIGINT NOT NULL CHECK (version > 0),
    sha256        TEXT NOT NULL,
    bytes         BYTEA NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('uploaded', 'active', 'retired')),
    created_at    TIMESTAMPTZ NOT NULL,
    activated_at  TIMESTAMPTZ,
    PRIMARY KEY (tenant_id, version),
    UNIQUE (tenant_id, sha256)
);
-- At most one active version per tenant, whatever the code does.
CREATE UNIQUE INDEX policy_versions_one_active ON policy_versions (tenant_id) WHERE status = 'active';

CREATE TABLE customers (
    tenant_id             TEXT NOT NULL REFERENCES tenants (id),
    id                    TEXT NOT NULL,
    tags                  TEXT NOT NULL,  -- JSON array of strings
    lifetime_value_minor  BIGINT NOT NULL,
    lifetime_currency     TEXT NOT NULL,
    customer_since        DATE NOT NULL,
    on_time_12m           BIGINT NOT NULL CHECK (on_time_12m >= 0),
    late_12m              BIGINT NOT NULL CHECK (late_12m >= 0),
    locale                TEXT NOT NULL,
    time_zone             TEXT NOT NULL,
    reachable_on          TEXT NOT NULL,  -- JSON array of channels
    opted_out             TEXT NOT NULL,  -- JSON array of channels
    contact               TEXT NOT NULL,  -- JSON object: addresses for delivery
    updated_at            TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE invoices (
    tenant_id           TEXT NOT NULL,
    id                  TEXT NOT NULL,
    customer_id         TEXT NOT NULL,
    number              TEXT NOT NULL,
    issued_on           DATE NOT NULL,
    due_on              DATE NOT NULL,
    amount_minor        BIGINT NOT NULL CHECK (amount_minor >= 0),
    currency            TEXT NOT NULL,
    open_balance_minor  BIGINT NOT NULL,
    payment_method      TEXT NOT NULL,
    failed_attempts     BIGINT NOT NULL CHECK (failed_attempts >= 0),
    last_failure_on     DATE,
    last_failure_code   TEXT,
    last_failure_kind   TEXT,
    status              TEXT NOT NULL CHECK (status IN ('open', 'paid', 'void', 'written-off')),
    metadata            TEXT NOT NULL,    -- JSON object of strings
    updated_at          TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
CREATE INDEX invoices_customer ON invoices (tenant_id, customer_id, status);

CREATE TABLE payments (
    tenant_id     TEXT NOT NULL,
    id            TEXT NOT NULL,
    invoice_id    TEXT NOT NULL,
    amount_minor  BIGINT NOT NULL CHECK (amount_minor > 0),
    currency      TEXT NOT NULL,
    paid_on       DATE NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id)
);
CREATE INDEX payments_invoice ON payments (tenant_id, invoice_id);

CREATE TABLE disputes (
    tenant_id    TEXT NOT NULL,
    id           TEXT NOT NULL,
    invoice_id   TEXT NOT NULL,
    opened_on    DATE NOT NULL,
    reason       TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
    resolved_on  DATE,
    updated_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id)
);
CREATE INDEX disputes_invoice ON disputes (tenant_id, invoice_id);

-- Payment plans and promises to pay: while one is active and not expired, no contact.
CREATE TABLE payment_plans (
    tenant_id    TEXT NOT NULL,
    id           TEXT NOT NULL,
    invoice_id   TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('plan', 'promise')),
    agreed_on    DATE NOT NULL,
    expires_on   DATE NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('active', 'kept', 'broken', 'cancelled')),
    updated_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id)
);
CREATE INDEX payment_plans_invoice ON payment_plans (tenant_id, invoice_id);

CREATE TABLE dunning_state (
    tenant_id       TEXT NOT NULL,
    invoice_id      TEXT NOT NULL,
    level           BIGINT NOT NULL,
    last_action_on  DATE,
    next_review_on  DATE,
    policy_version  BIGINT,
    paused_until    DATE,
    paused_why      TEXT,
    ended           BOOLEAN NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, invoice_id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id)
);
CREATE INDEX dunning_state_review ON dunning_state (tenant_id, next_review_on);

-- The audit log: one row per (tenant, invoice, as-of day), whatever happens to the sweep.
CREATE TABLE decisions (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id        TEXT NOT NULL,
    invoice_id       TEXT NOT NULL,
    as_of            DATE NOT NULL,
    policy_version   BIGINT,
    policy_sha256    TEXT,
    context          BYTEA NOT NULL,      -- zstd-compressed JSON of the policy's Context
    decision         TEXT,                -- JSON of the Decision, absent on failure
    reason           TEXT NOT NULL,
    interventions    TEXT NOT NULL,       -- JSON array from the guardrails
    fuel_used        BIGINT,
    duration_us      BIGINT,
    failure_code     TEXT,
    failure_message  TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, invoice_id, as_of),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id)
);

-- The outbox that delivery reads.
CREATE TABLE actions (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id        TEXT NOT NULL,
    decision_id      BIGINT NOT NULL REFERENCES decisions (id),
    ordinal          BIGINT NOT NULL,
    invoice_id       TEXT NOT NULL,
    customer_id      TEXT NOT NULL,
    as_of            DATE NOT NULL,
    kind             TEXT NOT NULL,
    channel          TEXT,
    level            BIGINT,
    tone             TEXT,
    payload          TEXT NOT NULL,       -- JSON of the Action
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ,
    last_error       TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (decision_id, ordinal)
);
CREATE INDEX actions_invoice ON actions (tenant_id, invoice_id);
CREATE INDEX actions_customer ON actions (tenant_id, customer_id, as_of);
CREATE INDEX actions_pending ON actions (tenant_id, id) WHERE status = 'pending';
