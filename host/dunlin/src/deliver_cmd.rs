//! `dunlin deliver` and `dunlin deliveries`: the outbox worker by hand, and the outbox and its
//! dead letters for an operator. Also builds the worker `serve` and `demo` run.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use dunlin_core::clock::Clock;
use dunlin_core::text::{quoted, truncate, Escaped};
use dunlin_delivery::email::{
    Email, FileTransport, Outcome, SmtpConfig, SmtpConfigError, SmtpTransport, Transport,
};
use dunlin_delivery::outbox::worker::{Scope, Totals, UnsubscribeLinks, Worker, WorkerConfig};
use dunlin_delivery::unsubscribe::{UnsubscribeBase, UnsubscribeKey, UnsubscribeKeys};
use dunlin_delivery::webhook::EndpointPolicy;
use dunlin_store::outbox::{OutboxQuery, Requeue};
use dunlin_store::{ActionStatus, Db, TenantId};

/// How the operator's delivery is set up; shared by `deliver`, `serve` and `demo`.
#[derive(clap::Args, Clone, Debug)]
pub struct MailArgs {
    /// Write emails as .eml files to this folder instead of sending them. Without it, emails
    /// go to the SMTP relay DUNLIN_SMTP_HOST (with DUNLIN_SMTP_PORT, _SECURITY, _USERNAME,
    /// _PASSWORD or _PASSWORD_FILE); with neither, to the folder ./dunlin-mail.
    #[arg(long, global = true, env = "DUNLIN_MAIL_DIR")]
    pub mail_dir: Option<PathBuf>,
    /// The sender for tenants that set no sender-address.
    #[arg(
        long,
        global = true,
        env = "DUNLIN_MAIL_FROM",
        default_value = "dunning@localhost"
    )]
    pub mail_from: String,
    /// The public base URL of the one-click unsubscribe endpoint, e.g.
    /// `https://dunlin.example.com/v1/unsubscribe`; with DUNLIN_UNSUBSCRIBE_KEY (or
    /// DUNLIN_UNSUBSCRIBE_KEY_FILE) every email carries a signed link and the RFC 8058 headers.
    #[arg(long, global = true, env = "DUNLIN_UNSUBSCRIBE_URL")]
    pub unsubscribe_url: Option<String>,
    /// Tenants' own SMTP relays: a JSON file mapping a tenant's id to its relay, with the keys
    /// of the DUNLIN_SMTP_* settings in lower case, e.g.
    /// {"acme": {"host": "smtp.acme.example", "username": "dunning", "password-file": "/run/secrets/acme"}}.
    /// Tenants not in it use the operator's relay.
    #[arg(long, global = true, env = "DUNLIN_TENANT_RELAYS")]
    pub tenant_relays: Option<PathBuf>,
}

/// The settings a tenant's relay may have: `DUNLIN_SMTP_*` without the prefix, in lower case.
const RELAY_KEYS: &[&str] = &[
    "host",
    "port",
    "security",
    "username",
    "password",
    "password-file",
    "timeout-secs",
    "pool",
];

/// The email transport the operator chose.
pub enum Mail {
    /// An SMTP relay.
    Smtp(SmtpTransport),
    /// A folder of .eml files.
    File(FileTransport),
}

impl Transport for Mail {
    async fn send(&self, email: &Email) -> Outcome {
        match self {
            Mail::Smtp(smtp) => smtp.send(email).await,
            Mail::File(file) => file.send(email).await,
        }
    }
}

impl MailArgs {
    /// The transport: the folder if one is named, else the SMTP relay if DUNLIN_SMTP_HOST is
    /// set, else the folder ./dunlin-mail.
    pub fn transport(&self) -> anyhow::Result<(Mail, String)> {
        if let Some(dir) = &self.mail_dir {
            return file_transport(dir.clone());
        }
        match SmtpConfig::from_env() {
            Ok(config) => {
                let shown = format!("SMTP relay {}:{}", config.host, config.port);
                let smtp = SmtpTransport::new(&config).context("setting up the SMTP relay")?;
                Ok((Mail::Smtp(smtp), shown))
            }
            Err(SmtpConfigError::Missing {
                name: "DUNLIN_SMTP_HOST",
            }) => file_transport("dunlin-mail".into()),
            Err(err) => Err(err).context("the SMTP relay's settings (DUNLIN_SMTP_*)"),
        }
    }

