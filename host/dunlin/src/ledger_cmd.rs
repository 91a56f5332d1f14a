//! `dunlin sweep`, `dunlin decisions`, `dunlin explain`: run a sweep by hand and read the
//! decision log.

use std::process::ExitCode;

use dunlin_core::guardrails::OperatorLimits;
use dunlin_core::text::{truncate, Escaped};
use dunlin_core::Date;
use dunlin_runtime::Runtime;
use dunlin_scheduler::Schedule;
use dunlin_store::outbox::AttemptRecord;
use dunlin_store::{ActionRecord, ActionStatus, Db, DecisionQuery, DecisionRecord};
use dunlin_sweep::{sweep, SweepOptions, SweepReport};

use crate::tenant_cmd::{existing_tenant, tenant_id};

#[derive(clap::Args)]
pub struct SweepArgs {
    /// The tenant.
    #[arg(long)]
    tenant: String,
    /// The day to sweep for [default: today in the tenant's time zone]. A date in the future
    /// plays the ladder forward (a test clock).
    #[arg(long)]
    as_of: Option<Date>,
    /// Decide and guard, but write nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(clap::Args)]
pub struct SweepsArgs {
    /// The tenant.
    #[arg(long)]
    tenant: String,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 20)]
    limit: u32,
}

#[derive(clap::Args)]
pub struct DecisionsArgs {
    /// The tenant.
    #[arg(long)]
    tenant: String,
    /// Only this invoice's decisions.
    #[arg(long)]
    invoice: Option<String>,
    /// At most this many, oldest first.
    #[arg(long, default_value_t = 1000)]
    limit: u32,
    /// Write every decision (in the --from/--to window) as JSON Lines, one object a line:
    /// decision_id, invoice_id, as_of, policy_version, policy_sha256, context, decision
    /// (null when the policy failed), failure_code.
    #[arg(long, conflicts_with_all = ["invoice", "limit"])]
    export: bool,
    /// With --export: the first as-of day.
    #[arg(long, requires = "export")]
    from: Option<Date>,
    /// With --export: the last as-of day.
    #[arg(long, requires = "export")]
    to: Option<Date>,
    /// With --export: the file to write [default: stdout, when it is not a terminal].
    #[arg(long, requires = "export")]
    out: Option<std::path::PathBuf>,
}

#[derive(clap::Args)]
pub struct ExplainArgs {
    /// The tenant.
    #[arg(long)]
    tenant: String,
    /// The invoice.
    #[arg(long)]
    invoice: String,
}

/// Today in the tenant's time zone.
pub async fn tenant_today(db: &dyn Db, tenant: &dunlin_store::TenantId) -> anyhow::Result<Date> {
    let (_, t) = existing_tenant(db, tenant.as_str()).await?;
    let schedule = Schedule::parse(&t.settings.schedule, &t.settings.time_zone)?;
    Ok(schedule.as_of_date(chrono::Utc::now()))
}

pub async fn run_sweep(
    args: &SweepArgs,
    db: &dyn Db,
    runtime: &Runtime,
    limits: &OperatorLimits,
) -> anyhow::Result<ExitCode> {
    let tenant = tenant_id(&args.tenant)?;
    let as_of = match args.as_of {
        Some(d) => d,
        None => tenant_today(db, &tenant).await?,
    };
    let opts = SweepOptions {
        dry_run: args.dry_run,
        limits: limits.clone(),
        record: Some(dunlin_store::SweepTrigger::Cli),
        ..SweepOptions::new(as_of)
    };
    let report = sweep(db, runtime, &tenant, &opts).await?;
    print_report(&args.tenant, as_of, args.dry_run, &report);
    Ok(ExitCode::SUCCESS)
}

pub fn print_report(tenant: &str, as_of: Date, dry_run: bool, r: &SweepReport) {
    outln!(
        "{}sweep of {tenant} for {as_of}: {} reviewed, {} recorded, {} already decided, \
         {} left for the next sweep (ledger changed), {} policy failures, {} actions, \
         {} blocked by guardrails",
        if dry_run { "dry-run " } else { "" },
        r.reviewed,
        r.recorded,
        r.skipped,
        r.stale,
        r.failures,
        r.actions,
        r.blocked
    );
    if r.shadowed > 0 || r.shadow_failures > 0 {
        outln!(
            "shadow: {} answers recorded apart ({} failures); nothing of them is delivered",
            r.shadowed,
            r.shadow_failures
        );
    }
    outln!(
        "time: select {:.1} ms, decide {:.1} ms, guard+write {:.1} ms",
        r.select.as_secs_f64() * 1e3,
        r.decide.as_secs_f64() * 1e3,
        r.write.as_secs_f64() * 1e3
    );
}

