//! `dunlin`: the command line. Glue only: parses flags and calls the library crates.

mod policy_cmd;
mod simulate_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use dunlin_runtime::{Limits, Runtime, RuntimeConfig};

/// Dunlin runs overdue-invoice schedules and asks each tenant's WebAssembly policy what to
/// do next: wait, remind, retry the payment, pause, escalate or close.
#[derive(Parser)]
#[command(name = "dunlin", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    sandbox: SandboxArgs,
    #[command(subcommand)]
    command: Command,
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
}

#[derive(Subcommand)]
enum Command {
    /// Build, check and try policy components.
    #[command(subcommand)]
    Policy(policy_cmd::PolicyCommand),
    /// Play an example book of invoices through a policy day by day and print each
    /// customer's timeline (no database, no set-up).
    Simulate(simulate_cmd::SimulateArgs),
}

impl SandboxArgs {
    fn runtime(&self) -> anyhow::Result<Runtime> {
        let limits = Limits {
            fuel: self.fuel,
            deadline: std::time::Duration::from_millis(self.deadline_ms),
            memory_bytes: usize::try_from(self.memory_mib.saturating_mul(1 << 20))?,
            ..Limits::default()
        };
        let cache_dir = if self.no_cache {
            None
        } else {
            self.cache_dir.clone().or_else(default_cache_dir)
        };
        Ok(Runtime::new(RuntimeConfig { limits, cache_dir })?)
    }
}

fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("dunlin"))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DUNLIN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Policy(cmd) => policy_cmd::run(cmd, &cli.sandbox),
        Command::Simulate(args) => simulate_cmd::run(args, &cli.sandbox),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