    /// The unsubscribe links' keys and base, when both are configured.
    fn unsubscribe(&self) -> anyhow::Result<Option<UnsubscribeLinks>> {
        let Some(url) = &self.unsubscribe_url else {
            return Ok(None);
        };
        let base = UnsubscribeBase::parse(url).context("--unsubscribe-url")?;
        let Some(keys) = self.unsubscribe_keys()? else {
            anyhow::bail!(
                "--unsubscribe-url needs DUNLIN_UNSUBSCRIBE_KEY or DUNLIN_UNSUBSCRIBE_KEY_FILE"
            );
        };
        Ok(Some(UnsubscribeLinks {
            keys,
            base,
            valid_for: chrono::Duration::days(60),
        }))
    }

    /// The keys that sign and verify unsubscribe links, from DUNLIN_UNSUBSCRIBE_KEY or
    /// DUNLIN_UNSUBSCRIBE_KEY_FILE; `None` when neither is set. The API verifies with them
    /// whether or not this process signs links.
    pub fn unsubscribe_keys(&self) -> anyhow::Result<Option<UnsubscribeKeys>> {
        let written = match (
            std::env::var("DUNLIN_UNSUBSCRIBE_KEY").ok(),
            std::env::var_os("DUNLIN_UNSUBSCRIBE_KEY_FILE"),
        ) {
            (Some(key), _) => key,
            (None, Some(path)) => std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", PathBuf::from(&path).display()))?
                .trim()
                .to_owned(),
            (None, None) => return Ok(None),
        };
        let key = UnsubscribeKey::parse(&written).context("the unsubscribe key")?;
        Ok(Some(UnsubscribeKeys::new(key)))
    }

    /// The tenants' own relays from `--tenant-relays`, each read as `SmtpConfig` reads the
    /// environment.
    fn tenant_relays(&self) -> anyhow::Result<Vec<(TenantId, SmtpTransport)>> {
        let Some(path) = &self.tenant_relays else {
            return Ok(Vec::new());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading --tenant-relays {}", path.display()))?;
        let relays: BTreeMap<String, BTreeMap<String, serde_json::Value>> =
            serde_json::from_str(&text).with_context(|| {
                format!(
                    "--tenant-relays {}: expected {{\"tenant\": {{\"host\": …}}}}",
                    path.display()
                )
            })?;
        let mut transports = Vec::new();
        for (tenant, settings) in relays {
            let id = TenantId::new(&tenant)
                .with_context(|| format!("--tenant-relays: {}", quoted(&tenant, 64)))?;
            let mut vars = BTreeMap::new();
            for (key, value) in settings {
                if !RELAY_KEYS.contains(&key.as_str()) {
                    anyhow::bail!(
                        "--tenant-relays: tenant {id}: unknown key {}; the keys are {}",
                        quoted(&key, 64),
                        RELAY_KEYS.join(", ")
                    );
                }
                let value = match value {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Number(n) => n.to_string(),
                    _ => anyhow::bail!(
                        "--tenant-relays: tenant {id}: {key} is not a string or number"
                    ),
                };
                vars.insert(
                    format!("DUNLIN_SMTP_{}", key.to_uppercase().replace('-', "_")),
                    value,
                );
            }
            let config = SmtpConfig::from_lookup(|name| vars.get(name).cloned())
                .with_context(|| format!("--tenant-relays: tenant {id}"))?;
            let relay = SmtpTransport::new(&config)
                .with_context(|| format!("--tenant-relays: tenant {id}'s relay"))?;
            transports.push((id, relay));
        }
        Ok(transports)
    }

    /// The worker's configuration under the operator's endpoint policy.
    pub fn worker_config(&self, policy: EndpointPolicy) -> anyhow::Result<WorkerConfig> {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "dunlin".into());
        let mut config = WorkerConfig::new(
            format!("{}-{}", truncate(&host, 64), std::process::id()),
            self.mail_from.clone(),
        );
        config.unsubscribe = self.unsubscribe()?;
        config.endpoint_policy = policy;
        Ok(config)
    }
}

