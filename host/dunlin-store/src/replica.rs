//! Replicas: the `dunlin serve` processes sharing one database. Each registers a row, beats
//! every [`REPLICA_HEARTBEAT`] with what it is doing, and marks the row stopped when it shuts
//! down. A replica whose beat is older than [`REPLICA_STALE_AFTER`] is dead: the sweep locks
//! it held and the outbox actions it leased are free for the others at once, so a killed
//! replica's work waits at most that long, not the full lease.

use chrono::{DateTime, Utc};
use dunlin_core::Date;
use serde::Serialize;

use crate::tenant::TenantId;

/// How often a replica beats.
pub const REPLICA_HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(3);
/// How long after its last beat a replica is taken for dead (five beats missed).
pub const REPLICA_STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(15);

/// The longest `doing` text kept, in bytes.
pub const MAX_DOING_BYTES: usize = 1024;

/// The instant before which a beat at `now` is stale.
pub fn stale_before(now: DateTime<Utc>) -> DateTime<Utc> {
    now - chrono::Duration::from_std(REPLICA_STALE_AFTER).expect("seconds fit a chrono duration")
}

/// A registered replica.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ReplicaRow {
    /// Its id: host, process id and a random part.
    pub id: String,
    /// When it registered.
    pub started_at: DateTime<Utc>,
    /// Its last beat.
    pub heartbeat_at: DateTime<Utc>,
    /// When it shut down gracefully; `None` while it runs or if it died.
    pub stopped_at: Option<DateTime<Utc>>,
    /// What it said it was doing at its last beat (`idle`, `sweeping …`).
    pub doing: String,
}

impl ReplicaRow {
    /// Whether it is running at `now`: not stopped and beating.
    pub fn live(&self, now: DateTime<Utc>) -> bool {
        self.stopped_at.is_none() && self.heartbeat_at >= stale_before(now)
    }

    /// `live`, `stopped` (shut down gracefully) or `dead` (stopped beating) at `now`.
    pub fn state(&self, now: DateTime<Utc>) -> &'static str {
        if self.live(now) {
            "live"
        } else if self.stopped_at.is_some() {
            "stopped"
        } else {
            "dead"
        }
    }
}

/// A running sweep: the tenant's sweep lock, and the replica holding it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct SweepLease {
    /// The tenant swept.
    pub tenant: TenantId,
    /// The sweep run's id.
    pub run_id: i64,
    /// The day under review.
    pub as_of: Date,
    /// The replica whose daemon runs it; `None` for the API's and `dunlin sweep`.
    pub replica: Option<String>,
    /// Its last beat.
    pub heartbeat_at: DateTime<Utc>,
}

/// Outbox actions one worker holds leased for one tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ActionLeases {
    /// The tenant.
    pub tenant: TenantId,
    /// The lease owner (a replica's id, or `dunlin deliver`'s name).
    pub owner: String,
    /// How many actions.
    pub actions: u64,
    /// The latest expiry among them.
    pub until: DateTime<Utc>,
}

/// Every lease held at one instant: running sweeps and leased outbox actions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Leases {
    /// Running sweeps.
    pub sweeps: Vec<SweepLease>,
    /// Leased outbox actions, by tenant and owner.
    pub actions: Vec<ActionLeases>,
}

/// What registering found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Registered {
    /// The replica's row, written.
    Yes(ReplicaRow),
    /// Refused: another replica is live and the database allows one process (SQLite).
    Refused(ReplicaRow),
}
