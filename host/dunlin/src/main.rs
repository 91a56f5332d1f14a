//! `dunlin`: the command line. Glue only: parses flags and calls the library crates.

/// `println!` for everything the CLI prints on stdout: a reader that goes away (`| head -1`)
/// ends the process quietly instead of panicking, and any other failure to write is an error
/// exit with the cause.
macro_rules! outln {
    () => {
        $crate::stdout_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::stdout_line(format_args!($($arg)*))
    };
}

mod backtest_cmd;
mod deliver_cmd;
mod demo_cmd;
mod endpoint_cmd;
mod import_cmd;
mod key_cmd;
mod ledger_cmd;
mod policy_cmd;
mod policy_js;
mod policy_new_python;
mod policy_new_rust;
mod replay_cmd;
mod replicas_cmd;
mod shadow_cmd;
mod simulate_cmd;
mod template_cmd;
mod tenant_cmd;

/// jemalloc instead of glibc's malloc: a sweep's stages free on one thread what another
/// allocated (contexts, outcomes), and glibc's malloc made them queue on its arena locks; a
/// sweep of 1M invoices took about 6 % less time (docs/benchmarks.md#jemalloc).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use dunlin_core::guardrails::OperatorLimits;
use dunlin_runtime::{Compiler, Limits, Runtime, RuntimeConfig};

/// Dunlin runs overdue-invoice schedules and asks each tenant's WebAssembly policy what to
/// do next: wait, remind, retry the payment, pause, escalate or close.
#[derive(Parser)]
#[command(name = "dunlin", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    sandbox: SandboxArgs,
    #[command(flatten)]
    webhooks: endpoint_cmd::WebhookPolicyArgs,
    #[command(flatten)]
    mail: deliver_cmd::MailArgs,
    /// Where tenants, invoices and the decision log live: sqlite://FILE (created and
    /// migrated on first use) or postgres://…
    #[arg(
        long,
        global = true,
        env = "DUNLIN_DATABASE",
        default_value = "sqlite://dunlin.db"
    )]
    database: String,
    /// The operator's bounds on every tenant's guardrail settings, as JSON, e.g.
    /// '{"max-contacts-per-customer-7-days": 14, "may-release-disputed": true}'
    /// [default: the product defaults]
    #[arg(long, global = true, env = "DUNLIN_OPERATOR_LIMITS")]
    operator_limits: Option<String>,
    /// How log lines are written on stderr: text for people, json (one object a line, with
    /// the spans' fields: tenant_id, as_of, invoice_id, policy_version) for log shippers.
    /// The level is set by DUNLIN_LOG (default warn), e.g. DUNLIN_LOG=info.
    #[arg(long, global = true, env = "DUNLIN_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// How log lines are written.
#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines, coloured at a terminal.
    Text,
    /// One JSON object per line.
    Json,
}

/// Sandbox settings shared by every command that runs a policy.
#[derive(clap::Args)]
struct SandboxArgs {
    /// Where precompiled policies are cached [default: $XDG_CACHE_HOME/dunlin or ~/.cache/dunlin]
    #[arg(long, global = true, env = "DUNLIN_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile every time instead of using the cache.
    #[arg(long, global = true)]
    no_cache: bool,
    /// Instruction budget per decision (fuel units).
    #[arg(long, global = true, default_value_t = Limits::default().fuel)]
    fuel: u64,
    /// Wall-clock deadline per decision, in milliseconds.
    #[arg(long, global = true, default_value_t = Limits::default().deadline.as_millis() as u64)]
    deadline_ms: u64,
    /// Linear memory limit per instance, in MiB.
    #[arg(long, global = true, default_value_t = (Limits::default().memory_bytes >> 20) as u64)]
    memory_mib: u64,
    /// Linear memory kept resident per instance-pool slot between instances, in MiB: at
    /// least the memory image of the policies run (Python and StarlingMonkey components
    /// start at 9 to 12 MiB), so that a fresh instance needs no page faults for it.
    #[arg(long, global = true, default_value_t = (Limits::default().memory_keep_resident_bytes >> 20) as u64)]
    memory_resident_mib: u64,
    /// Most memory compiling one uploaded component may use, in MiB (the compile runs in a
    /// child process under this limit).
    #[arg(long, global = true, default_value_t = Limits::default().compile_memory_bytes >> 20)]
    compile_memory_mib: u64,
    /// Longest compiling one uploaded component may take, in seconds (then the compiling
    /// process is killed).
    #[arg(long, global = true, default_value_t = Limits::default().compile_time.as_secs())]
    compile_timeout_secs: u64,
}