pub async fn run_sweeps(args: &SweepsArgs, db: &dyn Db) -> anyhow::Result<ExitCode> {
    let (tenant, _) = existing_tenant(db, &args.tenant).await?;
    for r in db.sweep_runs(&tenant, None, args.limit).await? {
        let f = &r.figures;
        let took = r.finished_at.map_or("-".to_owned(), |end| {
            format!("{:.1} s", (end - r.started_at).as_seconds_f64())
        });
        // The replica that ran it (its id may be the operator's own text: escaped).
        let on = r
            .replica
            .as_ref()
            .map_or(String::new(), |id| format!("  on {}", Escaped(id)));
        outln!(
            "{:>6}  {}  as-of {}  {:<11} {:<8} {}{} reviewed, {} recorded, {} skipped, {} stale, \
             {} failures, {} actions, {} blocked  {took}{on}",
            r.id,
            r.started_at.format("%Y-%m-%d %H:%M:%S"),
            r.as_of,
            r.status.as_str(),
            r.started_by.as_str(),
            if r.dry_run { "dry-run " } else { "" },
            f.reviewed,
            f.recorded,
            f.skipped,
            f.stale,
            f.failures,
            f.actions,
            f.blocked
        );
        // The error may quote the tenant's component: bounded and escaped, on its own line.
        if let Some(error) = &r.error {
            outln!("        {}", guest(error));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn run_decisions(args: &DecisionsArgs, db: &dyn Db) -> anyhow::Result<ExitCode> {
    if args.export {
        let out = args.out.as_deref();
        return crate::replay_cmd::export(db, &args.tenant, args.from, args.to, out).await;
    }
    let (tenant, _) = existing_tenant(db, &args.tenant).await?;
    let query = DecisionQuery {
        invoice: args.invoice.clone(),
        limit: args.limit,
        ..DecisionQuery::default()
    };
    // One row per decision: the invoice id is the tenant's and the reason the policy's, so
    // both are escaped (a newline in either would forge a row).
    for r in db.decisions(&tenant, &query).await? {
        outln!(
            "{}  {:<12} v{:<3} {:<40} {}",
            r.as_of,
            Escaped(&r.invoice_id),
            r.policy
                .as_ref()
                .map_or("-".to_owned(), |p| p.version.to_string()),
            actions(&r),
            guest(&r.reason)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The most bytes of one guest-written field shown: a refusal or a failure carrying the
/// policy's output can be long, and is stored with every invoice it failed.
const SHOWN_BYTES: usize = 2048;

/// Text a policy wrote, bounded and escaped onto one inert line.
fn guest(text: &str) -> String {
    Escaped(&truncate(text, SHOWN_BYTES)).to_string()
}

fn actions(r: &DecisionRecord) -> String {
    if let Some(f) = &r.failure {
        if r.decision.is_none() {
            return format!("FAILED {}", Escaped(&f.code));
        }
    }
    let parts: Vec<String> = r
        .actions
        .iter()
        .map(|a| format!("{} [{}]", a.action, a.status.as_str()))
        .collect();
    if parts.is_empty() {
        "wait".into()
    } else {
        parts.join(", ")
    }
}

/// What delivery did with an action: why it waits or was withheld, when it is tried next,
/// and each attempt.
fn delivery(a: &ActionRecord, attempts: &[AttemptRecord]) {
    let mut lines = Vec::new();
    if let Some(note) = &a.note {
        lines.push(guest(note));
    }
    if let (ActionStatus::Pending, Some(at)) = (a.status, a.next_attempt_at) {
        lines.push(format!("next attempt {}", at.format("%Y-%m-%d %H:%M UTC")));
    }
    if let Some(error) = &a.last_error {
        lines.push(format!("last error: {}", guest(error)));
    }
    for t in attempts.iter().filter(|t| t.action_id == a.id) {
        let m = &t.attempt_made;
        lines.push(format!(
            "attempt {} at {} by {} to {}: {} ({})",
            t.attempt,
            m.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
            m.channel.as_str(),
            guest(&m.target),
            m.outcome.as_str(),
            guest(&m.detail)
        ));
    }
    for line in lines {
        outln!("  delivery: #{} {}: {line}", a.id, a.status.as_str());
    }
    if let Some(r) = &a.reported {
        let decline = match (&r.code, r.kind) {
            (Some(code), Some(kind)) => format!(" ({}, {})", guest(code), kind.as_str()),
            _ => String::new(),
        };
        let note = r
            .note
            .as_deref()
            .map_or_else(String::new, |n| format!(": {}", guest(n)));
        outln!(
            "  reported: #{} {} on {}{decline}{note}",
            a.id,
            r.outcome.as_str(),
            r.on
        );
    }
}

pub async fn run_explain(args: &ExplainArgs, db: &dyn Db) -> anyhow::Result<ExitCode> {
    let (tenant, _) = existing_tenant(db, &args.tenant).await?;
    let log = db
        .decisions(&tenant, &DecisionQuery::invoice(args.invoice.clone()))
        .await?;
    if log.is_empty() {
        anyhow::bail!(
            "no decisions for invoice {} of tenant {}",
            args.invoice,
            args.tenant
        );
    }
    outln!(
        "invoice {} of tenant {}: {} decisions\n",
        Escaped(&args.invoice),
        Escaped(&args.tenant),
        log.len()
    );
    let ids: Vec<i64> = log
        .iter()
        .flat_map(|r| r.actions.iter().map(|a| a.id))
        .collect();
    let attempts = db.delivery_attempts(&tenant, &ids).await?;
    for r in &log {
        let policy = r.policy.as_ref().map_or("no policy".to_owned(), |p| {
            format!("policy v{} ({})", p.version, &p.sha256[..12])
        });
        outln!("{} — {}", r.as_of, policy);
        if let Some(d) = &r.decision {
            outln!("  segment:  {}", guest(&d.segment));
            outln!(
                "  review:   {}",
                d.review_on
                    .map_or("never (ladder over)".into(), |d| d.to_string())
            );
        }
        outln!("  why:      {}", guest(&r.reason));
        outln!("  actions:  {}", actions(r));
        for a in &r.actions {
            delivery(a, &attempts);
        }
        if let Some(f) = &r.failure {
            outln!("  failure:  [{}] {}", Escaped(&f.code), guest(&f.message));
        }
        for i in &r.interventions {
            outln!("  guardrail {}: {}", i.rule, guest(&i.detail));
        }
        if let (Some(fuel), Some(us)) = (r.fuel_used, r.duration_us) {
            outln!("  cost:     {fuel} fuel, {us} µs");
        }
        outln!();
    }
    Ok(ExitCode::SUCCESS)
}