/// The folder transport, the folder created if missing.
fn file_transport(dir: PathBuf) -> anyhow::Result<(Mail, String)> {
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating the mail folder {}", dir.display()))?;
    let shown = format!("the folder {}", dir.display());
    Ok((Mail::File(FileTransport::new(dir)), shown))
}

/// A worker over `db` with the operator's transport and `config` (usually
/// [`MailArgs::worker_config`]).
pub fn worker_with(
    db: Arc<dyn Db>,
    mail: &MailArgs,
    config: WorkerConfig,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<(Arc<Worker<Mail>>, String)> {
    let (transport, shown) = mail.transport()?;
    let mut worker = Worker::new(db, transport, clock, config)?;
    for (tenant, relay) in mail.tenant_relays()? {
        worker = worker.with_tenant_transport(tenant, Mail::Smtp(relay));
    }
    Ok((Arc::new(worker), shown))
}

#[derive(clap::Args)]
pub struct DeliverArgs {
    /// Only this tenant's outbox [default: every tenant's].
    #[arg(long)]
    tenant: Option<TenantId>,
    /// Deliver what is due now and exit, instead of running until SIGINT or SIGTERM.
    #[arg(long)]
    once: bool,
    /// How long a claim holds, in seconds. Hidden: for tests and operators who know why. A
    /// lease shorter than a round of sends (up to the SMTP and webhook timeouts) lets another
    /// worker claim actions whose sends are still under way, so they go out twice; a short
    /// one brings a killed worker's actions back sooner.
    #[arg(long, hide = true, default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..))]
    lease_secs: u32,
}

pub async fn run_deliver(
    args: &DeliverArgs,
    db: Arc<dyn Db>,
    mail: &MailArgs,
    policy: EndpointPolicy,
) -> anyhow::Result<ExitCode> {
    if let Some(tenant) = &args.tenant {
        db.tenant(tenant)
            .await?
            .with_context(|| format!("no tenant {tenant}"))?;
    }
    let mut config = mail.worker_config(policy)?;
    config.lease = chrono::Duration::seconds(i64::from(args.lease_secs));
    let (worker, shown) = worker_with(db, mail, config, Arc::new(dunlin_scheduler::SystemClock))?;
    let stop = dunlin_sweep::CancellationToken::new();
    // Listening before the first line is printed: a supervisor that signals once it has
    // read the line stops the command gracefully, never by the default kill.
    if !args.once {
        // SIGINT or SIGTERM: the sends under way finish and are written, the rest is handed
        // back, and the command prints what it did.
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
        let on_signal = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            on_signal.cancel();
        });
    }
    outln!("delivering email to {shown}");
    let scope = args.tenant.clone().map_or(Scope::All, Scope::One);
    let totals = worker.run(scope, args.once, stop).await?;
    print_totals(&totals);
    Ok(ExitCode::SUCCESS)
}

/// One line of what a delivery run did.
pub fn print_totals(t: &Totals) {
    outln!(
        "delivered {}, retrying {}, dead {}, failed {}, waiting {}, cancelled {}, blocked {}{}",
        t.delivered,
        t.retried,
        t.dead,
        t.failed,
        t.waiting,
        t.cancelled,
        t.blocked,
        if t.lost > 0 {
            format!(", {} results lost to expired leases", t.lost)
        } else {
            String::new()
        }
    );
}

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DeliveriesArgs {
    #[command(subcommand)]
    command: Option<DeliveriesCommand>,
    /// Only this tenant's [default: every tenant's].
    #[arg(long)]
    tenant: Option<TenantId>,
    /// Only actions in this status: pending, delivered, failed, dead, blocked, cancelled.
    #[arg(long, value_parser = parse_status)]
    status: Option<ActionStatus>,
    /// Only this invoice's actions.
    #[arg(long)]
    invoice: Option<String>,
    /// At most this many per tenant.
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// Also list each action's delivery attempts.
    #[arg(long)]
    attempts: bool,
}

