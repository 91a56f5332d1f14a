//! This process as a replica (`dunlin_store::replica`): its id, what its daemon is sweeping,
//! and the heartbeat that tells the other replicas it is alive.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use dunlin_core::text::Escaped;
use dunlin_core::Date;
use dunlin_store::replica::REPLICA_HEARTBEAT;
use dunlin_store::{Db, TenantId};
use tokio_util::sync::CancellationToken;

use crate::recorded::causes;

/// A registered replica: its id and the sweeps its daemon runs.
#[derive(Debug)]
pub struct Replica {
    id: String,
    sweeping: Mutex<BTreeMap<TenantId, Date>>,
}

impl Replica {
    /// The replica registered as `id`.
    pub fn new(id: String) -> Arc<Replica> {
        Arc::new(Replica {
            id,
            sweeping: Mutex::new(BTreeMap::new()),
        })
    }

    /// Its id, as on its sweep runs and outbox leases.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What it is doing, for its heartbeat: `idle`, or the sweeps under way
    /// (`sweeping acme as-of 2026-02-01, …`). Tenant ids are handles, safe to print.
    pub fn doing(&self) -> String {
        let sweeping = self.lock();
        if sweeping.is_empty() {
            return "idle".into();
        }
        let list: Vec<String> = sweeping
            .iter()
            .map(|(t, d)| format!("{} as-of {d}", t.as_str()))
            .collect();
        format!("sweeping {}", list.join(", "))
    }

    /// Notes the sweep of `tenant` under way until the guard is dropped, so that a sweep
    /// that ends by cancellation (its future dropped) is no longer shown either.
    pub(crate) fn sweeping<'a>(&'a self, tenant: &'a TenantId, as_of: Date) -> Sweeping<'a> {
        self.lock().insert(tenant.clone(), as_of);
        Sweeping {
            replica: self,
            tenant,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<TenantId, Date>> {
        // A panic while the map was held leaves a map that is still whole.
        self.sweeping
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Beats every [`REPLICA_HEARTBEAT`] until `stop` is cancelled, then marks the replica
    /// stopped, which frees its locks and leases at once. A failed beat is logged and tried
    /// again at the next: the store may be away for a while.
    pub async fn beat(self: Arc<Self>, db: Arc<dyn Db>, stop: CancellationToken) {
        let mut every = tokio::time::interval(REPLICA_HEARTBEAT);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = stop.cancelled() => break,
            }
            if let Err(e) = db.heartbeat_replica(&self.id, &self.doing()).await {
                tracing::warn!(replica = %Escaped(&self.id), error = %Escaped(&causes(&e)), "replica heartbeat failed");
            }
        }
    }

    /// Marks the replica stopped; a failure is logged (the row then goes stale by itself).
    pub async fn stop(&self, db: &dyn Db) {
        if let Err(e) = db.stop_replica(&self.id).await {
            tracing::warn!(replica = %Escaped(&self.id), error = %Escaped(&causes(&e)), "marking the replica stopped failed");
        }
    }
}

/// A sweep shown in its replica's heartbeat while this lives ([`Replica::sweeping`]).
pub(crate) struct Sweeping<'a> {
    replica: &'a Replica,
    tenant: &'a TenantId,
}

impl Drop for Sweeping<'_> {
    fn drop(&mut self) {
        self.replica.lock().remove(self.tenant);
    }
}
