//! Tenants, their settings and their policy versions.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::StoreError;

/// A tenant's id: the handle used on the command line and in the API (`acme`, `north-shop`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    /// Checks and wraps an id: 1 to 64 characters of `a-z`, `0-9`, `-` and `_`, starting with a
    /// letter or digit.
    pub fn new(id: &str) -> Result<Self, StoreError> {
        let ok = (1..=64).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            && id.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
        if ok {
            Ok(TenantId(id.to_owned()))
        } else {
            Err(StoreError::BadTenantId(id.to_owned()))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for TenantId {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TenantId::new(s)
    }
}

impl TryFrom<String> for TenantId {
    type Error = StoreError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        TenantId::new(&s)
    }
}

impl From<TenantId> for String {
    fn from(id: TenantId) -> String {
        id.0
    }
}

/// What the sweep does when the policy fails for an invoice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureMode {
    /// Record the failure and look again at the next tick.
    #[default]
    RetryNextTick,
    /// Ask the previously active policy version instead.
    PreviousVersion,
    /// Apply the built-in safe default (a neutral reminder or wait).
    SafeDefault,
}

impl FailureMode {
    /// The stored and displayed name, e.g. `retry-next-tick`.
    pub fn as_str(&self) -> &'static str {
        match self {
            FailureMode::RetryNextTick => "retry-next-tick",
            FailureMode::PreviousVersion => "previous-version",
            FailureMode::SafeDefault => "safe-default",
        }
    }
}

impl FromStr for FailureMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "retry-next-tick" => Ok(FailureMode::RetryNextTick),
            "previous-version" => Ok(FailureMode::PreviousVersion),
            "safe-default" => Ok(FailureMode::SafeDefault),
            other => Err(format!(
                "unknown failure mode {other:?}: expected retry-next-tick, previous-version or safe-default"
            )),
        }
    }
}

/// What a tenant can set. The store keeps these as given: the scheduler checks the time zone
/// and the cron expression, the guardrails read their own JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct TenantSettings {
    /// Display name.
    pub name: String,
    /// IANA time zone the schedule runs in, e.g. `Europe/Helsinki`.
    pub time_zone: String,
    /// Cron expression of the sweep schedule, e.g. `0 0 9 * * Mon-Fri`.
    pub schedule: String,
    /// Guardrail settings as the guardrails module serialises them (a JSON object).
    pub guardrails: serde_json::Value,
    /// What to do when the policy fails.
    pub failure_mode: FailureMode,
    /// Parameters handed to the policy in every context.
    pub params: BTreeMap<String, String>,
    /// How many days before the due date an invoice is first reviewed (0: on the due date).
    pub lead_days: u32,
}

impl Default for TenantSettings {
    fn default() -> Self {
        TenantSettings {
            name: String::new(),
            time_zone: "UTC".to_owned(),
            schedule: "0 0 9 * * Mon-Fri".to_owned(),
            guardrails: serde_json::Value::Object(Default::default()),
            failure_mode: FailureMode::default(),
            params: BTreeMap::new(),
            lead_days: 0,
        }
    }
}

/// A stored tenant.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Tenant {
    /// Its id.
    pub id: TenantId,
    /// Its settings.
    pub settings: TenantSettings,
    /// When the scheduler last started a sweep for it.
    pub last_tick_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// Where a policy version is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyStatus {
    /// Stored, never active.
    Uploaded,
    /// The version new ladders use; at most one per tenant.
    Active,
    /// Was active once.
    Retired,
}

impl PolicyStatus {
    /// The stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            PolicyStatus::Uploaded => "uploaded",
            PolicyStatus::Active => "active",
            PolicyStatus::Retired => "retired",
        }
    }
}

/// A policy version's metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PolicyVersion {
    /// 1, 2, 3… per tenant.
    pub version: u32,
    /// Hex sha256 of the component's bytes.
    pub sha256: String,
    /// Size of the component in bytes.
    pub size: u64,
    /// Where it is in its life.
    pub status: PolicyStatus,
    /// When it was uploaded.
    pub created_at: DateTime<Utc>,
    /// When it was last activated.
    pub activated_at: Option<DateTime<Utc>>,
}

/// The version that was active before the current one: the retired version activated most
/// recently (for rollback and the `previous-version` failure mode).
pub fn previously_active(versions: &[PolicyVersion]) -> Option<&PolicyVersion> {
    versions
        .iter()
        .filter(|v| v.status == PolicyStatus::Retired && v.activated_at.is_some())
        .max_by_key(|v| v.activated_at)
}

/// A policy version with its component bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyBlob {
    /// Its metadata.
    pub version: PolicyVersion,
    /// The component.
    pub bytes: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_handles() {
        for good in ["acme", "north-shop", "t_1", "9lives"] {
            assert_eq!(TenantId::new(good).unwrap().as_str(), good);
        }
        for bad in ["", "Acme", "-x", "a b", "ä", &"x".repeat(65)] {
            assert!(TenantId::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn failure_modes_round_trip_through_text() {
        for m in [
            FailureMode::RetryNextTick,
            FailureMode::PreviousVersion,
            FailureMode::SafeDefault,
        ] {
            assert_eq!(m.as_str().parse::<FailureMode>(), Ok(m));
        }
        assert!("panic".parse::<FailureMode>().is_err());
    }
}
