-- Delivery: the outbox worker's leases on actions, its log of attempts, and what tenants
-- configure for delivery (settings, email templates, webhook endpoints).

-- A pending action is claimed by writing a lease: the worker's name, until when, and a token
-- bumped on every claim. A worker writes its result only while its token is the action's, so
-- a worker whose lease ran out (killed, stalled) cannot overwrite the next claimant's result.
-- `note` says why an action waits or was withheld at send time (outside the contact window,
-- opted out, the invoice was paid), for `explain`.
ALTER TABLE actions ADD COLUMN lease_owner TEXT;
ALTER TABLE actions ADD COLUMN lease_until TEXT;
ALTER TABLE actions ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0;
ALTER TABLE actions ADD COLUMN note TEXT;
-- The queue: the worker reads a tenant's pending actions in id order.
CREATE INDEX actions_queue ON actions (tenant_id, id) WHERE status = 'pending';

-- One row per attempt to deliver an action to one target (an email address or a webhook
-- endpoint). Never updated: the log of what was tried.
CREATE TABLE deliveries (
    id           INTEGER PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    action_id    INTEGER NOT NULL REFERENCES actions (id),
    attempt      INTEGER NOT NULL CHECK (attempt > 0),
    worker       TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    latency_us   INTEGER NOT NULL CHECK (latency_us >= 0),
    channel      TEXT NOT NULL CHECK (channel IN ('email', 'webhook')),
    target       TEXT NOT NULL,       -- the address, or the endpoint's id
    message_key  TEXT NOT NULL,       -- the Message-ID's key or the webhook-id
    outcome      TEXT NOT NULL CHECK (outcome IN ('delivered', 'temporary', 'permanent')),
    detail       TEXT NOT NULL        -- the SMTP reply or HTTP status, or the error
);
CREATE INDEX deliveries_action ON deliveries (tenant_id, action_id);

ALTER TABLE tenants ADD COLUMN delivery TEXT NOT NULL DEFAULT '{}';  -- JSON object

CREATE TABLE templates (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    id          TEXT NOT NULL,
    locale      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    text        TEXT NOT NULL,
    html        TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id, locale)
);

CREATE TABLE webhook_endpoints (
    tenant_id        TEXT NOT NULL REFERENCES tenants (id),
    id               TEXT NOT NULL,
    url              TEXT NOT NULL,
    events           TEXT NOT NULL,   -- JSON array of event types; empty: every event
    secret           TEXT NOT NULL,   -- whsec_…
    previous_secret  TEXT,            -- still signs until previous_until (rotation overlap)
    previous_until   TEXT,
    created_at       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
