//! `GET /v1/admin/replicas`: the `serve` processes on the database, what each is doing and
//! the leases each holds (the same store calls as `dunlin replicas`).

use axum::extract::State;
use chrono::{DateTime, Utc};
use dunlin_store::replica::ReplicaRow;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{ApiError, AppState, Json, Operator, Query};

/// A running sweep: the tenant's sweep lock.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct SweepLockView {
    /// The tenant swept.
    pub tenant: String,
    /// The sweep run's id.
    pub run_id: i64,
    /// The day under review.
    #[schema(value_type = String, format = Date)]
    pub as_of: dunlin_core::Date,
    /// The replica whose daemon runs it; null for the API's and `dunlin sweep`.
    pub replica: Option<String>,
    /// The run's last beat.
    pub heartbeat_at: DateTime<Utc>,
}

/// Outbox actions one owner holds leased for one tenant.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct ActionLeaseView {
    /// The tenant.
    pub tenant: String,
    /// The lease owner: a replica's id, or `dunlin deliver`'s name.
    pub owner: String,
    /// How many actions.
    pub actions: u64,
    /// The latest expiry among them.
    pub until: DateTime<Utc>,
}

/// One replica.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct ReplicaView {
    /// Its id: host, process id and a random part.
    pub id: String,
    /// `live`, `stopped` (shut down gracefully) or `dead` (stopped beating).
    pub state: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Its last beat.
    pub heartbeat_at: DateTime<Utc>,
    /// When it stopped gracefully.
    pub stopped_at: Option<DateTime<Utc>>,
    /// What it said it was doing at its last beat.
    pub doing: String,
}

/// The replicas and every lease held now.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct Replicas {
    /// Replicas that beat within `recent-secs`, oldest first.
    pub replicas: Vec<ReplicaView>,
    /// Running sweeps, each naming its replica when a daemon runs it.
    pub sweeps: Vec<SweepLockView>,
    /// Leased outbox actions, by tenant and owner.
    pub actions: Vec<ActionLeaseView>,
}

/// How far back stopped and dead replicas are listed.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "kebab-case")]
#[into_params(parameter_in = Query)]
pub struct ReplicasQuery {
    /// Seconds; 3600 by default, at most 30 days.
    pub recent_secs: Option<u32>,
}

/// The replicas (live, and those stopped or dead recently), what each is doing, and every
/// sweep lock and outbox lease held now.
#[utoipa::path(get, path = "/v1/admin/replicas", tag = "admin",
    params(ReplicasQuery),
    responses((status = 200, description = "Replicas and leases", body = Replicas)),
    security(("operator_key" = [])))]
pub(crate) async fn replicas(
    State(state): State<AppState>,
    _: Operator,
    Query(query): Query<ReplicasQuery>,
) -> Result<Json<Replicas>, ApiError> {
    let now = Utc::now();
    let recent = query.recent_secs.unwrap_or(3600).min(30 * 86_400);
    let since = now - chrono::Duration::seconds(i64::from(recent));
    let rows = state.db.replicas(since).await?;
    let leases = state.db.leases().await?;
    Ok(Json(Replicas {
        replicas: rows.into_iter().map(|r| view(r, now)).collect(),
        sweeps: leases
            .sweeps
            .into_iter()
            .map(|s| SweepLockView {
                tenant: s.tenant.as_str().to_owned(),
                run_id: s.run_id,
                as_of: s.as_of,
                replica: s.replica,
                heartbeat_at: s.heartbeat_at,
            })
            .collect(),
        actions: leases
            .actions
            .into_iter()
            .map(|a| ActionLeaseView {
                tenant: a.tenant.as_str().to_owned(),
                owner: a.owner,
                actions: a.actions,
                until: a.until,
            })
            .collect(),
    }))
}

fn view(r: ReplicaRow, now: DateTime<Utc>) -> ReplicaView {
    ReplicaView {
        state: r.state(now).into(),
        id: r.id,
        started_at: r.started_at,
        heartbeat_at: r.heartbeat_at,
        stopped_at: r.stopped_at,
        doing: r.doing,
    }
}
