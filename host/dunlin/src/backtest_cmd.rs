//! `dunlin policy backtest` (a stored version over the tenant's decision log) and
//! `dunlin policy diff` (two components over contexts from a file, no database): the same
//! comparison, printed as tables or as JSON.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use dunlin_core::cases::CasesFile;
use dunlin_core::guardrails::OperatorLimits;
use dunlin_core::simulate::Book;
use dunlin_core::text::Escaped;
use dunlin_core::Date;
use dunlin_lab::backtest::{backtest, BacktestOptions};
use dunlin_lab::candidate::Rules;
use dunlin_lab::compare::{Direction, MoneyLine, Report, Side};
use dunlin_lab::diff;
use dunlin_lab::forward::{forward, ForwardOptions, ForwardReport};
use indicatif::{ProgressBar, ProgressStyle};

use crate::policy_cmd::load;
use crate::SandboxArgs;

#[derive(clap::Args)]
pub struct BacktestArgs {
    /// The tenant.
    #[arg(long)]
    tenant: String,
    /// The stored policy version to try.
    version: u32,
    /// Recorded decisions of this day or later (YYYY-MM-DD).
    #[arg(long)]
    from: Option<Date>,
    /// Recorded decisions of this day or earlier (YYYY-MM-DD).
    #[arg(long)]
    to: Option<Date>,
    /// Disagreeing decisions listed (all are counted).
    #[arg(long, default_value_t = 20)]
    list: usize,
    /// Print the report as JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Also play the invoices open today this many days forward, through the active version
    /// and through VERSION, and compare the ladders (nobody pays; nothing is written).
    #[arg(long, value_name = "DAYS")]
    forward: Option<u32>,
    /// The forward look's first day (YYYY-MM-DD; default: today in the tenant's time zone).
    #[arg(long, requires = "forward")]
    start: Option<Date>,
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["book", "cases", "contexts"])))]
pub struct DiffArgs {
    /// The baseline component.
    old: PathBuf,
    /// The candidate component.
    new: PathBuf,
    /// A book as `dunlin simulate` reads it, played through OLD; both are asked on its
    /// contexts.
    #[arg(long)]
    book: Option<PathBuf>,
    /// With --book: how many days to play.
    #[arg(long, default_value_t = 90)]
    days: u32,
    /// A cases file: every case's context.
    #[arg(long)]
    cases: Option<PathBuf>,
    /// Contexts as JSON Lines, as `dunlin decisions --export` writes them (or one bare
    /// context object per line).
    #[arg(long)]
    contexts: Option<PathBuf>,
    /// Disagreeing contexts listed (all are counted).
    #[arg(long, default_value_t = 20)]
    list: usize,
    /// Print the report as JSON instead of tables.
    #[arg(long)]
    json: bool,
}

pub async fn run(
    args: &BacktestArgs,
    sandbox: &SandboxArgs,
    db: &dyn dunlin_store::Db,
    limits: &OperatorLimits,
) -> anyhow::Result<ExitCode> {
    let (tenant, _) = crate::tenant_cmd::existing_tenant(db, &args.tenant).await?;
    let runtime = sandbox.runtime()?;
    let opts = BacktestOptions {
        from: args.from,
        to: args.to,
        limits: limits.clone(),
        listed: args.list,
        ..BacktestOptions::new(args.version)
    };
    let bar = progress_bar(args.json, "decisions compared");
    let report = backtest(db, &runtime, &tenant, &opts, &mut |done| {
        bar.set_position(done)
    })
    .await
    .with_context(|| format!("backtesting version {}", args.version))?;
    bar.finish_and_clear();
    let ahead = match args.forward {
        Some(days) => {
            let start = match args.start {
                Some(day) => day,
                None => crate::ledger_cmd::tenant_today(db, &tenant).await?,
            };
            let opts = ForwardOptions {
                limits: limits.clone(),
                listed: args.list,
                ..ForwardOptions::new(args.version, start, days)
            };
            let bar = progress_bar(args.json, "days played");
            let report = forward(db, &runtime, &tenant, &opts, &mut |done| {
                bar.set_position(done)
            })
            .await
            .with_context(|| format!("playing version {} forward", args.version))?;
            bar.finish_and_clear();
            Some(report)
        }
        None => None,
    };
    if args.json {
        let mut json = serde_json::to_value(&report)?;
        if let (Some(ahead), Some(object)) = (&ahead, json.as_object_mut()) {
            object.insert("forward".into(), serde_json::to_value(ahead)?);
        }
        outln!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(ExitCode::SUCCESS);
    }
    let window = |d: Option<Date>| d.map_or_else(|| "…".to_owned(), |d| d.to_string());
    outln!(
        "Backtest of version {} (sha256 {}) for {}, decisions {} to {}",
        report.version,
        &report.sha256[..12.min(report.sha256.len())],
        Escaped(&report.tenant),
        window(report.from),
        window(report.to)
    );
    outln!(
        "baseline: what was recorded; candidate: version {}\n",
        report.version
    );
    print(&report.comparison);
    if let Some(ahead) = &ahead {
        outln!();
        print_forward(ahead);
    }
    Ok(ExitCode::SUCCESS)
}

