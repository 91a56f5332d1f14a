//! Tenants, their settings and their policy versions.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use dunlin_core::guardrails::{GuardrailError, GuardrailSettings, OperatorLimits};
use dunlin_core::json_shape;
use dunlin_core::sandbox_limits::{SandboxError, SandboxSettings};
use dunlin_core::text::{is_bidi_control, is_control, quoted, truncate, Escaped};
use dunlin_scheduler::{Schedule, ScheduleError};
use serde::{Deserialize, Serialize};

use crate::delivery::DeliverySettings;
use crate::StoreError;

/// A tenant's id: the handle used on the command line and in the API (`acme`, `north-shop`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    /// Checks and wraps an id: 1 to 64 characters of `a-z`, `0-9`, `-` and `_`, starting with a
    /// letter or digit.
    pub fn new(id: &str) -> Result<Self, StoreError> {
        if is_handle(id) {
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

/// Whether `s` is a handle: 1 to 64 characters of `a-z`, `0-9`, `-` and `_`, starting with a
/// letter or digit (tenant ids, webhook endpoint ids).
pub(crate) fn is_handle(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
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

/// What a tenant can set. [`TenantSettings::validate`] checks them against the operator's
/// limits, as every path that takes settings from a tenant must; the store itself refuses
/// settings that no operator's limits allow (see [`TenantSettings::validate`]), so nothing it
/// holds is a schedule the daemon cannot run or guardrails it cannot read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
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
    /// How notices go out (sender, locale, payment link, retries, quiet days).
    #[serde(default)]
    pub delivery: DeliverySettings,
    /// The tenant's own fuel, memory and deadline per decision, within the operator's
    /// bounds; what is left out is the host's default.
    #[serde(default, skip_serializing_if = "SandboxSettings::is_default")]
    pub sandbox: SandboxSettings,
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
            delivery: DeliverySettings::default(),
            sandbox: SandboxSettings::default(),
        }
    }
}

/// The longest display name, parameter key or parameter value accepted, in bytes.
pub const MAX_NAME_LEN: usize = 256;
/// The longest parameter value accepted, in bytes: params go into every context.
pub const MAX_PARAM_VALUE_LEN: usize = 4096;
/// The most parameters a tenant may set.
pub const MAX_PARAMS: usize = 256;
/// The most days before the due date an invoice may first be reviewed.
pub const MAX_LEAD_DAYS: u32 = 366;