#[derive(Subcommand)]
enum Command {
    /// Build, check and try policy components.
    #[command(subcommand)]
    Policy(policy_cmd::PolicyCommand),
    /// Play an example book of invoices through a policy day by day and print each
    /// customer's timeline (no database, no set-up).
    Simulate(simulate_cmd::SimulateArgs),
    /// Create, list, show and change tenants.
    #[command(subcommand)]
    Tenant(tenant_cmd::TenantCommand),
    /// Upload, list, show and render a tenant's email templates.
    #[command(subcommand)]
    Template(template_cmd::TemplateCommand),
    /// Add, list, remove and rotate a tenant's webhook endpoints.
    #[command(subcommand)]
    Endpoint(endpoint_cmd::EndpointCommand),
    /// Run one sweep of a tenant by hand.
    Sweep(ledger_cmd::SweepArgs),
    /// List a tenant's recent sweeps (scheduled, by hand, through the API) with their figures.
    Sweeps(ledger_cmd::SweepsArgs),
    /// List a tenant's decisions (the audit log).
    Decisions(ledger_cmd::DecisionsArgs),
    /// Explain an invoice's ladder: every decision with its policy version, reason,
    /// guardrail interventions and actions.
    Explain(ledger_cmd::ExplainArgs),
    /// Load customers, invoices, payments, disputes or payment plans from CSV or JSON Lines.
    Import(import_cmd::ImportArgs),
    /// Deliver the outbox: emails and signed webhooks, checked again at send time (contact
    /// window, opt-outs, caps, the invoice's state), retried with backoff.
    Deliver(deliver_cmd::DeliverArgs),
    /// List the outbox (actions and their delivery), or requeue failed and dead actions.
    Deliveries(deliver_cmd::DeliveriesArgs),
    /// Run the daemon: each tenant's sweep on its schedule, in its time zone, and the outbox's
    /// delivery, until SIGINT or SIGTERM (then the page being written and the sends under
    /// way are finished and the daemon exits); with --listen, the tenant HTTP API too.
    Serve(ServeArgs),
    /// List the `serve` processes on the database (live, stopped, dead), what each is doing
    /// and the leases each holds: sweep locks and leased outbox actions.
    Replicas(replicas_cmd::ReplicasArgs),
    /// Compiles one component from stdin to stdout under a memory limit: the child process
    /// the runtime compiles uploads in (not for people).
    #[command(hide = true)]
    CompileWorker {
        /// The most memory the compile may use.
        #[arg(long)]
        memory_bytes: u64,
    },
    /// The whole path on the embedded database with no set-up: tenants with the reference
    /// policies, the example book imported, 90 days of scheduled sweeps, a summary.
    Demo(demo_cmd::DemoArgs),
}

/// `dunlin serve`'s own flags.
#[derive(clap::Args)]
struct ServeArgs {
    /// Also serve the tenant HTTP API on this address, e.g. 127.0.0.1:8080. The admin routes
    /// take the operator key from DUNLIN_OPERATOR_KEY or the file DUNLIN_OPERATOR_KEY_FILE.
    #[arg(long, env = "DUNLIN_LISTEN")]
    listen: Option<std::net::SocketAddr>,
    /// Requests per second each tenant API key may make (bursts of as many); 0 for no
    /// limit. Over it a request answers 429 with Retry-After.
    #[arg(long, env = "DUNLIN_KEY_RATE_LIMIT", default_value_t = 100)]
    key_rate_limit: u32,
    /// Requests per second the operator key may make (bursts of as many); 0 for no limit.
    #[arg(long, env = "DUNLIN_OPERATOR_RATE_LIMIT", default_value_t = 1000)]
    operator_rate_limit: u32,
}