/// The forward look as tables. Ids, segments and reasons are tenant text: escaped.
pub fn print_forward(r: &ForwardReport) {
    let last = r
        .start
        .checked_add_days(chrono::Days::new(u64::from(r.days.saturating_sub(1))))
        .unwrap_or(r.start);
    outln!(
        "Forward look from {} to {} ({} days; nobody pays): baseline: the active version {}; \
         candidate: version {}",
        r.start,
        last,
        r.days,
        r.baseline_version,
        r.version
    );
    outln!(
        "invoices played {}  ladders differing {}  decisions: baseline {}, candidate {}",
        r.invoices,
        r.invoices_differing,
        r.decisions.0,
        r.decisions.1
    );
    print_sides(&[("baseline", &r.baseline), ("candidate", &r.candidate)]);
    directions_and_money(&r.directions, &r.money, "ladders");
    if !r.ladders.is_empty() {
        outln!("\ndiffering ladders");
    }
    for l in &r.ladders {
        outln!(
            "  {} · {} · {} · {} {} · {}",
            Escaped(&l.invoice_id),
            Escaped(&l.customer_id),
            Escaped(&l.segment),
            l.open_balance.minor,
            l.open_balance.currency.as_str(),
            l.direction.as_str()
        );
        for (label, steps, end) in [
            ("baseline: ", &l.baseline, &l.baseline_end),
            ("candidate:", &l.candidate, &l.candidate_end),
        ] {
            outln!("    {label} {end}");
            for s in steps {
                outln!("      {}  {}: {}", s.on, s.what, Escaped(&s.reason));
            }
        }
    }
    if r.ladders_not_listed > 0 {
        outln!("  … and {} more", r.ladders_not_listed);
    }
}

pub fn run_diff(args: &DiffArgs, sandbox: &SandboxArgs) -> anyhow::Result<ExitCode> {
    let runtime = sandbox.runtime()?;
    let old = load(&runtime, &args.old)?;
    let new = load(&runtime, &args.new)?;
    let read = |path: &PathBuf| {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
    };
    let items = match (&args.book, &args.cases, &args.contexts) {
        (Some(path), _, _) => {
            let book: Book = serde_json::from_str(&read(path)?)
                .with_context(|| format!("{} is not a valid book", path.display()))?;
            diff::from_book(&book, args.days, &old)?
        }
        (_, Some(path), _) => diff::from_cases(
            &CasesFile::parse(&read(path)?).with_context(|| path.display().to_string())?,
        )?,
        (_, _, Some(path)) => {
            diff::read_jsonl(&read(path)?).with_context(|| path.display().to_string())?
        }
        (None, None, None) => unreachable!("clap requires one input"),
    };
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let report = diff::diff(&old, &new, &items, &Rules::default(), workers, args.list);
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "Diff of {} (baseline, sha256 {}) and {} (candidate, sha256 {}), default guardrails\n",
        args.old.display(),
        &old.info().sha256[..12],
        args.new.display(),
        &new.info().sha256[..12]
    );
    print(&report);
    Ok(ExitCode::SUCCESS)
}

