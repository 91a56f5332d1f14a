//! `dunlin policy …`: build, validate, run and test policy components.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use clap::Subcommand;
use dunlin_core::cases::CasesFile;
use dunlin_core::text::{truncate, Escaped};
use dunlin_core::Context;
use dunlin_runtime::guest_build::{self, Output};
use dunlin_runtime::{Fit, LoadedPolicy, Mode, Runtime};
use dunlin_sweep::lifecycle;

use crate::SandboxArgs;

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Build a policy into a component and validate it: a Rust crate (cargo, release,
    /// wasm32-wasip2) or a Python policy's directory (componentize-py 0.25.1).
    Build {
        /// The policy's directory.
        crate_dir: PathBuf,
        /// Copy the component here as well.
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Create a new policy (a package or crate with a cases file and a test) in DIR.
    New {
        /// The language to write it in.
        #[arg(long, value_enum, default_value_t = Lang::Rust)]
        lang: Lang,
        /// The new policy's directory; its last component names the policy.
        dir: PathBuf,
    },
    /// Check a component as an upload would: contract version, imports, size; compile it.
    Validate {
        /// The component.
        wasm: PathBuf,
    },
    /// Run a component on one context (JSON) and print its decision as JSON.
    Run {
        /// The component.
        wasm: PathBuf,
        /// The context, as JSON (see `dunlin_core::Context`); `-` reads standard input.
        #[arg(long)]
        context: PathBuf,
        /// Fresh instance per decision, or a reused one.
        #[arg(long, value_enum, default_value_t = ModeArg::Strict)]
        mode: ModeArg,
    },
    /// Validate a component (or build a crate / reference policy) and store it as the
    /// tenant's next policy version. An invalid component is rejected and nothing is stored.
    Upload {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// A .wasm component, a policy crate directory, or a reference policy name.
        policy: String,
        /// Make it the active version right away.
        #[arg(long)]
        activate: bool,
        /// With --activate: move ladders in progress to the new version too.
        #[arg(long, requires = "activate")]
        migrate_ladders: bool,
    },
    /// Make a stored version the tenant's active one (new ladders use it; ladders in
    /// progress stay on the version that started them).
    Activate {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The version number.
        version: u32,
        /// Move ladders in progress to this version too (by default they stay on the
        /// version that started them).
        #[arg(long)]
        migrate_ladders: bool,
    },
    /// Go back to the previously active version.
    Rollback {
        /// The tenant.
        #[arg(long)]
        tenant: String,
    },
    /// List a tenant's policy versions.
    List {
        /// The tenant.
        #[arg(long)]
        tenant: String,
    },
    /// Run a tenant's recorded decisions again through the exact component that made each
    /// and check that the host would write the same bytes; exits 1 on any difference.
    Replay(crate::replay_cmd::ReplayArgs),
    #[command(flatten)]
    Trial(crate::shadow_cmd::TrialCommand),
    /// Run a cases file against a component in the real sandbox; fails if any case fails.
    Test {
        /// The component.
        wasm: PathBuf,
        /// The cases file (a base context and cases with expected decisions).
        cases: PathBuf,
    },
    /// Try a stored version over the tenant's recorded decisions and compare it with what
    /// was decided (nothing is written).
    Backtest(crate::backtest_cmd::BacktestArgs),
    /// Compare two components over contexts from a file (a book, a cases file or exported
    /// contexts), without a database.
    Diff(crate::backtest_cmd::DiffArgs),
}

/// The languages `dunlin policy new` writes policies in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ModeArg {
    Strict,
    Batch,
}

impl PolicyCommand {
    /// Whether the command works on a tenant's stored versions.
    pub fn needs_db(&self) -> bool {
        matches!(
            self,
            PolicyCommand::Upload { .. }
                | PolicyCommand::Activate { .. }
                | PolicyCommand::Rollback { .. }
                | PolicyCommand::List { .. }
                | PolicyCommand::Backtest(_)
                | PolicyCommand::Replay(_)
                | PolicyCommand::Trial(_)
        )
    }
}

