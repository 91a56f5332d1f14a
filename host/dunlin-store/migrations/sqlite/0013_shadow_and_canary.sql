-- A tenant's trials of a policy version beside the active one: at most one shadow version
-- (every sweep also asks it, records its answers in `shadow_decisions` and delivers none of
-- them) and at most one canary version (the customers whose hash falls in `canary_share`
-- basis points start their new ladders on it). One row per tenant, written only by the
-- trial methods; the versions must be the tenant's own.
CREATE TABLE policy_trials (
    tenant_id       TEXT PRIMARY KEY REFERENCES tenants (id),
    shadow_version  INTEGER,
    shadow_since    TEXT,
    canary_version  INTEGER,
    canary_share    INTEGER CHECK (canary_share BETWEEN 1 AND 9999),
    canary_since    TEXT,
    CHECK ((shadow_version IS NULL) = (shadow_since IS NULL)),
    CHECK ((canary_version IS NULL) = (canary_share IS NULL)
        AND (canary_version IS NULL) = (canary_since IS NULL)),
    FOREIGN KEY (tenant_id, shadow_version) REFERENCES policy_versions (tenant_id, version),
    FOREIGN KEY (tenant_id, canary_version) REFERENCES policy_versions (tenant_id, version)
);

-- What the shadow version would have done, one row per (tenant, invoice, as-of, version),
-- beside the live decision it shadows (`decision_id`, whose context both were given). The
-- guardrails' result is kept (the decision as guarded, the interventions, the actions they
-- blocked); nothing here reaches the outbox or the ladder state.
CREATE TABLE shadow_decisions (
    tenant_id        TEXT NOT NULL,
    invoice_id       TEXT NOT NULL,
    as_of            TEXT NOT NULL,
    policy_version   INTEGER NOT NULL,
    decision_id      INTEGER NOT NULL REFERENCES decisions (id),
    decision         TEXT,                -- JSON of the guarded Decision, absent on failure
    reason           TEXT NOT NULL,
    interventions    TEXT NOT NULL,       -- JSON array from the guardrails
    blocked          TEXT NOT NULL,       -- JSON array of the actions the guardrails dropped
    fuel_used        INTEGER,
    duration_us      INTEGER,
    failure_code     TEXT,
    failure_message  TEXT,
    created_at       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, invoice_id, as_of, policy_version),
    FOREIGN KEY (tenant_id, policy_version) REFERENCES policy_versions (tenant_id, version)
);
CREATE INDEX shadow_decisions_by_decision ON shadow_decisions (tenant_id, decision_id);
