//! `dunlin policy shadow|shadow-report|canary|promote|abort|canary-report`: trying a version
//! beside the active one. The reports are the library's (`dunlin_lab::shadow`,
//! `dunlin_lab::canary`), as the API's are.

use anyhow::Context as _;
use clap::Subcommand;
use dunlin_core::Date;
use dunlin_lab::canary::{canary_report, CanaryReport};
use dunlin_lab::shadow::{shadow_report, ShadowReport};
use dunlin_lab::Range;
use dunlin_store::{CanaryShare, Db};

use crate::tenant_cmd::tenant_id;

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
        /// Disagreements listed (all are counted).
        #[arg(long, default_value_t = 20)]
        list: usize,
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
            list,
            json,
        } => {
            let t = tenant_id(tenant)?;
            let report = shadow_report(db, &t, range.range(), *list).await?;
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
            let report = canary_report(db, &t, range.range()).await?;
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

/// The shadow report: which version since when over which days, then the comparison's
/// tables (the live version as the baseline, the shadow version as the candidate).
fn print_shadow(r: &ShadowReport) {
    match r.version {
        Some(v) => outln!("shadow version {v}"),
        None => outln!("no version in shadow now; every shadow answer in the range"),
    }
    outln!(
        "days {} to {}",
        r.from.map_or("the first".into(), |d| d.to_string()),
        r.to.map_or("the last".into(), |d| d.to_string())
    );
    outln!("baseline: the live decisions; candidate: the shadow version's answers\n");
    crate::backtest_cmd::print(&r.comparison);
}

fn print_canary(r: &CanaryReport) {
    match (r.canary, &r.share) {
        (Some(v), Some(share)) => outln!("canary version {v} for {share} of customers"),
        _ => outln!("no canary runs now"),
    }
    outln!(
        "days {} to {}",
        r.from.map_or("the first".into(), |d| d.to_string()),
        r.to.map_or("the last".into(), |d| d.to_string())
    );
    outln!(
        "\n{:<7} {:>7} {:>9} {:>9} {:>9} {:>8} {:>8}",
        "arm",
        "version",
        "decisions",
        "invoices",
        "customers",
        "fail %",
        "blocked"
    );
    for a in &r.arms {
        outln!(
            "{:<7} {:>7} {:>9} {:>9} {:>9} {:>8.1} {:>8}",
            a.arm,
            a.version,
            a.decisions,
            a.invoices,
            a.customers,
            a.failure_rate * 100.0,
            a.blocked
        );
    }
    // The arms' measures side by side, in the comparison's tables.
    let columns: Vec<(String, &dunlin_lab::compare::Side)> = r
        .arms
        .iter()
        .map(|a| (format!("{} v{}", a.arm, a.version), &a.side))
        .collect();
    if !columns.is_empty() {
        let columns: Vec<(&str, &dunlin_lab::compare::Side)> =
            columns.iter().map(|(h, s)| (h.as_str(), *s)).collect();
        crate::backtest_cmd::print_sides(&columns);
    }
}