impl ServeArgs {
    /// The API's limits with these rates.
    fn api_config(&self) -> dunlin_api::ApiConfig {
        let rate = |n| std::num::NonZeroU32::new(n).map(dunlin_api::RateLimit::per_second);
        dunlin_api::ApiConfig {
            key_rate: rate(self.key_rate_limit),
            operator_rate: rate(self.operator_rate_limit),
            ..dunlin_api::ApiConfig::default()
        }
    }
}

/// Installs the process's metrics recorder (once: only `serve` records for a scrape) and
/// keeps its histograms drained between scrapes.
fn metrics_recorder(
    shutdown: &dunlin_sweep::CancellationToken,
) -> anyhow::Result<dunlin_api::telemetry::PrometheusHandle> {
    let handle = dunlin_api::telemetry::install().context("installing the metrics recorder")?;
    let upkeep = handle.clone();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = every.tick() => upkeep.run_upkeep(),
                _ = stop.cancelled() => break,
            }
        }
    });
    Ok(handle)
}

/// The operator key, from `DUNLIN_OPERATOR_KEY` or the file `DUNLIN_OPERATOR_KEY_FILE`.
fn operator_key() -> anyhow::Result<Option<dunlin_api::OperatorKey>> {
    let key = match (
        std::env::var("DUNLIN_OPERATOR_KEY").ok(),
        std::env::var_os("DUNLIN_OPERATOR_KEY_FILE"),
    ) {
        (Some(_), Some(_)) => {
            anyhow::bail!("set DUNLIN_OPERATOR_KEY or DUNLIN_OPERATOR_KEY_FILE, not both")
        }
        (Some(key), None) => key,
        (None, Some(path)) => std::fs::read_to_string(&path).with_context(|| {
            format!(
                "reading DUNLIN_OPERATOR_KEY_FILE {}",
                PathBuf::from(&path).display()
            )
        })?,
        (None, None) => return Ok(None),
    };
    dunlin_api::OperatorKey::new(&key)
        .map(Some)
        .context("the operator key is empty")
}

impl Cli {
    fn operator_limits(&self) -> anyhow::Result<OperatorLimits> {
        match &self.operator_limits {
            None => Ok(OperatorLimits::default()),
            Some(json) => {
                serde_json::from_str(json).context("--operator-limits is not valid limits JSON")
            }
        }
    }

    fn needs_db(&self) -> bool {
        match &self.command {
            Command::Policy(cmd) => cmd.needs_db(),
            Command::Simulate(_) | Command::Demo(_) | Command::CompileWorker { .. } => false,
            Command::Tenant(_)
            | Command::Template(_)
            | Command::Endpoint(_)
            | Command::Deliver(_)
            | Command::Deliveries(_)
            | Command::Sweep(_)
            | Command::Sweeps(_)
            | Command::Decisions(_)
            | Command::Explain(_)
            | Command::Import(_)
            | Command::Serve(_)
            | Command::Replicas(_) => true,
        }
    }
}