/// The commands on a tenant's stored versions.
pub async fn run_stored(
    cmd: &PolicyCommand,
    sandbox: &SandboxArgs,
    db: &dyn dunlin_store::Db,
) -> anyhow::Result<ExitCode> {
    use crate::tenant_cmd::tenant_id;
    match cmd {
        PolicyCommand::Upload {
            tenant,
            policy,
            activate,
            migrate_ladders,
        } => {
            let (tenant, _) = crate::tenant_cmd::existing_tenant(db, tenant).await?;
            let runtime = sandbox.runtime()?;
            let wasm = resolve_wasm(policy)?;
            let bytes =
                std::fs::read(&wasm).with_context(|| format!("reading {}", wasm.display()))?;
            let up = lifecycle::upload(db, &runtime, &tenant, bytes)
                .await
                .with_context(|| format!("{policy} was rejected"))?;
            outln!(
                "stored {} as version {} of {} (contract {}, sha256 {})",
                policy,
                up.version.version,
                tenant.as_str(),
                up.contract,
                &up.version.sha256[..12]
            );
            print_fit(&up.fit);
            if *activate {
                activate_version(db, &tenant, up.version.version, *migrate_ladders).await?;
            }
        }
        PolicyCommand::Activate {
            tenant,
            version,
            migrate_ladders,
        } => {
            let tenant = tenant_id(tenant)?;
            activate_version(db, &tenant, *version, *migrate_ladders).await?;
        }
        PolicyCommand::Rollback { tenant } => {
            let tenant = tenant_id(tenant)?;
            let previous = lifecycle::rollback(db, &tenant).await?;
            outln!(
                "rolled back: version {} of {} is active again",
                previous.version,
                tenant.as_str()
            );
        }
        PolicyCommand::List { tenant } => {
            let tenant = tenant_id(tenant)?;
            for v in db.policy_versions(&tenant).await? {
                outln!(
                    "{:>4}  {:<9} {}  {:>9} bytes  uploaded {}",
                    v.version,
                    v.status.as_str(),
                    &v.sha256[..12],
                    v.size,
                    v.created_at.format("%Y-%m-%d %H:%M")
                );
            }
        }
        PolicyCommand::Replay(args) => {
            return crate::replay_cmd::run(args, db, &sandbox.runtime()?).await;
        }
        PolicyCommand::Trial(cmd) => crate::shadow_cmd::run(cmd, db).await?,
        _ => unreachable!("needs_db() is false for the other commands"),
    }
    Ok(ExitCode::SUCCESS)
}

async fn activate_version(
    db: &dyn dunlin_store::Db,
    tenant: &dunlin_store::TenantId,
    version: u32,
    migrate_ladders: bool,
) -> anyhow::Result<()> {
    let done = lifecycle::activate(db, tenant, version, migrate_ladders).await?;
    outln!("version {version} of {} is now active", tenant.as_str());
    if let Some(moved) = done.migrated {
        outln!("{moved} ladders in progress moved to version {version}");
    }
    Ok(())
}

