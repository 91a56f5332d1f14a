//! `dunlin demo`: the whole daemon path on the embedded database, with no set-up. Creates a
//! SQLite file, one tenant per reference policy, imports the bundled example book, plays the
//! schedule forward day by day with a test clock (customers pay, dispute and answer retries
//! as the book's behaviour scripts say) and prints a summary.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::{Days, TimeZone};
use dunlin_core::simulate::Book;
use dunlin_core::{Action, Date};
use dunlin_scheduler::Schedule;
use dunlin_store::{
    ActionStatus, CustomerRecord, Db, DecisionQuery, DisputeStatus, InvoiceStatus, NewDispute,
    NewInvoice, NewPayment, TenantId, TenantSettings,
};
use dunlin_sweep::{sweep, SweepOptions};

use crate::policy_cmd::{repo_root, resolve_bytes};
use crate::SandboxArgs;

#[derive(clap::Args)]
pub struct DemoArgs {
    /// The SQLite file to create (replaced if it exists).
    #[arg(long, default_value = "dunlin-demo.db")]
    db_file: PathBuf,
    /// Days to play.
    #[arg(long, default_value_t = 90)]
    days: u32,
    /// The book [default: the bundled examples/book.json].
    #[arg(long)]
    book: Option<PathBuf>,
}

const POLICIES: &[&str] = &["standard", "saas-card", "b2b-segmented"];
const SCHEDULE: &str = "0 0 9 * * Mon-Fri";
const TIME_ZONE: &str = "Europe/Helsinki";

