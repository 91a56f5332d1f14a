//! The record of every sweep: when it ran, for which as-of date, who started it and what it
//! did. A run `running` is also the tenant's sweep lock ([`crate::Db::start_sweep_run`]).

use chrono::{DateTime, Utc};
use dunlin_core::Date;
use serde::{Deserialize, Serialize};

/// Who started a sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SweepTrigger {
    /// The daemon, at the tenant's scheduled tick.
    Schedule,
    /// `dunlin sweep`.
    Cli,
    /// The tenant, through the HTTP API.
    Api,
}

/// Where a sweep run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SweepStatus {
    /// Under way.
    Running,
    /// Ended with every due invoice reviewed.
    Done,
    /// Stopped early by a shutdown; the next sweep does the rest.
    Interrupted,
    /// Could not run or went wrong (the error says why).
    Failed,
    /// Its process stopped beating while it ran (a crash or a kill).
    Abandoned,
}

impl SweepStatus {
    /// The stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            SweepStatus::Running => "running",
            SweepStatus::Done => "done",
            SweepStatus::Interrupted => "interrupted",
            SweepStatus::Failed => "failed",
            SweepStatus::Abandoned => "abandoned",
        }
    }
}

impl SweepTrigger {
    /// The stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            SweepTrigger::Schedule => "schedule",
            SweepTrigger::Cli => "cli",
            SweepTrigger::Api => "api",
        }
    }
}

/// A sweep about to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSweepRun {
    /// The day under review.
    pub as_of: Date,
    /// Whether it writes nothing.
    pub dry_run: bool,
    /// Who started it.
    pub started_by: SweepTrigger,
}

/// What a sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct SweepFigures {
    /// Invoices reviewed.
    pub reviewed: u64,
    /// Decisions written.
    pub recorded: u64,
    /// Reviews skipped: the invoice had a decision for that day already.
    pub skipped: u64,
    /// Reviews dropped because the invoice's ledger changed meanwhile.
    pub stale: u64,
    /// Reviews where the policy failed.
    pub failures: u64,
    /// Actions put in the outbox.
    pub actions: u64,
    /// Actions the guardrails blocked.
    pub blocked: u64,
}

/// The longest error text kept with a failed run, in bytes.
pub const MAX_ERROR_BYTES: usize = 2048;

/// A stored sweep run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SweepRun {
    /// Its id (unique across tenants; looked up by tenant and id).
    pub id: i64,
    /// The day under review.
    pub as_of: Date,
    /// Whether it writes nothing.
    pub dry_run: bool,
    /// Who started it.
    pub started_by: SweepTrigger,
    /// Where it is.
    pub status: SweepStatus,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended; `None` while running or abandoned.
    pub finished_at: Option<DateTime<Utc>>,
    /// What it did (zeros until it ends).
    pub figures: SweepFigures,
    /// Why it failed, bounded.
    pub error: Option<String>,
    /// The `serve` replica that ran it (`crate::replica`); `None` for `dunlin sweep` by hand
    /// and for runs outside a daemon.
    pub replica: Option<String>,
}