#[derive(clap::Subcommand)]
enum DeliveriesCommand {
    /// Put a failed or dead action back in the queue, or every dead one of a tenant.
    Retry {
        /// The tenant.
        #[arg(long)]
        tenant: TenantId,
        /// The action's id (as `deliveries` lists it).
        #[arg(required_unless_present = "dead", conflicts_with = "dead")]
        id: Option<i64>,
        /// Every dead action of the tenant.
        #[arg(long)]
        dead: bool,
    },
}

fn parse_status(s: &str) -> Result<ActionStatus, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| {
        format!(
            "unknown status {}: pending, delivered, failed, dead, opened, succeeded, declined, \
             blocked or cancelled",
            dunlin_core::text::quoted(s, 40)
        )
    })
}

pub async fn run_deliveries(args: &DeliveriesArgs, db: &dyn Db) -> anyhow::Result<ExitCode> {
    if let Some(DeliveriesCommand::Retry { tenant, id, dead }) = &args.command {
        let which = match (id, dead) {
            (Some(id), false) => Requeue::One(*id),
            _ => Requeue::Dead,
        };
        let n = db.requeue_actions(tenant, &which).await?;
        if n == 0 {
            if let Requeue::One(id) = which {
                anyhow::bail!(
                    "tenant {tenant} has no failed or dead action {id} to retry \
                     (a failure the tenant reported is not retried)"
                );
            }
        }
        outln!("requeued {n} action(s) of {tenant}");
        return Ok(ExitCode::SUCCESS);
    }
    let tenants = match &args.tenant {
        Some(t) => vec![t.clone()],
        None => db.tenants().await?.into_iter().map(|t| t.id).collect(),
    };
    let query = OutboxQuery {
        status: args.status,
        invoice: args.invoice.clone(),
        after_id: None,
        limit: args.limit,
    };
    for tenant in tenants {
        let entries = db.outbox(&tenant, &query).await?;
        if entries.is_empty() {
            continue;
        }
        outln!("{tenant}:");
        let attempts = if args.attempts {
            let ids: Vec<i64> = entries.iter().map(|e| e.id).collect();
            db.delivery_attempts(&tenant, &ids).await?
        } else {
            Vec::new()
        };
        for e in &entries {
            let what = e.action.to_string();
            let mut line = format!(
                "  #{:<6} {:<9} {} {} {} attempts {}",
                e.id,
                e.status.as_str(),
                e.as_of,
                Escaped(&truncate(&e.invoice_id, 64)),
                Escaped(&truncate(&what, 80)),
                e.attempts
            );
            if let Some(at) = e
                .next_attempt_at
                .filter(|_| e.status == ActionStatus::Pending)
            {
                line.push_str(&format!(", next {}", at.format("%Y-%m-%d %H:%M UTC")));
            }
            if let Some(owner) = &e.lease_owner {
                line.push_str(&format!(", leased by {}", Escaped(&truncate(owner, 64))));
            }
            outln!("{line}");
            for text in [&e.note, &e.last_error].into_iter().flatten() {
                outln!("          {}", Escaped(&truncate(text, 300)));
            }
            for a in attempts.iter().filter(|a| a.action_id == e.id) {
                let m = &a.attempt_made;
                outln!(
                    "          attempt {} {} {} -> {} {} ({} ms): {}",
                    a.attempt,
                    m.started_at.format("%Y-%m-%d %H:%M:%S"),
                    m.channel.as_str(),
                    Escaped(&truncate(&m.target, 80)),
                    m.outcome.as_str(),
                    m.latency_us / 1000,
                    Escaped(&truncate(&m.detail, 200))
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
