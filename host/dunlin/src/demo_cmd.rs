//! `dunlin demo`: the whole daemon path on the embedded database, with no set-up. Creates a
//! SQLite file, one tenant per reference policy, imports the bundled example book, plays the
//! schedule forward day by day with a test clock (customers pay, dispute and answer retries
//! as the book's behaviour scripts say), delivers each day's outbox after its sweeps (emails
//! rendered from the example templates, written as `.eml` files) and prints a summary and one
//! of the emails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{Days, TimeZone};
use dunlin_core::simulate::Book;
use dunlin_core::text::Escaped;
use dunlin_core::{Action, Channel, Date};
use dunlin_delivery::email::FileTransport;
use dunlin_delivery::outbox::worker::{Scope, Worker, WorkerConfig};
use dunlin_delivery::template::{self, TemplateSet};
use dunlin_scheduler::{ManualClock, Schedule};
use dunlin_store::delivery::{DeliverySettings, TemplateRow};
use dunlin_store::outbox::OutboxQuery;
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
    /// Where the emails are written (its .eml files are replaced).
    #[arg(long, default_value = "dunlin-demo-mail")]
    mail_dir: PathBuf,
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
    let shared = dunlin_store::connect(&url).await?;
    let db = shared.as_ref();
    let templates = example_templates()?;
    let mail_dir = fresh_mail_dir(&args.mail_dir)?;
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
            delivery: DeliverySettings {
                sender_address: format!("billing@{policy}.demo.example"),
                payment_link: "https://pay.demo.example/{invoice}".into(),
                ..DeliverySettings::default()
            },
            ..TenantSettings::default()
        };
        db.create_tenant(&id, &settings).await?;
        db.put_templates(&id, &templates).await?;
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

    // Each day's outbox goes out two hours after the sweep, inside every customer's contact
    // window, on the demo's own clock.
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let config = WorkerConfig::new("demo", "dunning@localhost");
    let worker = Arc::new(Worker::new(
        Arc::clone(&shared),
        FileTransport::new(&mail_dir),
        Arc::clone(&clock) as Arc<dyn dunlin_core::clock::Clock>,
        config,
    )?);
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
        clock.set(tick + chrono::Duration::hours(2));
        let stop = dunlin_sweep::CancellationToken::new();
        Arc::clone(&worker).run(Scope::All, true, stop).await?;
    }
    outln!("{sweeps} sweeps done\n");
    for id in &tenants {
        summary(db, id, &book).await?;
    }
    show_one_email(&mail_dir)?;
    outln!("explore: dunlin --database {url} explain --tenant demo-standard --invoice inv-1003");
    outln!("         dunlin --database {url} deliveries --tenant demo-standard --attempts");
    Ok(ExitCode::SUCCESS)
}

/// The bundled example templates as rows to store.
fn example_templates() -> anyhow::Result<Vec<TemplateRow>> {
    let dir = repo_root()
        .map(|r| r.join("examples").join("templates"))
        .context("the bundled example templates are not here")?;
    let set = TemplateSet::from_dir(&dir, template::Limits::default())
        .with_context(|| format!("reading {}", dir.display()))?;
    Ok(set.iter().map(TemplateRow::from).collect())
}

/// `dir`, created, with the `.eml` files of an earlier run removed (nothing else in it).
fn fresh_mail_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "eml") {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    Ok(dir.to_owned())
}

/// Where the emails are, and the first reminder of the standard policy's tenant as its
/// reader would see it: the headers that matter and the plain-text part.
fn show_one_email(dir: &Path) -> anyhow::Result<()> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    outln!("{} emails written to {}/", files.len(), dir.display());
    // The lowest action id of the standard tenant: its first reminder.
    let id_of = |p: &PathBuf| {
        p.file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.strip_prefix("dunlin-demo-standard-"))
            .and_then(|n| n.parse::<u64>().ok())
    };
    files.retain(|p| id_of(p).is_some());
    files.sort_by_key(id_of);
    let Some(first) = files.first() else {
        return Ok(());
    };
    let bytes = std::fs::read(first).with_context(|| format!("reading {}", first.display()))?;
    let Some(email) = mail_parser::MessageParser::default().parse(&bytes) else {
        anyhow::bail!("{} is not a readable email", first.display());
    };
    let addresses = |a: Option<&mail_parser::Address>| {
        a.and_then(|a| a.first())
            .map(|a| {
                format!(
                    "{} <{}>",
                    a.name().unwrap_or_default(),
                    a.address().unwrap_or_default()
                )
            })
            .unwrap_or_default()
    };
    outln!("one of them, {}:\n", first.display());
    outln!("  From:       {}", Escaped(&addresses(email.from())));
    outln!("  To:         {}", Escaped(&addresses(email.to())));
    outln!(
        "  Subject:    {}",
        Escaped(email.subject().unwrap_or_default())
    );
    outln!(
        "  Message-ID: <{}>",
        Escaped(email.message_id().unwrap_or_default())
    );
    outln!();
    for line in email.body_text(0).unwrap_or_default().lines() {
        outln!("  | {}", Escaped(line));
    }
    outln!();
    Ok(())
}

async fn import_book(db: &dyn Db, tenant: &TenantId, book: &Book) -> anyhow::Result<()> {
    let customers: Vec<CustomerRecord> = book
        .customers
        .iter()
        .map(|c| CustomerRecord {
            profile: c.profile.clone(),
            contact: BTreeMap::from([
                ("name".to_owned(), c.name.clone()),
                ("email".to_owned(), demo_address(&c.profile.id)),
            ]),
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

/// A book customer's made-up address: `c-aalto` → `billing@aalto.example`.
fn demo_address(customer: &str) -> String {
    let name: String = customer
        .trim_start_matches("c-")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    format!("billing@{name}.example")
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
    // What delivery made of the actions: emails by status, and the rest, which go to the
    // tenant's webhook endpoints (the demo tenants have none, so those fail).
    let query = OutboxQuery {
        limit: 10_000,
        ..OutboxQuery::default()
    };
    let mut emails: BTreeMap<&str, u32> = BTreeMap::new();
    let mut webhooks: BTreeMap<&str, u32> = BTreeMap::new();
    for entry in db.outbox(tenant, &query).await? {
        let by_email = matches!(&entry.action, Action::Notify(n) if n.channel == Channel::Email);
        let counts = if by_email { &mut emails } else { &mut webhooks };
        *counts.entry(entry.status.as_str()).or_default() += 1;
    }
    let counted = |m: &BTreeMap<&str, u32>| {
        m.iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    outln!("  emails:    {}", counted(&emails));
    outln!(
        "  webhooks:  {} (no endpoint configured)",
        counted(&webhooks)
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
