//! `dunlin policy replay` (recorded decisions run again through the component that made
//! them, compared byte for byte) and `dunlin decisions --export` (the log as JSON Lines).

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use dunlin_core::text::{quoted, Escaped};
use dunlin_core::Date;
use dunlin_lab::replay::{replay, ReplayOptions, ReplayReport, Scope};
use dunlin_runtime::Runtime;
use dunlin_store::{Db, RecordedQuery, TenantId};
use indicatif::{ProgressBar, ProgressStyle};

use crate::tenant_cmd::existing_tenant;

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// The tenant.
    #[arg(long)]
    tenant: String,
    /// Replay only this decision (its id in the log).
    #[arg(long, conflicts_with_all = ["from", "to"])]
    decision: Option<i64>,
    /// First as-of day of the window [default: the oldest decision].
    #[arg(long)]
    from: Option<Date>,
    /// Last as-of day of the window [default: the newest decision].
    #[arg(long)]
    to: Option<Date>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Threads deciding in parallel [default: one per core].
    #[arg(long)]
    workers: Option<usize>,
}

/// Replays and prints the report; exits 1 when a decision differs or could not be replayed.
pub async fn run(args: &ReplayArgs, db: &dyn Db, runtime: &Runtime) -> anyhow::Result<ExitCode> {
    let (tenant, _) = existing_tenant(db, &args.tenant).await?;
    let scope = match args.decision {
        Some(id) => Scope::Decision(id),
        None => Scope::Window {
            from: args.from,
            to: args.to,
            after_id: None,
        },
    };
    let mut opts = ReplayOptions::default();
    if let Some(w) = args.workers {
        opts.workers = w.max(1);
    }
    let bar = progress_bar(!args.json);
    let report = replay(db, runtime, &tenant, scope, &opts, &|n| {
        bar.set_position(n as u64)
    })
    .await
    .with_context(|| format!("replaying {}'s decisions", tenant.as_str()))?;
    bar.finish_and_clear();
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&tenant, &report);
    }
    Ok(if report.all_identical() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A count of decisions replayed, on stderr, only when a person watches stdout.
fn progress_bar(wanted: bool) -> ProgressBar {
    if !wanted || !std::io::stdout().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos} decisions replayed ({per_sec})")
            .expect("the template is valid"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// The report for people. Invoice ids and both sides of a mismatch are the tenant's and its
/// policy's text: bounded by the library, escaped here.
fn print_report(tenant: &TenantId, r: &ReplayReport) {
    outln!(
        "replayed {} decision(s) of {}: {} identical, {} differ, {} with the component missing",
        r.replayed,
        tenant.as_str(),
        r.identical,
        r.mismatches.len(),
        r.missing.len()
    );
    if r.without_policy > 0 {
        outln!(
            "{} decision(s) were made without a policy: nothing to replay",
            r.without_policy
        );
    }
    for m in &r.mismatches {
        outln!(
            "differs: decision {}, invoice {}, as-of {}, version {}, from byte {}",
            m.decision_id,
            quoted(&m.invoice_id, 200),
            m.as_of,
            m.policy_version,
            m.at
        );
        outln!("  recorded: {}", Escaped(&m.recorded));
        outln!("  replayed: {}", Escaped(&m.replayed));
    }
    for m in &r.missing {
        outln!(
            "missing: decision {}, invoice {}, as-of {}, version {} (sha256 {}): {}",
            m.decision_id,
            quoted(&m.invoice_id, 200),
            m.as_of,
            m.policy_version,
            Escaped(m.policy_sha256.get(..12).unwrap_or(&m.policy_sha256)),
            Escaped(&m.why)
        );
    }
    if r.truncated {
        outln!(
            "stopped early: the decisions after id {:?} were not read",
            r.last_id
        );
    }
}

/// Writes the tenant's decisions with as-of in `from..=to` as JSON Lines to `out`, or to
/// stdout when it is not a terminal (the lines carry the tenant's and its policy's text).
pub async fn export(
    db: &dyn Db,
    tenant: &str,
    from: Option<Date>,
    to: Option<Date>,
    out: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    match write_export(db, tenant, from, to, out).await {
        // A reader that goes away (`| head`) ends the export quietly, as `outln!` does.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(ExitCode::SUCCESS)
        }
        other => other,
    }
}

async fn write_export(
    db: &dyn Db,
    tenant: &str,
    from: Option<Date>,
    to: Option<Date>,
    out: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let (tenant, _) = existing_tenant(db, tenant).await?;
    let mut sink: Box<dyn Write> = match out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None if std::io::stdout().is_terminal() => anyhow::bail!(
            "the export is JSON Lines holding the tenant's own text: give --out FILE or pipe it"
        ),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut query = RecordedQuery {
        limit: 2000,
        // The export's lines do not carry the blocked actions.
        blocked_actions: false,
        ..RecordedQuery::window(from, to)
    };
    let mut written = 0usize;
    loop {
        let page = db.recorded_decisions(&tenant, &query).await?;
        let Some(last) = page.last().map(|r| r.id) else {
            break;
        };
        for r in &page {
            let decision = r
                .decision
                .as_deref()
                .map(serde_json::from_str::<serde_json::Value>)
                .transpose()
                .with_context(|| format!("decision {} is not JSON", r.id))?;
            let context = r
                .context
                .parse()
                .with_context(|| format!("the context of decision {}", r.id))?;
            let line = serde_json::json!({
                "decision_id": r.id,
                "invoice_id": r.invoice_id,
                "as_of": r.as_of,
                "policy_version": r.policy.as_ref().map(|p| p.version),
                "policy_sha256": r.policy.as_ref().map(|p| p.sha256.as_str()),
                "context": context,
                "decision": decision,
                "failure_code": r.failure_code,
            });
            serde_json::to_writer(&mut sink, &line).map_err(std::io::Error::from)?;
            sink.write_all(b"\n")?;
        }
        written += page.len();
        query = query.after(last);
    }
    sink.flush()?;
    if let Some(path) = out {
        eprintln!("wrote {written} decision(s) to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
