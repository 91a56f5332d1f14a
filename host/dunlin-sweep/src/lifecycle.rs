//! A tenant's policy versions through their life: upload (validated as the sandbox will run
//! them, then stored), activation (optionally moving ladders in progress), rollback. The CLI
//! and the API both call these, so an upload is checked the same whichever door it came by.

use dunlin_runtime::{Fit, LoadError, Runtime};
use dunlin_store::{previously_active, Db, PolicyVersion, StoreError, TenantId};

/// Why a lifecycle step did not happen.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// The sandbox refused the component; nothing was stored.
    #[error("the component was rejected: {0}")]
    Rejected(#[source] LoadError),
    /// The tenant has no version that was active before the current one.
    #[error("tenant {0} has no previously active version to roll back to")]
    NoPreviousVersion(TenantId),
    /// The store failed, or refused (an unknown tenant or version).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The validating thread died (a bug, not a property of the component).
    #[error("validating the component failed: {0}")]
    Worker(String),
}

/// A stored upload.
#[derive(Clone, Debug)]
pub struct Uploaded {
    /// The version as stored (an upload of bytes the tenant has already is that version).
    pub version: PolicyVersion,
    /// The contract version the component targets, e.g. `0.1.0`.
    pub contract: String,
    /// How it did on the rich sample invoice under the tenant's limits.
    pub fit: Fit,
}

/// Checks `bytes` as the daemon will run them (a component of a supported contract, only
/// allowed imports, within the size limit, compiles, decides a sample invoice and a rich
/// one under the tenant's sandbox limits) and stores them as the tenant's next version. A
/// refused component stores nothing. The compile and the trial run block, so they run on
/// a blocking thread.
pub async fn upload(
    db: &dyn Db,
    runtime: &Runtime,
    tenant: &TenantId,
    bytes: Vec<u8>,
) -> Result<Uploaded, LifecycleError> {
    let own = db
        .tenant(tenant)
        .await?
        .ok_or_else(|| StoreError::UnknownTenant(tenant.clone()))?
        .settings
        .sandbox;
    let runtime = runtime.clone();
    let (contract, fit, bytes) = tokio::task::spawn_blocking(move || {
        let loaded = runtime.load_with(&bytes, runtime.limits().for_tenant(&own))?;
        let fit = loaded.trial()?;
        Ok::<_, LoadError>((loaded.info().version.to_string(), fit, bytes))
    })
    .await
    .map_err(|e| LifecycleError::Worker(e.to_string()))?
    .map_err(LifecycleError::Rejected)?;
    let version = db.add_policy_version(tenant, &bytes).await?;
    Ok(Uploaded {
        version,
        contract,
        fit,
    })
}

/// What an activation did.
#[derive(Clone, Debug)]
pub struct Activated {
    /// The version, now active.
    pub version: PolicyVersion,
    /// How many ladders in progress moved to it, when asked to move them.
    pub migrated: Option<u64>,
}

/// Makes `version` the tenant's active one (new ladders use it); with `migrate_ladders`,
/// ladders in progress move to it too, otherwise they stay on the version that started them.
pub async fn activate(
    db: &dyn Db,
    tenant: &TenantId,
    version: u32,
    migrate_ladders: bool,
) -> Result<Activated, LifecycleError> {
    let version = db.activate_policy_version(tenant, version).await?;
    let migrated = if migrate_ladders {
        Some(db.migrate_ladders(tenant, version.version).await?)
    } else {
        None
    };
    Ok(Activated { version, migrated })
}

/// Makes the previously active version (the retired one activated most recently) active
/// again.
pub async fn rollback(db: &dyn Db, tenant: &TenantId) -> Result<PolicyVersion, LifecycleError> {
    let versions = db.policy_versions(tenant).await?;
    let previous = previously_active(&versions)
        .ok_or_else(|| LifecycleError::NoPreviousVersion(tenant.clone()))?;
    Ok(db.activate_policy_version(tenant, previous.version).await?)
}
