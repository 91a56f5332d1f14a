//! `dunlin policy shadow|shadow-report|canary|promote|abort|canary-report`: trying a version
//! beside the active one. The reports are `dunlin_sweep::trial`'s, as the API's are.

use anyhow::Context as _;
use clap::Subcommand;
use dunlin_core::text::quoted;
use dunlin_core::Date;
use dunlin_store::{CanaryShare, Db};
use dunlin_sweep::trial::{self, Agreement, Range};

use crate::tenant_cmd::tenant_id;

/// Most bytes of a tenant's or a policy's text printed per field.
const SHOWN: usize = 160;

#[derive(Subcommand)]
pub enum TrialCommand {
    /// Run a stored version in shadow: every sweep also asks it on the same contexts and
    /// records its answers apart; nothing of them is delivered or moves a ladder.
    Shadow {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The version to shadow.
        #[arg(required_unless_present = "off", conflicts_with = "off")]
        version: Option<u32>,
        /// Turn shadow off.
        #[arg(long)]
        off: bool,
    },
    /// Compare the live decisions with the shadow version's answers.
    ShadowReport {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        range: RangeArgs,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Start a stored version as a canary for a share of customers (by a stable hash of
    /// the customer id), or change the running canary's share.
    Canary {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The version.
        version: u32,
        /// The share of customers, e.g. `10%` or `0.5%`.
        share: CanaryShare,
    },
    /// Make the canary the active version for everyone.
    Promote {
        /// The tenant.
        #[arg(long)]
        tenant: String,
    },
    /// Stop the canary; the ladders it started go back to the active version.
    Abort {
        /// The tenant.
        #[arg(long)]
        tenant: String,
    },
    /// Set the canary's arm beside the active version's.
    CanaryReport {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        range: RangeArgs,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
pub struct RangeArgs {
    /// The first as-of day (default: the day the trial started).
    #[arg(long)]
    from: Option<Date>,
    /// The last as-of day.
    #[arg(long)]
    to: Option<Date>,
}

impl RangeArgs {
    fn range(&self) -> Range {
        Range {
            from: self.from,
            to: self.to,
        }
    }
}

pub async fn run(cmd: &TrialCommand, db: &dyn Db) -> anyhow::Result<()> {
    match cmd {
        TrialCommand::Shadow {
            tenant,
            version,
            off,
        } => {
            let t = tenant_id(tenant)?;
            let version = if *off { None } else { *version };
            let trials = db.set_shadow(&t, version).await?;
            match trials.shadow {
                Some(s) => outln!(
                    "version {} of {} runs in shadow since {}",
                    s.version,
                    t.as_str(),
                    s.since.format("%Y-%m-%d %H:%M")
                ),
                None => outln!("shadow is off for {}", t.as_str()),
            }
        }
        TrialCommand::ShadowReport {
            tenant,
            range,
            json,
        } => {
            let t = tenant_id(tenant)?;
            let report = trial::shadow_report(db, &t, range.range()).await?;
            show(&report, *json, print_shadow)?;
        }
        TrialCommand::Canary {
            tenant,
            version,
            share,
        } => {
            let t = tenant_id(tenant)?;
            let trials = db.start_canary(&t, *version, *share).await?;
            if let Some(c) = trials.canary {
                outln!(
                    "version {} of {} is the canary for {} of customers",
                    c.version,
                    t.as_str(),
                    c.share
                );
            }
        }
        TrialCommand::Promote { tenant } => {
            let t = tenant_id(tenant)?;
            let v = db.promote_canary(&t).await?;
            outln!(
                "canary promoted: version {} of {} is now active",
                v.version,
                t.as_str()
            );
        }
        TrialCommand::Abort { tenant } => {
            let t = tenant_id(tenant)?;
            let moved = db.abort_canary(&t).await?;
            outln!(
                "canary aborted for {}: {moved} ladders in progress moved back to the active version",
                t.as_str()
            );
        }
        TrialCommand::CanaryReport {
            tenant,
            range,
            json,
        } => {
            let t = tenant_id(tenant)?;
            let report = trial::canary_report(db, &t, range.range()).await?;
            show(&report, *json, print_canary)?;
        }
    }
    Ok(())
}

/// Prints a report as JSON or as tables.
fn show<T: serde::Serialize>(report: &T, json: bool, print: fn(&T)) -> anyhow::Result<()> {
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(report).context("encoding the report")?
        );
    } else {
        print(report);
    }
    Ok(())
}

fn agreement_line(label: &str, a: &Agreement) -> String {
    format!(
        "  {:<24} {:>6.1} %  ({} of {})",
        label,
        a.rate * 100.0,
        a.agreed,
        a.compared
    )
}

fn print_shadow(r: &trial::ShadowReport) {
    match r.version {
        Some(v) => outln!("shadow version {v}"),
        None => outln!("no version in shadow now; every shadow answer in the range"),
    }
    outln!(
        "days {} to {}",
        r.from.map_or("the first".into(), |d| d.to_string()),
        r.to.map_or("the last".into(), |d| d.to_string())
    );
    outln!("{}", agreement_line("agreement", &r.overall));
    for (title, rows) in [
        ("by segment", &r.by_segment),
        ("by level", &r.by_level),
        ("by action", &r.by_action),
    ] {
        outln!("{title}:");
        for (key, a) in rows {
            outln!("{}", agreement_line(&truncate_label(key), a));
        }
    }
    if !r.shadow_failures.is_empty() {
        outln!("shadow failures:");
        for (code, n) in &r.shadow_failures {
            outln!("  {:<24} {n}", truncate_label(code));
        }
    }
    if !r.disagreements.is_empty() {
        outln!("disagreements (first {}):", r.disagreements.len());
    }
    for d in &r.disagreements {
        outln!(
            "  {} {} (customer {})",
            d.as_of,
            quoted(&d.invoice_id, SHOWN),
            quoted(&d.customer_id, SHOWN)
        );
        outln!(
            "    live:   {}  {}",
            quoted(&d.live, SHOWN),
            quoted(&d.live_reason, SHOWN)
        );
        outln!(
            "    shadow: {}  {}",
            quoted(&d.shadow, SHOWN),
            quoted(&d.shadow_reason, SHOWN)
        );
    }
}

/// A segment or failure code as a table label: bounded and escaped.
fn truncate_label(s: &str) -> String {
    dunlin_core::text::Escaped(&dunlin_core::text::truncate(s, 40)).to_string()
}

fn print_canary(r: &trial::CanaryReport) {
    match (r.canary, &r.share) {
        (Some(v), Some(share)) => outln!("canary version {v} for {share} of customers"),
        _ => outln!("no canary runs now"),
    }
    outln!(
        "{:<7} {:>7} {:>9} {:>9} {:>9} {:>8} {:>12} {:>8}",
        "arm",
        "version",
        "decisions",
        "invoices",
        "failures",
        "fail %",
        "escalations",
        "blocked"
    );
    for a in &r.arms {
        let f = &a.figures;
        outln!(
            "{:<7} {:>7} {:>9} {:>9} {:>9} {:>8.1} {:>12} {:>8}",
            a.arm,
            f.version,
            f.decisions,
            f.invoices,
            f.failures,
            a.failure_rate * 100.0,
            a.escalations,
            f.blocked
        );
        let actions: Vec<String> = f.actions.iter().map(|(k, n)| format!("{k} {n}")).collect();
        outln!("        actions: {}", actions.join(", "));
    }
}
