//! `dunlin tenant …`: create, list, show and change tenants.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use clap::Subcommand;
use dunlin_core::guardrails::OperatorLimits;
use dunlin_core::text::Escaped;
use dunlin_store::{Db, FailureMode, Tenant, TenantId, TenantSettings};

#[derive(Subcommand)]
pub enum TenantCommand {
    /// Create a tenant.
    Create {
        /// The tenant's id: lower-case letters, digits, '-' and '_'.
        id: String,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// List tenants.
    List,
    /// Show one tenant's settings and policy versions.
    Show {
        /// The tenant's id.
        id: String,
    },
    /// Change a tenant's settings (only those given).
    Set {
        /// The tenant's id.
        id: String,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Make, list and revoke a tenant's API keys.
    #[command(subcommand)]
    Key(crate::key_cmd::KeyCommand),
}

#[derive(clap::Args)]
pub struct SettingsArgs {
    /// Display name.
    #[arg(long)]
    name: Option<String>,
    /// IANA time zone of the schedule, e.g. Europe/Helsinki.
    #[arg(long)]
    time_zone: Option<String>,
    /// Cron expression of the sweep (seconds first), e.g. "0 0 9 * * Mon-Fri".
    #[arg(long)]
    schedule: Option<String>,
    /// What to do when the policy fails: retry-next-tick, previous-version, safe-default.
    #[arg(long)]
    failure_mode: Option<FailureMode>,
    /// Guardrail settings as JSON, e.g. '{"max-contacts-per-customer-7-days": 5}'.
    #[arg(long)]
    guardrails: Option<String>,
    /// A policy parameter, key=value (repeatable).
    #[arg(long = "param", value_parser = key_value)]
    params: Vec<(String, String)>,
    /// Days before the due date an invoice is first reviewed.
    #[arg(long)]
    lead_days: Option<u32>,
    /// Delivery settings as JSON; the keys given replace those set, e.g.
    /// '{"sender-address": "billing@example.com", "default-locale": "fi", "quiet-days": ["sun"]}'
    /// (keys: sender-name, sender-address, reply-to, default-locale, payment-link,
    /// consolidate, max-attempts, quiet-days).
    #[arg(long)]
    delivery: Option<String>,
    /// The tenant's own sandbox limits per decision as JSON, within the operator's bounds
    /// (--operator-limits); the keys given replace those set, null returns one to the
    /// host's default, e.g. '{"fuel": 50000000, "memory-mib": 96, "deadline-ms": 1000}'.
    #[arg(long)]
    sandbox: Option<String>,
}

fn key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not key=value"))
}

impl SettingsArgs {
    /// Applies the given options to `settings` and checks the result.
    fn apply(
        &self,
        mut settings: TenantSettings,
        limits: &OperatorLimits,
    ) -> anyhow::Result<TenantSettings> {
        if let Some(v) = &self.name {
            settings.name = v.clone();
        }
        if let Some(v) = &self.time_zone {
            settings.time_zone = v.clone();
        }
        if let Some(v) = &self.schedule {
            settings.schedule = v.clone();
        }
        if let Some(v) = self.failure_mode {
            settings.failure_mode = v;
        }
        if let Some(v) = &self.guardrails {
            settings.guardrails =
                serde_json::from_str(v).context("--guardrails is not valid JSON")?;
        }
        let params: BTreeMap<_, _> = self.params.iter().cloned().collect();
        settings.params.extend(params);
        if let Some(v) = self.lead_days {
            settings.lead_days = v;
        }
        if let Some(v) = &self.delivery {
            settings.delivery = merge("--delivery", &settings.delivery, v)?;
        }
        if let Some(v) = &self.sandbox {
            settings.sandbox = merge("--sandbox", &settings.sandbox, v)?;
        }
        settings.validate(limits)?;
        Ok(settings)
    }
}

/// `given` (a JSON object, the value of option `flag`) laid over `current`, key by key: a
/// key not given keeps its value.
fn merge<T: serde::Serialize + serde::de::DeserializeOwned>(
    flag: &str,
    current: &T,
    given: &str,
) -> anyhow::Result<T> {
    let given: serde_json::Value =
        serde_json::from_str(given).with_context(|| format!("{flag} is not valid JSON"))?;
    let serde_json::Value::Object(given) = given else {
        bail!("{flag} must be a JSON object");
    };
    let mut merged = serde_json::to_value(current)?;
    let object = merged
        .as_object_mut()
        .with_context(|| format!("{flag}: the current settings are not a JSON object"))?;
    object.extend(given);
    serde_json::from_value(merged).map_err(|e| {
        anyhow::anyhow!(
            "{flag}: {}",
            Escaped(&dunlin_core::text::truncate(&e.to_string(), 400))
        )
    })
}

pub fn tenant_id(id: &str) -> anyhow::Result<TenantId> {
    Ok(TenantId::new(id)?)
}

/// The tenant named `id`, which must exist: a command about a tenant that does not exist
/// fails with that, instead of answering for nobody.
pub async fn existing_tenant(db: &dyn Db, id: &str) -> anyhow::Result<(TenantId, Tenant)> {
    let id = tenant_id(id)?;
    let t = db
        .tenant(&id)
        .await?
        .with_context(|| format!("no tenant {}", Escaped(id.as_str())))?;
    Ok((id, t))
}

pub async fn run(
    cmd: &TenantCommand,
    db: &dyn Db,
    limits: &OperatorLimits,
) -> anyhow::Result<ExitCode> {
    match cmd {
        TenantCommand::Create { id, settings } => {
            let id = tenant_id(id)?;
            if db.tenant(&id).await?.is_some() {
                bail!(
                    "tenant {} exists already; use `dunlin tenant set`",
                    id.as_str()
                );
            }
            let settings = settings.apply(TenantSettings::named(&id), limits)?;
            db.create_tenant(&id, &settings).await?;
            outln!("created tenant {}", id.as_str());
        }
        TenantCommand::List => {
            for t in db.tenants().await? {
                // The name is free text a tenant may have chosen: one escaped cell.
                outln!(
                    "{:<20} {:<24} {:<18} {}",
                    t.id.as_str(),
                    Escaped(&t.settings.name),
                    Escaped(&t.settings.time_zone),
                    Escaped(&t.settings.schedule)
                );
            }
        }
        TenantCommand::Show { id } => {
            let (id, t) = existing_tenant(db, id).await?;
            outln!("{}", serde_json::to_string_pretty(&t)?);
            for v in db.policy_versions(&id).await? {
                outln!(
                    "policy version {:>3}  {:<9} {}  {} bytes",
                    v.version,
                    v.status.as_str(),
                    &v.sha256[..12],
                    v.size
                );
            }
        }
        TenantCommand::Set { id, settings } => {
            let (id, t) = existing_tenant(db, id).await?;
            let settings = settings.apply(t.settings, limits)?;
            db.update_tenant(&id, &settings).await?;
            outln!("updated tenant {}", id.as_str());
        }
        TenantCommand::Key(cmd) => return crate::key_cmd::run(cmd, db).await,
    }
    Ok(ExitCode::SUCCESS)
}