/// Settings that cannot be stored. Each names the setting (`time-zone`,
/// `guardrails`, `params.brand`) and quotes the value, bounded and escaped.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A key that settings do not have.
    #[error("{0}")]
    UnknownKey(String),
    /// The JSON does not have the shape of settings (a wrong type, a missing key).
    #[error("tenant settings are malformed: {0}")]
    Malformed(String),
    /// A value that is not valid for its setting.
    #[error("{key} {value} {problem}")]
    Invalid {
        /// The setting, e.g. `time-zone` or `params.brand`.
        key: String,
        /// The value, quoted, bounded and escaped.
        value: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The guardrail settings are malformed or outside the operator's limits.
    #[error("guardrails: {0}")]
    Guardrails(#[from] GuardrailError),
    /// A sandbox limit outside the operator's bounds.
    #[error("sandbox: {0}")]
    Sandbox(#[from] SandboxError),
}

/// Settings as [`TenantSettings::validate`] read them: what the daemon runs.
#[derive(Clone, Debug)]
pub struct CheckedSettings {
    /// The sweep schedule in the tenant's time zone.
    pub schedule: Schedule,
    /// The guardrails, defaults filled in.
    pub guardrails: GuardrailSettings,
}

impl TenantSettings {
    /// A new tenant's settings: the defaults, with the tenant's id for a name.
    pub fn named(id: &TenantId) -> Self {
        TenantSettings {
            name: id.as_str().to_owned(),
            ..TenantSettings::default()
        }
    }

    /// These settings with the top-level keys of `given` laid over them (a key left out
    /// keeps its value), read as [`TenantSettings::from_json`] reads them.
    pub fn overlaid(
        &self,
        given: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self, SettingsError> {
        let mut merged = serde_json::to_value(self).expect("plain data serialises");
        merged
            .as_object_mut()
            .expect("a struct serialises to a JSON object")
            .extend(given);
        TenantSettings::from_json(&merged)
    }

    /// Reads settings given as one JSON object (as an API takes them): every key required,
    /// none unknown; then [`TenantSettings::validate`] them.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, SettingsError> {
        let serde_json::Value::Object(given) = value else {
            return Err(SettingsError::Malformed(format!(
                "expected a JSON object, not {}",
                json_shape::kind(value)
            )));
        };
        let serde_json::Value::Object(mut known) =
            serde_json::to_value(TenantSettings::default()).expect("plain data serialises")
        else {
            unreachable!("a struct serialises to a JSON object")
        };
        // Defaults leave `sandbox` out of the JSON; it is a key all the same.
        known
            .entry("sandbox")
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        // Only the top level: guardrails are checked by their own reader, params are free.
        if let Some(key) = given.keys().find(|k| !known.contains_key(*k)) {
            return Err(SettingsError::UnknownKey(json_shape::unknown_key_message(
                key, &known,
            )));
        }
        TenantSettings::deserialize(value).map_err(|e| {
            SettingsError::Malformed(
                Escaped(&truncate(&e.to_string(), 2 * json_shape::SHOWN_BYTES)).to_string(),
            )
        })
    }

    /// Checks the settings as the daemon will read them, against the operator's `limits`:
    /// the cron expression and IANA time zone parse, the guardrails are a JSON object of
    /// known keys within the limits, the name and params are bounded text, the lead days at
    /// most [`MAX_LEAD_DAYS`], the delivery settings as [`DeliverySettings::validate`] checks
    /// them. Every path that stores settings a tenant sent calls this; the store's
    /// `create_tenant` and `update_tenant` call it with [`OperatorLimits::widest`].
    pub fn validate(&self, limits: &OperatorLimits) -> Result<CheckedSettings, SettingsError> {
        // The scheduler's own messages quote the value unbounded: say it here instead.
        let schedule = Schedule::parse(&self.schedule, &self.time_zone).map_err(|e| match e {
            ScheduleError::BadExpression { .. } => invalid(
                "schedule",
                quoted(&self.schedule, json_shape::SHOWN_BYTES),
                "is not a cron expression: expected 6 or 7 fields, seconds first, \
                 e.g. \"0 0 9 * * Mon-Fri\""
                    .into(),
            ),
            ScheduleError::UnknownTimeZone { .. } => invalid(
                "time-zone",
                quoted(&self.time_zone, json_shape::SHOWN_BYTES),
                "is an unknown time zone: expected an IANA name such as \"Europe/Helsinki\"".into(),
            ),
        })?;
        let guardrails = GuardrailSettings::from_json(&self.guardrails, limits)?;
        text_setting("name", &self.name, MAX_NAME_LEN)?;
        if self.params.len() > MAX_PARAMS {
            return Err(invalid(
                "params",
                format!("({} entries)", self.params.len()),
                format!("are too many: at most {MAX_PARAMS}"),
            ));
        }
        for (key, value) in &self.params {
            text_setting("params key", key, MAX_NAME_LEN)?;
            if key.is_empty() {
                return Err(invalid("params key", quoted(key, 0), "is empty".into()));
            }
            text_setting(&format!("params.{key}"), value, MAX_PARAM_VALUE_LEN)?;
        }
        if self.lead_days > MAX_LEAD_DAYS {
            return Err(invalid(
                "lead-days",
                self.lead_days.to_string(),
                format!("is too many: at most {MAX_LEAD_DAYS}"),
            ));
        }
        self.delivery.validate()?;
        self.sandbox.validate(limits)?;
        Ok(CheckedSettings {
            schedule,
            guardrails,
        })
    }
}

pub(crate) fn invalid(key: &str, value: String, problem: String) -> SettingsError {
    SettingsError::Invalid {
        key: key.to_owned(),
        value,
        problem,
    }
}

/// Free text a tenant sets: at most `max` bytes, one line of printable characters (it is
/// shown in lists and logs). `key` is bounded here, since a param's key is the tenant's own.
pub(crate) fn text_setting(key: &str, value: &str, max: usize) -> Result<(), SettingsError> {
    let key = Escaped(&truncate(key, json_shape::SHOWN_BYTES)).to_string();
    if value.len() > max {
        return Err(invalid(
            &key,
            quoted(value, json_shape::SHOWN_BYTES),
            format!("is {} bytes long: at most {max}", value.len()),
        ));
    }
    if value.chars().any(|c| is_control(c) || is_bidi_control(c)) {
        return Err(invalid(
            &key,
            quoted(value, json_shape::SHOWN_BYTES),
            "holds a control character".into(),
        ));
    }
    Ok(())
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

    fn refusal(settings: &TenantSettings, limits: &OperatorLimits) -> String {
        settings.validate(limits).expect_err("refused").to_string()
    }

    #[test]
    fn valid_settings_pass_and_are_read_as_the_daemon_reads_them() {
        let settings = TenantSettings {
            name: "Acme Oy".into(),
            time_zone: "Europe/Helsinki".into(),
            guardrails: serde_json::json!({"max-contacts-per-customer-7-days": 5}),
            params: BTreeMap::from([("brand".to_owned(), "Acme".to_owned())]),
            lead_days: 7,
            ..TenantSettings::default()
        };
        let checked = settings
            .validate(&OperatorLimits::default())
            .expect("valid");
        assert_eq!(checked.schedule.time_zone(), "Europe/Helsinki");
        assert_eq!(checked.guardrails.max_contacts_per_customer_7_days, 5);
        assert!(TenantSettings::default()
            .validate(&OperatorLimits::default())
            .is_ok());
    }

    #[test]
    fn each_bad_setting_is_refused_naming_the_key_and_the_value() {
        let limits = OperatorLimits::default();
        let with = |edit: &dyn Fn(&mut TenantSettings)| {
            let mut s = TenantSettings::default();
            edit(&mut s);
            refusal(&s, &limits)
        };
        let cases: [(&str, String); 10] = [
            (
                r#"guardrails: unknown field "max-contacts-per-week""#,
                with(&|s| s.guardrails = serde_json::json!({"max-contacts-per-week": 7})),
            ),
            (
                "guardrails: guardrail settings must be a JSON object",
                with(&|s| s.guardrails = serde_json::json!([1, 2])),
            ),
            (
                r#"guardrails: level-may-decrease is "yes": invalid type"#,
                with(&|s| s.guardrails = serde_json::json!({"level-may-decrease": "yes"})),
            ),
            (
                r#"time-zone "Mars/Olympus" is an unknown time zone"#,
                with(&|s| s.time_zone = "Mars/Olympus".into()),
            ),
            (
                r#"schedule "every day at nine" is not a cron expression"#,
                with(&|s| s.schedule = "every day at nine".into()),
            ),
            (
                "guardrails: max-contacts-per-customer-7-days is 99; the operator allows 1 to 7",
                with(&|s| {
                    s.guardrails = serde_json::json!({"max-contacts-per-customer-7-days": 99})
                }),
            ),
            (
                r#"name "Acme\nOy" holds a control character"#,
                with(&|s| s.name = "Acme\nOy".into()),
            ),
            (
                r#"params.brand "\u{1b}[2J" holds a control character"#,
                with(&|s| {
                    s.params.insert("brand".into(), "\u{1b}[2J".into());
                }),
            ),
            (
                "is 5000 bytes long: at most 4096",
                with(&|s| {
                    s.params.insert("footer".into(), "x".repeat(5000));
                }),
            ),
            ("lead-days 400 is too many", with(&|s| s.lead_days = 400)),
        ];
        for (expected, message) in cases {
            assert!(message.contains(expected), "{expected:?} in {message:?}");
            assert!(message.len() < 400, "bounded: {message:?}");
        }
    }

    #[test]
    fn a_hostile_value_is_quoted_bounded_and_escaped() {
        let s = TenantSettings {
            time_zone: format!("\u{1b}]0;pwned\u{7}{}", "x".repeat(10_000)),
            ..TenantSettings::default()
        };
        let message = refusal(&s, &OperatorLimits::default());
        assert!(
            message.starts_with(r#"time-zone "\u{1b}]0;pwned\u{7}xx"#),
            "{message}"
        );
        assert!(message.len() < 300, "{} bytes", message.len());
        assert!(!message.chars().any(is_control), "{message:?}");
    }

    #[test]
    fn the_operator_limits_decide_what_is_within_them() {
        let s = TenantSettings {
            guardrails: serde_json::json!({"hold-while-disputed": false}),
            ..TenantSettings::default()
        };
        assert!(refusal(&s, &OperatorLimits::default()).contains("not allowed by the operator"));
        assert!(s.validate(&OperatorLimits::widest()).is_ok());
    }

    #[test]
    fn settings_as_json_refuse_an_unknown_key_at_the_top() {
        let mut json = serde_json::to_value(TenantSettings::default()).unwrap();
        assert!(TenantSettings::from_json(&json).is_ok());
        json["time-zone"] = "Europe/Helsinki".into();
        assert_eq!(
            TenantSettings::from_json(&json).unwrap().time_zone,
            "Europe/Helsinki"
        );
        json["shedule"] = "0 0 8 * * *".into();
        let err = TenantSettings::from_json(&json).unwrap_err().to_string();
        assert!(
            err.starts_with(r#"unknown field "shedule"; the fields are"#),
            "{err}"
        );
        let err = TenantSettings::from_json(&serde_json::json!({"lead-days": "7"}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("malformed"), "{err}");
        let err = TenantSettings::from_json(&serde_json::json!([1, 2]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("expected a JSON object, not an array"),
            "{err}"
        );
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
