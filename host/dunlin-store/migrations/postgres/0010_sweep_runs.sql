-- Every sweep (the daemon's ticks, `dunlin sweep`, the API's) writes a row: when, for which
-- as-of date, what started it, and its figures once it ends. A row `running` of the daemon or
-- the API is also the tenant's sweep lock: at most one per tenant (the partial unique index),
-- so a second such sweep is refused while one runs. `dunlin sweep` by hand is recorded but
-- takes no lock: the operator may sweep after killing one, and sweeps are idempotent. A
-- running sweep refreshes `heartbeat_at`; a running row whose heartbeat stopped (its process
-- died) is marked `abandoned` by the next sweep to start.
CREATE TABLE sweep_runs (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    as_of         DATE NOT NULL,
    dry_run       BOOLEAN NOT NULL,
    started_by    TEXT NOT NULL,
    status        TEXT NOT NULL,
    started_at    TIMESTAMPTZ NOT NULL,
    heartbeat_at  TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ,
    reviewed      BIGINT NOT NULL DEFAULT 0,
    recorded      BIGINT NOT NULL DEFAULT 0,
    skipped       BIGINT NOT NULL DEFAULT 0,
    stale         BIGINT NOT NULL DEFAULT 0,
    failures      BIGINT NOT NULL DEFAULT 0,
    actions       BIGINT NOT NULL DEFAULT 0,
    blocked       BIGINT NOT NULL DEFAULT 0,
    error         TEXT
);
CREATE INDEX sweep_runs_tenant ON sweep_runs (tenant_id, id);
CREATE UNIQUE INDEX sweep_runs_one_running ON sweep_runs (tenant_id)
    WHERE status = 'running' AND started_by <> 'cli';