/// A count of work done on stderr, only when a person watches and no JSON is asked for.
fn progress_bar(json: bool, what: &str) -> ProgressBar {
    if json || !std::io::stdout().is_terminal() || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template(&format!("{{spinner}} {{pos}} {what}, {{per_sec}}"))
            .expect("the template is valid"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// The report as tables. Segments, customer ids and reasons are tenant text: escaped.
pub fn print(r: &Report) {
    outln!(
        "compared {}  agreed {} ({:.1} %)  disagreed {}  invoices {} ({} with a difference)",
        r.total,
        r.agreed,
        100.0 * r.agreement_rate(),
        r.disagreed,
        r.invoices,
        r.invoices_differing
    );
    if !r.segments.is_empty() {
        outln!(
            "\n{:<32} {:>10} {:>10}",
            "segment (customer tags)",
            "compared",
            "agreed"
        );
        for (segment, a) in &r.segments {
            outln!("{:<32} {:>10} {:>10}", Escaped(segment), a.total, a.agreed);
        }
    }
    print_sides(&[("baseline", &r.baseline), ("candidate", &r.candidate)]);
    directions_and_money(&r.directions, &r.money, "decisions");
    if !r.disagreements.is_empty() {
        outln!("\ndisagreements");
    }
    for d in &r.disagreements {
        let id = d
            .decision_id
            .map_or_else(String::new, |id| format!("#{id} "));
        outln!(
            "  {id}{} · {} · {} · {} · {}",
            d.as_of,
            Escaped(&d.invoice_id),
            Escaped(&d.customer_id),
            Escaped(&d.segment),
            d.direction.as_str()
        );
        outln!("    baseline:  {}", d.baseline);
        outln!("               {}", Escaped(&d.baseline_reason));
        outln!("    candidate: {}", d.candidate);
        outln!("               {}", Escaped(&d.candidate_reason));
    }
    if r.disagreements_not_listed > 0 {
        outln!("  … and {} more", r.disagreements_not_listed);
    }
}

/// What each side did, beside each other: one column per (heading, side).
pub fn print_sides(columns: &[(&str, &Side)]) {
    let row = |label: &str, cells: Vec<String>| {
        let cells: String = cells.iter().map(|c| format!(" {c:>10}")).collect();
        outln!("{:<32}{cells}", Escaped(label));
    };
    outln!();
    row("", columns.iter().map(|(h, _)| (*h).to_owned()).collect());
    let counts = |of: fn(&Side) -> u64| columns.iter().map(|(_, s)| of(s).to_string()).collect();
    row("escalations", counts(|s| s.escalations));
    row("suspensions", counts(|s| s.suspensions));
    row("write-offs", counts(|s| s.write_offs));
    table("action", columns, |s| keyed(&s.actions));
    table("notice level", columns, |s| keyed(&s.levels));
    table("notice channel", columns, |s| keyed(&s.channels));
    table("notice tone", columns, |s| keyed(&s.tones));
    table("guardrail", columns, |s| keyed(&s.interventions));
    table("policy failure", columns, |s| keyed(&s.failures));
    table("customers with N notices", columns, |s| {
        keyed(&s.notices_per_customer)
    });
}

/// The differences by direction (`counted`: what a count counts), and the open balance
/// treated differently.
fn directions_and_money(
    directions: &std::collections::BTreeMap<Direction, u64>,
    money: &[MoneyLine],
    counted: &str,
) {
    if !directions.is_empty() {
        outln!("\n{:<32} {:>10}", "differences by direction", counted);
        for (d, n) in directions {
            outln!("{:<32} {n:>10}", d.as_str());
        }
    }
    if !money.is_empty() {
        outln!(
            "\n{:<24} {:<8} {:>10} {:>20}",
            "open balance treated",
            "currency",
            "invoices",
            "minor units"
        );
        for m in money {
            outln!(
                "{:<24} {:<8} {:>10} {:>20}",
                m.direction.as_str(),
                m.currency,
                m.invoices,
                m.open_balance_minor
            );
        }
    }
}

/// A counted map as (label, count) rows.
fn keyed<K: ToString>(m: &std::collections::BTreeMap<K, u64>) -> Vec<(String, u64)> {
    m.iter().map(|(k, n)| (k.to_string(), *n)).collect()
}

/// One table of counts, the columns side by side, over the labels any column has.
fn table(title: &str, columns: &[(&str, &Side)], of: impl Fn(&Side) -> Vec<(String, u64)>) {
    let rows: Vec<Vec<(String, u64)>> = columns.iter().map(|(_, s)| of(s)).collect();
    let mut labels: Vec<&String> = rows.iter().flatten().map(|(k, _)| k).collect();
    labels.sort_unstable();
    labels.dedup();
    if labels.is_empty() {
        return;
    }
    let count = |rows: &[(String, u64)], k: &String| {
        rows.iter().find(|(l, _)| l == k).map_or(0, |(_, n)| *n)
    };
    let headings: String = columns.iter().map(|(h, _)| format!(" {h:>10}")).collect();
    outln!("\n{title:<32}{headings}");
    for k in labels {
        let cells: String = rows
            .iter()
            .map(|r| format!(" {:>10}", count(r, k)))
            .collect();
        outln!("{:<32}{cells}", Escaped(k));
    }
}
