//! Trying a policy version beside the active one: in shadow (every sweep also asks it and
//! records its answers apart, never delivered) or as a canary (a stable share of customers
//! starts its new ladders on it).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use dunlin_core::guardrails::Intervention;
use dunlin_core::{Action, Date, Decision};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::review::{DecisionRecord, FailureRecord};
use crate::TenantId;

/// A tenant's trials: what [`crate::Db::policy_trials`] returns.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PolicyTrials {
    /// The version every sweep also asks, in shadow.
    pub shadow: Option<Shadow>,
    /// The version a share of customers starts its ladders on.
    pub canary: Option<Canary>,
}

/// The shadow version and since when it runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Shadow {
    /// The version.
    pub version: u32,
    /// When it was turned on.
    pub since: DateTime<Utc>,
}

/// The canary version, its share and since when it runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Canary {
    /// The version.
    pub version: u32,
    /// The share of customers in its arm.
    pub share: CanaryShare,
    /// When it was started.
    pub since: DateTime<Utc>,
}

impl Canary {
    /// Whether `customer` of `tenant` is in the canary's arm: see [`arm_point`].
    pub fn takes(&self, tenant: &TenantId, customer: &str) -> bool {
        arm_point(tenant, customer) < u64::from(self.share.basis_points())
    }
}

/// Where a customer falls in 0..10,000: the first 8 bytes of
/// sha256(tenant id, a zero byte, customer id), read big-endian, modulo 10,000. A customer
/// whose point is below the canary's share in basis points is in the canary's arm. It
/// depends on nothing but the two ids, so a customer stays in one arm across sweeps,
/// restarts and replicas, and a larger share keeps every customer a smaller one had.
pub fn arm_point(tenant: &TenantId, customer: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(tenant.as_str().as_bytes());
    h.update([0u8]);
    h.update(customer.as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % 10_000
}

/// A canary's share of customers, in basis points (1 to 9,999: a canary of none or of all is
/// no canary). Written as a percentage with up to two decimals: `10%`, `0.5%`, `25`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(into = "String")]
pub struct CanaryShare(u16);

impl CanaryShare {
    /// A share of `bp` basis points, if it is within 1..=9,999.
    pub fn from_basis_points(bp: u16) -> Option<Self> {
        (1..=9_999).contains(&bp).then_some(CanaryShare(bp))
    }

    /// The share in basis points.
    pub fn basis_points(self) -> u16 {
        self.0
    }
}

impl fmt::Display for CanaryShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, frac) = (self.0 / 100, self.0 % 100);
        match frac {
            0 => write!(f, "{whole}%"),
            f2 if f2 % 10 == 0 => write!(f, "{whole}.{}%", f2 / 10),
            f2 => write!(f, "{whole}.{f2:02}%"),
        }
    }
}

impl From<CanaryShare> for String {
    fn from(s: CanaryShare) -> String {
        s.to_string()
    }
}

/// Why a canary share does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a canary share is a percentage above 0 and below 100 with at most two decimals, like 10% or 0.5%")]
pub struct BadShare;

impl FromStr for CanaryShare {
    type Err = BadShare;
    fn from_str(s: &str) -> Result<Self, BadShare> {
        let s = s.trim();
        let s = s.strip_suffix('%').unwrap_or(s);
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        let digits =
            |t: &str| !t.is_empty() && t.len() <= 2 && t.bytes().all(|b| b.is_ascii_digit());
        // A decimal point needs digits after it: `5.%` is a typo, not 5 %.
        if !digits(whole) || (s.contains('.') && !digits(frac)) {
            return Err(BadShare);
        }
        let whole: u16 = whole.parse().map_err(|_| BadShare)?;
        let frac: u16 = match frac.len() {
            0 => 0,
            1 => frac.parse::<u16>().map_err(|_| BadShare)? * 10,
            _ => frac.parse().map_err(|_| BadShare)?,
        };
        CanaryShare::from_basis_points(whole * 100 + frac).ok_or(BadShare)
    }
}