/// `dunlin serve`: the daemon until a signal.
async fn serve(
    shared: std::sync::Arc<dyn dunlin_store::Db>,
    cli: &Cli,
    args: &ServeArgs,
    limits: &OperatorLimits,
) -> anyhow::Result<ExitCode> {
    let db = shared.as_ref();
    let operator = operator_key()?;
    let unsubscribe_keys = cli.mail.unsubscribe_keys()?;
    let test_clock = replicas_cmd::TestClock::from_env()?;
    // Bound before anything starts, so a taken address fails the command at once.
    let listener = match args.listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("listening on {addr}"))?,
        ),
        None => None,
    };
    // Registered before anything is swept or claimed: on SQLite a second `serve` stops here.
    let replica = replicas_cmd::register(db, replicas_cmd::replica_id()?).await?;
    // The heartbeat outlives the shutdown token, so the replica beats until its last send is
    // written, then is marked stopped.
    let beating = dunlin_sweep::CancellationToken::new();
    let heartbeat = tokio::spawn(
        std::sync::Arc::clone(&replica).beat(std::sync::Arc::clone(&shared), beating.clone()),
    );
    // The signals are listened for before the runtime is built and any sweep starts, so a
    // SIGTERM from here on is a graceful stop. Before this (process start, opening and
    // migrating the database) it is the default kill, which leaves nothing half-written.
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    let shutdown = dunlin_sweep::CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down after the current page");
        stop.cancel();
    });
    // Recorded from here on, by the sweeps, the delivery worker and the API; rendered at
    // /metrics, so only when the API is served.
    let metrics = match &listener {
        Some(_) => Some(metrics_recorder(&shutdown)?),
        None => None,
    };
    let runtime = cli.sandbox.runtime_within(limits)?;
    // The worker's leases carry the replica's id, so they can be shown per replica and
    // freed when it dies.
    let mut config = cli.mail.worker_config(cli.webhooks.policy())?;
    config.name = replica.id().to_owned();
    let (worker, transport) = deliver_cmd::worker_with(
        std::sync::Arc::clone(&shared),
        &cli.mail,
        config,
        std::sync::Arc::new(dunlin_scheduler::SystemClock),
    )?;
    tracing::info!(email = %transport, replica = replica.id(), "dunlin serve started");
    let delivering = tokio::spawn(worker.run(
        dunlin_delivery::outbox::worker::Scope::All,
        false,
        shutdown.clone(),
    ));
    let api = listener.map(|listener| {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, "tenant API listening");
        }
        let mut state = dunlin_api::AppState::new(
            std::sync::Arc::clone(&shared),
            operator,
            args.api_config(),
            runtime.clone(),
        );
        state.delivery = dunlin_api::DeliveryConfig {
            webhook_policy: cli.webhooks.policy(),
            unsubscribe: unsubscribe_keys,
        };
        state.operator_limits = limits.clone();
        state.shutdown = shutdown.clone();
        state.metrics = metrics;
        state.replica = Some(std::sync::Arc::clone(&replica));
        tokio::spawn(dunlin_api::serve(listener, state, shutdown.clone()))
    });
    let daemon = dunlin_sweep::Daemon {
        replica: Some(std::sync::Arc::clone(&replica)),
        rescan: match &test_clock {
            Some(_) => replicas_cmd::TEST_CLOCK_RESCAN,
            None => dunlin_sweep::Daemon::default().rescan,
        },
    };
    let clock: &dyn dunlin_core::Clock = match &test_clock {
        Some(clock) => clock,
        None => &dunlin_scheduler::SystemClock,
    };
    let swept =
        dunlin_sweep::serve_as(db, &runtime, clock, limits, shutdown.clone(), &daemon).await;
    // Whatever ended the schedule ends delivery too, after the sends under way.
    shutdown.cancel();
    let delivered = delivering.await.context("the delivery task")?;
    if let Some(api) = api {
        api.await
            .context("the API task")?
            .context("serving the API")?;
    }
    beating.cancel();
    heartbeat.await.context("the heartbeat task")?;
    replica.stop(db).await;
    swept?;
    delivered?;
    Ok(ExitCode::SUCCESS)
}

/// The commands that work on the database.
async fn run_with_db(cli: &Cli) -> anyhow::Result<ExitCode> {
    let limits = cli.operator_limits()?;
    let shared = dunlin_store::connect(&cli.database)
        .await
        .context("opening the database")?;
    let db = shared.as_ref();
    let result = match &cli.command {
        Command::Policy(policy_cmd::PolicyCommand::Backtest(args)) => {
            backtest_cmd::run(args, &cli.sandbox, db, &limits).await
        }
        Command::Policy(cmd) => policy_cmd::run_stored(cmd, &cli.sandbox, db).await,
        Command::Tenant(cmd) => tenant_cmd::run(cmd, db, &limits).await,
        Command::Template(cmd) => template_cmd::run(cmd, db).await,
        Command::Endpoint(cmd) => endpoint_cmd::run(cmd, db, &cli.webhooks.policy()).await,
        Command::Sweep(args) => {
            ledger_cmd::run_sweep(args, db, &cli.sandbox.runtime_within(&limits)?, &limits).await
        }
        Command::Sweeps(args) => ledger_cmd::run_sweeps(args, db).await,
        Command::Decisions(args) => ledger_cmd::run_decisions(args, db).await,
        Command::Explain(args) => ledger_cmd::run_explain(args, db).await,
        Command::Serve(args) => serve(std::sync::Arc::clone(&shared), cli, args, &limits).await,
        Command::Deliver(args) => {
            let policy = cli.webhooks.policy();
            deliver_cmd::run_deliver(args, std::sync::Arc::clone(&shared), &cli.mail, policy).await
        }
        Command::Deliveries(args) => deliver_cmd::run_deliveries(args, db).await,
        Command::Replicas(args) => replicas_cmd::run(args, db).await,
        Command::Import(args) => import_cmd::run(args, db).await,
        Command::Simulate(_) | Command::Demo(_) | Command::CompileWorker { .. } => {
            unreachable!("no --database")
        }
    };
    db.close().await;
    result
}

