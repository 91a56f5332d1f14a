//! A tenant's own sandbox limits (fuel, memory, deadline per decision) and their check
//! against the operator's bounds in [`OperatorLimits`].
//!
//! They are the tenant's, not a policy version's: a tenant writes its policies in one
//! language, whose interpreter sets what a decision costs, and every version it runs (the
//! active one, a shadow, a canary, the previous one a failure falls back to) then runs
//! under the same limits; changing them needs no new upload.

use serde::{Deserialize, Serialize};

use crate::guardrails::OperatorLimits;

/// What a tenant sets; each limit left out is the host's default (`dunlin serve --fuel`,
/// `--memory-mib`, `--deadline-ms`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SandboxSettings {
    /// Instruction budget per decision, in fuel units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// Linear memory limit per instance, in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u32>,
    /// Wall-clock deadline per decision, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u32>,
}

/// A limit outside what the operator allows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{setting} is {value}; the operator allows 1 to {max} ({bound} in --operator-limits)")]
pub struct SandboxError {
    /// The setting, as spelled in JSON.
    pub setting: &'static str,
    /// The value given.
    pub value: u64,
    /// The operator's bound.
    pub max: u64,
    /// The operator's setting that holds the bound.
    pub bound: &'static str,
}

impl SandboxSettings {
    /// Whether nothing is set (every limit is the host's default).
    pub fn is_default(&self) -> bool {
        *self == SandboxSettings::default()
    }

    /// Checks each limit set against the operator's bound; zero is refused too (no
    /// decision runs without fuel, memory or time).
    pub fn validate(&self, limits: &OperatorLimits) -> Result<(), SandboxError> {
        let checks = [
            (
                "fuel",
                self.fuel,
                limits.max_fuel_per_decision,
                "max-fuel-per-decision",
            ),
            (
                "memory-mib",
                self.memory_mib.map(u64::from),
                u64::from(limits.max_memory_mib),
                "max-memory-mib",
            ),
            (
                "deadline-ms",
                self.deadline_ms.map(u64::from),
                u64::from(limits.max_deadline_ms),
                "max-deadline-ms",
            ),
        ];
        for (setting, value, max, bound) in checks {
            match value {
                Some(value) if value == 0 || value > max => {
                    return Err(SandboxError {
                        setting,
                        value,
                        max,
                        bound,
                    })
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_above_the_operators_bound_is_refused_naming_the_bound() {
        let limits = OperatorLimits::default();
        let within = SandboxSettings {
            fuel: Some(limits.max_fuel_per_decision),
            memory_mib: Some(32),
            deadline_ms: Some(limits.max_deadline_ms),
        };
        assert_eq!(within.validate(&limits), Ok(()));
        assert_eq!(SandboxSettings::default().validate(&limits), Ok(()));

        let over = SandboxSettings {
            fuel: Some(limits.max_fuel_per_decision + 1),
            ..SandboxSettings::default()
        };
        let err = over.validate(&limits).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "fuel is {}; the operator allows 1 to {} (max-fuel-per-decision in \
                 --operator-limits)",
                limits.max_fuel_per_decision + 1,
                limits.max_fuel_per_decision
            )
        );
        let memory = SandboxSettings {
            memory_mib: Some(limits.max_memory_mib + 1),
            ..SandboxSettings::default()
        };
        assert_eq!(
            memory.validate(&limits).unwrap_err().bound,
            "max-memory-mib"
        );
        let deadline = SandboxSettings {
            deadline_ms: Some(0),
            ..SandboxSettings::default()
        };
        assert_eq!(
            deadline.validate(&limits).unwrap_err().setting,
            "deadline-ms"
        );
    }

    #[test]
    fn settings_read_only_known_keys_and_write_only_what_is_set() {
        let s: SandboxSettings =
            serde_json::from_value(serde_json::json!({"fuel": 50_000_000})).unwrap();
        assert_eq!(s.fuel, Some(50_000_000));
        assert_eq!(
            serde_json::to_value(s).unwrap(),
            serde_json::json!({"fuel": 50_000_000})
        );
        assert!(serde_json::from_value::<SandboxSettings>(serde_json::json!({"fule": 1})).is_err());
    }
}