pub async fn run(args: &DemoArgs, sandbox: &SandboxArgs) -> anyhow::Result<ExitCode> {
    let book_path = match &args.book {
        Some(p) => p.clone(),
        None => repo_root()
            .map(|r| r.join("examples").join("book.json"))
            .context("the bundled example book is not here; pass --book")?,
    };
    let book: Book = serde_json::from_str(
        &std::fs::read_to_string(&book_path)
            .with_context(|| format!("reading {}", book_path.display()))?,
    )
    .with_context(|| format!("{} is not a valid book", book_path.display()))?;

    for suffix in ["", "-wal", "-shm"] {
        let mut name = args.db_file.clone().into_os_string();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
    let url = format!("sqlite://{}", args.db_file.display());
    let db = dunlin_store::connect(&url).await?;
    let db = db.as_ref();
    let runtime = sandbox.runtime()?;
    outln!("demo database: {}", args.db_file.display());

    let mut tenants = Vec::new();
    for policy in POLICIES {
        let id = TenantId::new(&format!("demo-{policy}"))?;
        let settings = TenantSettings {
            name: format!("Demo ({policy})"),
            time_zone: TIME_ZONE.into(),
            schedule: SCHEDULE.into(),
            params: book.params.clone(),
            lead_days: 7,
            ..TenantSettings::default()
        };
        db.create_tenant(&id, &settings).await?;
        let (_, bytes) = resolve_bytes(&runtime, policy)?;
        let v = db.add_policy_version(&id, &bytes).await?;
        db.activate_policy_version(&id, v.version).await?;
        import_book(db, &id, &book).await?;
        tenants.push(id);
    }
    outln!(
        "{} tenants, {} customers and {} invoices each; playing {} days from {} ({SCHEDULE}, {TIME_ZONE})",
        tenants.len(),
        book.customers.len(),
        book.invoices.len(),
        args.days,
        book.start
    );

    let schedule = Schedule::parse(SCHEDULE, TIME_ZONE)?;
    let end = book.start + Days::new(args.days.into());
    let mut tick = chrono_tz::Europe::Helsinki
        .from_local_datetime(&book.start.and_hms_opt(0, 0, 0).expect("midnight"))
        .earliest()
        .context("the book's start is not a local time")?
        .with_timezone(&chrono::Utc);
    let mut sweeps = 0;
    while let Some(next) = schedule.next_after(tick) {
        tick = next;
        let as_of = schedule.as_of_date(tick);
        if as_of >= end {
            break;
        }
        for id in &tenants {
            behave(db, id, &book, as_of).await?;
            sweep(db, &runtime, id, &SweepOptions::new(as_of)).await?;
            sweeps += 1;
        }
    }
    outln!("{sweeps} sweeps done\n");
    for id in &tenants {
        summary(db, id, &book).await?;
    }
    outln!("explore: dunlin --database {url} explain --tenant demo-standard --invoice inv-1003");
    Ok(ExitCode::SUCCESS)
}

async fn import_book(db: &dyn Db, tenant: &TenantId, book: &Book) -> anyhow::Result<()> {
    let customers: Vec<CustomerRecord> = book
        .customers
        .iter()
        .map(|c| CustomerRecord {
            profile: c.profile.clone(),
            contact: BTreeMap::from([("name".to_owned(), c.name.clone())]),
        })
        .collect();
    db.upsert_customers(tenant, &customers).await?;
    let invoices: Vec<NewInvoice> = book
        .invoices
        .iter()
        .map(|i| NewInvoice {
            id: i.id.clone(),
            customer_id: i.customer.clone(),
            number: i.number.clone(),
            issued_on: i.issued_on,
            due_on: i.due_on,
            amount: i.amount,
            open_balance_minor: None,
            payment_method: i.payment_method,
            failed_attempts: u32::from(i.failure.is_some()),
            last_failure: i.failure.as_ref().map(|f| dunlin_core::CollectionFailure {
                on: i.due_on,
                code: f.code.clone(),
                kind: f.kind,
            }),
            status: None,
            metadata: BTreeMap::new(),
        })
        .collect();
    db.upsert_invoices(tenant, &invoices).await?;
    Ok(())
}

/// The customers' side of the story before the sweep of `as_of`: payments after enough
/// notices or on a successful retry, disputes on their date.
async fn behave(db: &dyn Db, tenant: &TenantId, book: &Book, as_of: Date) -> anyhow::Result<()> {
    for inv in &book.invoices {
        let Some(customer) = book.customers.iter().find(|c| c.profile.id == inv.customer) else {
            continue;
        };
        let b = &customer.behaviour;
        let record = db.invoice(tenant, &inv.id).await?;
        if record
            .as_ref()
            .is_none_or(|r| r.status != InvoiceStatus::Open)
        {
            continue;
        }
        if b.disputes_on == Some(as_of) {
            db.upsert_disputes(
                tenant,
                &[NewDispute {
                    id: format!("dsp-{}", inv.id),
                    invoice_id: inv.id.clone(),
                    opened_on: as_of,
                    reason: "the customer disputes the amount".into(),
                    status: DisputeStatus::Open,
                    resolved_on: None,
                }],
            )
            .await?;
        }
        let log = db
            .decisions(tenant, &DecisionQuery::invoice(inv.id.clone()))
            .await?;
        let live = |a: &&dunlin_store::ActionRecord| a.status != ActionStatus::Blocked;
        let notices: Vec<Date> = log
            .iter()
            .flat_map(|r| {
                r.actions
                    .iter()
                    .filter(live)
                    .filter(|a| matches!(a.action, Action::Notify(_)))
                    .map(|_| r.as_of)
            })
            .collect();
        let retries: Vec<Date> = log
            .iter()
            .flat_map(|r| {
                r.actions
                    .iter()
                    .filter(live)
                    .filter(|a| matches!(a.action, Action::RetryPayment(_)))
                    .map(|_| r.as_of)
            })
            .collect();
        let pay_on = b
            .pays_after_notices
            .and_then(|n| notices.get(n as usize - 1))
            .map(|d| *d + Days::new(b.delay_days.into()))
            .into_iter()
            .chain(
                b.retry_succeeds_on
                    .and_then(|n| retries.get(n as usize - 1).copied()),
            )
            .min();
        if pay_on.is_some_and(|d| d <= as_of) {
            db.upsert_payments(
                tenant,
                &[NewPayment {
                    id: format!("pay-{}", inv.id),
                    invoice_id: inv.id.clone(),
                    amount: inv.amount,
                    paid_on: as_of,
                }],
            )
            .await?;
        }
    }
    Ok(())
}

async fn summary(db: &dyn Db, tenant: &TenantId, book: &Book) -> anyhow::Result<()> {
    let log = db
        .decisions(
            tenant,
            &DecisionQuery {
                limit: 10_000,
                ..Default::default()
            },
        )
        .await?;
    let mut notices: BTreeMap<String, u32> = BTreeMap::new();
    let mut other: BTreeMap<String, u32> = BTreeMap::new();
    let mut blocked = 0;
    for r in &log {
        for a in &r.actions {
            if a.status == ActionStatus::Blocked {
                blocked += 1;
                continue;
            }
            match &a.action {
                Action::Notify(n) => {
                    *notices
                        .entry(format!("level {} {}", n.level, n.tone.as_str()))
                        .or_default() += 1
                }
                Action::RetryPayment(_) => *other.entry("payment retries".into()).or_default() += 1,
                Action::Pause(_) => *other.entry("pauses".into()).or_default() += 1,
                Action::Escalate(e) => {
                    *other
                        .entry(format!("escalations to {}", e.kind.as_str()))
                        .or_default() += 1
                }
                Action::Close(_) => *other.entry("closures".into()).or_default() += 1,
            }
        }
    }
    let mut status: BTreeMap<&str, u32> = BTreeMap::new();
    for inv in &book.invoices {
        let s = match db.invoice(tenant, &inv.id).await? {
            Some(r) if r.status != InvoiceStatus::Open => r.status.as_str(),
            Some(_) => match db.dunning_state(tenant, &inv.id).await? {
                Some(s) if s.ended => "ladder ended",
                _ => "open",
            },
            None => "missing",
        };
        *status.entry(s).or_default() += 1;
    }
    outln!("── {} ──", tenant.as_str());
    outln!(
        "  decisions: {}  policy failures: {}  actions blocked by guardrails: {blocked}",
        log.len(),
        log.iter().filter(|r| r.failure.is_some()).count()
    );
    let line = |m: &BTreeMap<String, u32>| {
        m.iter()
            .map(|(k, v)| format!("{v} × {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    outln!("  notices:   {}", line(&notices));
    outln!("  other:     {}", line(&other));
    outln!(
        "  invoices:  {}",
        status
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for id in ["inv-1003", "inv-1005"] {
        let steps: Vec<String> = log
            .iter()
            .filter(|r| r.invoice_id == id && !r.actions.is_empty())
            .map(|r| {
                let what: Vec<String> = r.actions.iter().map(|a| a.action.to_string()).collect();
                format!("{} {}", r.as_of.format("%b %d"), what.join("+"))
            })
            .collect();
        outln!("  {id}: {}", steps.join(" → "));
    }
    outln!();
    Ok(())
}