/// What the shadow version made of one invoice on one as-of day, as the sweep hands it to
/// [`crate::Db::record_shadow`]: its decision after the guardrails, or its failure.
#[derive(Clone, Debug, PartialEq)]
pub struct ShadowOutcome {
    /// The invoice.
    pub invoice_id: String,
    /// The day decided for: the live decision of this invoice and day is the one it shadows.
    pub as_of: Date,
    /// The shadow version.
    pub version: u32,
    /// The decision as the guardrails left it; `None` when the version failed.
    pub decision: Option<Decision>,
    /// Why: the decision's reason, or the failure.
    pub reason: String,
    /// What the guardrails changed.
    pub interventions: Vec<Intervention>,
    /// The actions the guardrails dropped, as the version asked for them.
    pub blocked: Vec<Action>,
    /// Fuel the version used.
    pub fuel_used: Option<u64>,
    /// How long it took, in microseconds.
    pub duration_us: Option<u64>,
    /// Its failure, if it failed.
    pub failure: Option<FailureRecord>,
}

/// Which pairs of live and shadow decisions to read ([`crate::Db::shadow_pairs`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShadowQuery {
    /// Only this shadow version's answers; every version's when `None`.
    pub version: Option<u32>,
    /// Only decisions for this as-of day or later.
    pub from: Option<Date>,
    /// Only decisions for this as-of day or earlier.
    pub to: Option<Date>,
    /// Only live decisions with a larger id (for paging: the previous page's `next`).
    pub after_id: Option<i64>,
    /// At most this many live decisions looked at (clamped to 1..=10,000), oldest first.
    pub limit: u32,
}

impl Default for ShadowQuery {
    fn default() -> Self {
        ShadowQuery {
            version: None,
            from: None,
            to: None,
            after_id: None,
            limit: 1000,
        }
    }
}

/// One live decision and what the shadow version made of the same context.
#[derive(Clone, Debug, PartialEq)]
pub struct ShadowPair {
    /// The live decision, with its context and actions.
    pub live: DecisionRecord,
    /// The shadow version's answer.
    pub shadow: ShadowOutcome,
}

/// A page of [`ShadowPair`]s.
#[derive(Clone, Debug, PartialEq)]
pub struct ShadowPage {
    /// The pairs, by live decision id.
    pub pairs: Vec<ShadowPair>,
    /// Pass as `after_id` for the next page; `None` on the last page.
    pub next: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canary_shares_parse_as_percentages() {
        for (text, bp) in [
            ("10%", 1000),
            ("0.5%", 50),
            ("25", 2500),
            ("99.99%", 9999),
            ("0.01", 1),
        ] {
            let share: CanaryShare = text.parse().expect(text);
            assert_eq!(share.basis_points(), bp, "{text}");
        }
        for bad in [
            "0%", "100%", "", "%", "1.234%", "-5%", "ten", "1e1", "5.%", "100.5",
        ] {
            assert_eq!(bad.parse::<CanaryShare>(), Err(BadShare), "{bad:?}");
        }
        assert_eq!(CanaryShare(1000).to_string(), "10%");
        assert_eq!(CanaryShare(50).to_string(), "0.5%");
        assert_eq!(CanaryShare(1234).to_string(), "12.34%");
    }

    #[test]
    fn a_customer_s_arm_point_is_stable_and_spread() {
        let acme = TenantId::new("acme").expect("id");
        let other = TenantId::new("other").expect("id");
        assert_eq!(arm_point(&acme, "c-1"), arm_point(&acme, "c-1"));
        // The tenant is part of the hash: the same customer id falls elsewhere.
        let moved = (0..50)
            .filter(|i| arm_point(&acme, &format!("c-{i}")) != arm_point(&other, &format!("c-{i}")))
            .count();
        assert!(moved > 45, "{moved}");
        // About a tenth of 10,000 customers fall in a 10 % canary.
        let canary = Canary {
            version: 2,
            share: CanaryShare(1000),
            since: Utc::now(),
        };
        let taken = (0..10_000)
            .filter(|i| canary.takes(&acme, &format!("c-{i}")))
            .count();
        assert!((850..1150).contains(&taken), "{taken}");
    }
}
