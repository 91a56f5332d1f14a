//! `dunlin simulate`: an example book played through a policy, printed as timelines.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use dunlin_core::simulate::{simulate, Book, Status};
use dunlin_core::text::{truncate, Escaped};
use dunlin_runtime::Mode;

use crate::policy_cmd::{repo_root, resolve};
use crate::SandboxArgs;

#[derive(clap::Args)]
pub struct SimulateArgs {
    /// A reference policy (standard, saas-card, b2b-segmented), a policy crate directory, or
    /// a .wasm component.
    #[arg(long, default_value = "standard")]
    policy: String,
    /// The book of customers and invoices [default: the bundled examples/book.json]
    #[arg(long)]
    book: Option<PathBuf>,
    /// How many days to play.
    #[arg(long, default_value_t = 90)]
    days: u32,
    /// Print the outcome as JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &SimulateArgs, sandbox: &SandboxArgs) -> anyhow::Result<ExitCode> {
    let book_path = match &args.book {
        Some(path) => path.clone(),
        None => repo_root()
            .map(|root| root.join("examples").join("book.json"))
            .context("the bundled example book is not here; pass --book")?,
    };
    let text = std::fs::read_to_string(&book_path)
        .with_context(|| format!("reading {}", book_path.display()))?;
    let book: Book = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid book", book_path.display()))?;

    let runtime = sandbox.runtime()?;
    let loaded = resolve(&runtime, &args.policy)?;
    let mut policy = loaded.handle(Mode::Batch);
    let outcome = simulate(&book, &mut policy, args.days)?;

    if args.json {
        outln!("{}", serde_json::to_string_pretty(&outcome)?);
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "{} — policy {:?} (sha256 {}), {} days from {}\n",
        Escaped(if book.name.is_empty() {
            "book"
        } else {
            &book.name
        }),
        args.policy,
        &loaded.info().sha256[..12],
        args.days,
        book.start
    );
    for t in &outcome.timelines {
        outln!(
            "{} · {} — {}",
            Escaped(&t.customer),
            Escaped(&t.invoice),
            status(&t.status)
        );
        // An event quotes the policy (its segment, reason or failure): one escaped line each.
        for e in &t.events {
            outln!("  {}  {}", e.on, Escaped(&truncate(&e.what, SHOWN_BYTES)));
        }
        outln!();
    }
    outln!("Summary");
    let count = |f: fn(&Status) -> bool| outcome.timelines.iter().filter(|t| f(&t.status)).count();
    outln!(
        "  invoices: {}  paid: {}  escalated: {}  closed: {}  ladder ended: {}  still open: {}",
        outcome.timelines.len(),
        count(|s| matches!(s, Status::Paid(_))),
        count(|s| matches!(s, Status::Escalated(_))),
        count(|s| matches!(s, Status::Closed(_))),
        count(|s| matches!(s, Status::LadderEnded(_))),
        count(|s| matches!(s, Status::Open)),
    );
    outln!(
        "  decisions: {}  policy failures: {}",
        outcome.decisions,
        outcome.failures
    );
    for (label, n) in &outcome.action_counts {
        outln!("  {n:>4} × {}", Escaped(label));
    }
    Ok(ExitCode::SUCCESS)
}

/// The most bytes of one event shown: a failure's text may carry what the policy wrote.
const SHOWN_BYTES: usize = 2048;

fn status(s: &Status) -> String {
    match s {
        Status::Open => "still open".into(),
        Status::Paid(d) => format!("paid on {d}"),
        Status::Escalated(d) => format!("escalated on {d}"),
        Status::Closed(d) => format!("closed on {d}"),
        Status::LadderEnded(d) => format!("ladder ended on {d}"),
    }
}
