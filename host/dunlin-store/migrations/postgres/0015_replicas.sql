-- One row per `dunlin serve` process (a replica): its id (host, process id and a random
-- part), when it started, its last heartbeat, when it stopped, and what it is doing. A
-- replica whose heartbeat is older than the store's `REPLICA_STALE_AFTER` is dead: its sweep
-- locks and outbox leases are free at once, whatever their own expiry says.
CREATE TABLE replicas (
    id            TEXT PRIMARY KEY,
    started_at    TIMESTAMPTZ NOT NULL,
    heartbeat_at  TIMESTAMPTZ NOT NULL,
    stopped_at    TIMESTAMPTZ,
    doing         TEXT NOT NULL
);
CREATE INDEX replicas_heartbeat ON replicas (heartbeat_at);
-- The replica whose daemon runs the sweep; NULL for `dunlin sweep` and the API's.
ALTER TABLE sweep_runs ADD COLUMN replica TEXT;
CREATE INDEX actions_lease_owner ON actions (lease_owner) WHERE lease_owner IS NOT NULL;