impl SandboxArgs {
    fn runtime(&self) -> anyhow::Result<Runtime> {
        self.runtime_within(&OperatorLimits::default())
    }

    /// The runtime whose instance pool has room for the most memory the operator lets a
    /// tenant give its policies.
    fn runtime_within(&self, operator: &OperatorLimits) -> anyhow::Result<Runtime> {
        let limits = Limits {
            fuel: self.fuel,
            deadline: std::time::Duration::from_millis(self.deadline_ms),
            memory_bytes: usize::try_from(self.memory_mib.saturating_mul(1 << 20))?,
            max_memory_bytes: usize::try_from(u64::from(operator.max_memory_mib) << 20)?,
            memory_keep_resident_bytes: usize::try_from(
                self.memory_resident_mib.saturating_mul(1 << 20),
            )?,
            compile_memory_bytes: self.compile_memory_mib.saturating_mul(1 << 20),
            compile_time: std::time::Duration::from_secs(self.compile_timeout_secs),
            ..Limits::default()
        };
        let cache_dir = if self.no_cache {
            None
        } else {
            self.cache_dir.clone().or_else(default_cache_dir)
        };
        // Uploads are compiled in a child process (this executable's `compile-worker`),
        // bounded in memory and killed at the time limit, so no upload can take the
        // daemon down.
        let compiler = Compiler::Process {
            program: std::env::current_exe().context("finding this executable")?,
            args: vec!["compile-worker".into()],
        };
        Ok(Runtime::new(RuntimeConfig {
            limits,
            cache_dir,
            compiler,
        })?)
    }
}

/// Writes one line on stdout for [`outln!`].
fn stdout_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(line).and_then(|()| out.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            // Nobody reads what is left; nothing was lost that was asked for.
            std::process::exit(0);
        }
        eprintln!("error: writing to standard output: {e}");
        std::process::exit(2);
    }
}

fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("dunlin"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::CompileWorker { memory_bytes } = cli.command {
        return dunlin_runtime::compile_worker(memory_bytes);
    }
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DUNLIN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr);
    match cli.log_format {
        // Colours only for a person at a terminal, not for a file.
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => logs.json().with_span_list(true).init(),
    }
    let tokio = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
    };
    let result = if cli.needs_db() {
        tokio().and_then(|rt| rt.block_on(run_with_db(&cli)))
    } else if let Command::Demo(args) = &cli.command {
        tokio().and_then(|rt| rt.block_on(demo_cmd::run(args, &cli.sandbox)))
    } else {
        match &cli.command {
            Command::Policy(cmd) => policy_cmd::run(cmd, &cli.sandbox),
            Command::Simulate(args) => simulate_cmd::run(args, &cli.sandbox),
            _ => unreachable!("needs_db() covers the others"),
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // The chain may quote a policy (a refusal in an upload's trial run, a
            // component's own names): one escaped, bounded line.
            let message = format!("{e:#}");
            eprintln!(
                "error: {}",
                dunlin_core::text::Escaped(&dunlin_core::text::truncate(&message, 8 * 1024))
            );
            ExitCode::from(2)
        }
    }
}