pub fn run(cmd: &PolicyCommand, sandbox: &SandboxArgs) -> anyhow::Result<ExitCode> {
    match cmd {
        PolicyCommand::Upload { .. }
        | PolicyCommand::Activate { .. }
        | PolicyCommand::Rollback { .. }
        | PolicyCommand::List { .. }
        | PolicyCommand::Backtest(_)
        | PolicyCommand::Replay(_)
        | PolicyCommand::Trial(_) => unreachable!("dispatched to run_stored"),
        PolicyCommand::Diff(args) => crate::backtest_cmd::run_diff(args, sandbox),
        PolicyCommand::Build { crate_dir, out } => {
            let wasm = build(crate_dir)?;
            if let Some(out) = out {
                std::fs::copy(&wasm, out)
                    .with_context(|| format!("copying {} to {}", wasm.display(), out.display()))?;
            }
            let shown = out.as_ref().unwrap_or(&wasm);
            let loaded = load(&sandbox.runtime()?, shown)?;
            outln!("built {}", shown.display());
            print_info(&loaded);
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::New { lang, dir } => {
            match lang {
                Lang::Python => crate::policy_new_python::create(dir)?,
                Lang::Rust => {
                    let sdk = repo_root().map(|root| root.join("guest-sdk")).context(
                        "the guest SDK is not here to depend on; run a dunlin built in a \
                             Dunlin checkout",
                    )?;
                    crate::policy_new_rust::create(dir, &sdk)?;
                }
                Lang::Js => {
                    let sdk = repo_root().map(|root| root.join("guest-sdk").join("js"));
                    crate::policy_js::scaffold(dir, sdk.as_deref())?;
                    outln!(
                        "created {}: `npm install && npm test` runs its cases natively, \
                         `dunlin policy build {0}` builds it",
                        dir.display()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Validate { wasm } => {
            let loaded = load(&sandbox.runtime()?, wasm)?;
            let fit = loaded
                .trial()
                .with_context(|| format!("{} was rejected", wasm.display()))?;
            print_info(&loaded);
            print_fit(&fit);
            outln!("ok: {} is a valid policy component", wasm.display());
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Run {
            wasm,
            context,
            mode,
        } => {
            let text = if context == Path::new("-") {
                std::io::read_to_string(std::io::stdin()).context("reading standard input")?
            } else {
                std::fs::read_to_string(context)
                    .with_context(|| format!("reading {}", context.display()))?
            };
            let ctx: Context = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a valid context", context.display()))?;
            let mode = match mode {
                ModeArg::Strict => Mode::Strict,
                ModeArg::Batch => Mode::Batch,
            };
            let loaded = load(&sandbox.runtime()?, wasm)?;
            let report = loaded.handle(mode).decide_with_report(&ctx);
            if !report.log.is_empty() {
                eprintln!(
                    "policy log{}:",
                    if report.log_truncated {
                        " (truncated)"
                    } else {
                        ""
                    }
                );
                // The guest's own output: each line escaped and marked, so that it can
                // neither pass for the host's lines nor drive the terminal.
                for line in report.log.trim_end().lines() {
                    eprintln!("  | {}", Escaped(line));
                }
            }
            eprintln!(
                "fuel used: {}, time: {:.1} µs",
                report.fuel_used,
                report.elapsed.as_secs_f64() * 1e6
            );
            match report.outcome {
                Ok(decision) => {
                    outln!("{}", serde_json::to_string_pretty(&decision)?);
                    Ok(ExitCode::SUCCESS)
                }
                Err(failure) => {
                    eprintln!(
                        "policy failure [{}]: {}",
                        failure.code(),
                        Escaped(&truncate(&failure.to_string(), SHOWN_BYTES))
                    );
                    Ok(ExitCode::from(1))
                }
            }
        }
        PolicyCommand::Test { wasm, cases } => {
            let text = std::fs::read_to_string(cases)
                .with_context(|| format!("reading {}", cases.display()))?;
            let file = CasesFile::parse(&text).with_context(|| cases.display().to_string())?;
            let loaded = load(&sandbox.runtime()?, wasm)?;
            let results = file.run(&mut loaded.handle(Mode::Strict));
            let failed = results.iter().filter(|r| r.problem.is_some()).count();
            for r in &results {
                match &r.problem {
                    None => outln!("ok    {}", Escaped(&r.name)),
                    Some(problem) => {
                        outln!("FAIL  {}", Escaped(&r.name));
                        // The problem quotes what the policy answered (a refusal's text, a
                        // trap message), so each of its lines is escaped and indented: a
                        // line the policy wrote cannot pass for a case's result.
                        for line in truncate(problem, PROBLEM_BYTES).lines() {
                            outln!("      {}", Escaped(line));
                        }
                    }
                }
            }
            outln!("{} passed, {} failed", results.len() - failed, failed);
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

/// The most bytes of a failure's text shown: it may carry what the policy wrote.
const SHOWN_BYTES: usize = 2048;
/// The most bytes of a failed case's account shown: room for the whole decision as JSON
/// beside what was expected of it.
const PROBLEM_BYTES: usize = 16 * 1024;

/// Builds a policy (a Rust crate, a Python `app.py` with componentize-py, or a JavaScript
/// package with its toolchain) with the toolchain's progress shown, into the workspace's
/// `target/wasm` when the policy sits in this repository.
pub fn build(crate_dir: &Path) -> anyhow::Result<PathBuf> {
    let target_dir = repo_root().map(|root| root.join("target").join("wasm"));
    if guest_build::Language::detect(crate_dir) == Some(guest_build::Language::JavaScript) {
        return crate::policy_js::build(crate_dir, target_dir);
    }
    eprintln!(
        "building {} for {}",
        crate_dir.display(),
        guest_build::TARGET
    );
    Ok(guest_build::build_policy(
        crate_dir,
        target_dir.as_deref(),
        None,
        Output::Show,
    )?)
}

/// The repository this binary was built from, if it is still there (reference policies and
/// the example book live in it).
pub fn repo_root() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.join("policies")
        .is_dir()
        .then(|| root.canonicalize().unwrap_or(root))
}

pub fn load(runtime: &Runtime, wasm: &Path) -> anyhow::Result<LoadedPolicy> {
    Ok(load_with_bytes(runtime, wasm)?.0)
}

fn load_with_bytes(runtime: &Runtime, wasm: &Path) -> anyhow::Result<(LoadedPolicy, Vec<u8>)> {
    let bytes = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
    let loaded = runtime
        .load(&bytes)
        .with_context(|| format!("{} was rejected", wasm.display()))?;
    Ok((loaded, bytes))
}

/// A `.wasm` file, a policy crate directory, or the name of a reference policy.
pub fn resolve(runtime: &Runtime, spec: &str) -> anyhow::Result<LoadedPolicy> {
    Ok(resolve_bytes(runtime, spec)?.0)
}

/// Like [`resolve`], with the component's bytes.
pub fn resolve_bytes(runtime: &Runtime, spec: &str) -> anyhow::Result<(LoadedPolicy, Vec<u8>)> {
    load_with_bytes(runtime, &resolve_wasm(spec)?)
}

/// The component file `spec` names: the file itself, or built from the crate or reference
/// policy.
fn resolve_wasm(spec: &str) -> anyhow::Result<PathBuf> {
    let path = PathBuf::from(spec);
    if path.is_file() {
        return Ok(path);
    }
    let dir = if guest_build::Language::detect(&path).is_some() {
        path
    } else {
        match repo_root() {
            Some(root) if root.join("policies").join(spec).is_dir() => {
                root.join("policies").join(spec)
            }
            _ => bail!(
                "{spec:?} is not a .wasm file, a policy crate directory, or a reference \
                 policy (standard, saas-card, b2b-segmented)"
            ),
        }
    };
    build(&dir)
}

/// What the component used on the rich sample invoice against its limits, and a warning
/// for each limit it came near.
fn print_fit(fit: &Fit) {
    outln!("fits:      {fit}");
    outln!("           on a rich sample invoice ({})", Fit::SAMPLE);
    for warning in fit.warnings() {
        outln!("warning:   {warning}");
    }
}

fn print_info(loaded: &LoadedPolicy) {
    let info = loaded.info();
    outln!("contract:  dunlin:policy@{}", info.version);
    outln!("size:      {} bytes", info.size);
    outln!("sha256:    {}", info.sha256);
    outln!("exports:   {}", info.exports.join(", "));
    outln!("imports:   {} (all locked-down WASI)", info.imports.len());
    for import in &info.imports {
        outln!("           {import}");
    }
    outln!(
        "{} in {:.1} ms",
        if info.from_cache {
            "loaded from the compile cache"
        } else {
            "compiled"
        },
        info.load_time.as_secs_f64() * 1e3
    );
}
