//! How a policy call can fail. Each failure is recorded for its invoice; none stops a sweep.

use serde::{Deserialize, Serialize};

use crate::InvalidDecision;

/// An explicit refusal by the policy (`policy-error` in the contract): business data, not a
/// sandbox fault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "detail")]
pub enum Refusal {
    /// A tenant parameter is missing or malformed.
    #[error("bad tenant parameter: {0}")]
    BadParam(String),
    /// The policy does not handle this case.
    #[error("unsupported case: {0}")]
    Unsupported(String),
}

/// Why a policy produced no usable decision for one invoice.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyFailure {
    /// The policy refused to decide.
    #[error("policy refused: {0}")]
    Refused(Refusal),
    /// The guest trapped (panic, unreachable, stack overflow, bad memory access, exit).
    #[error("policy trapped: {message}")]
    Trap {
        /// The trap, as wasmtime describes it.
        message: String,
    },
    /// The instruction budget ran out.
    #[error("policy ran out of fuel (budget {budget} units)")]
    OutOfFuel {
        /// The budget per call.
        budget: u64,
    },
    /// The wall-clock deadline passed.
    #[error("policy exceeded its deadline of {limit_ms} ms")]
    Deadline {
        /// The deadline per call, in milliseconds.
        limit_ms: u64,
    },
    /// The guest tried to grow a linear memory past the limit.
    #[error("policy hit its memory limit of {limit_bytes} bytes")]
    MemoryLimit {
        /// The linear memory limit.
        limit_bytes: u64,
    },
    /// The guest tried to grow a table past the limit.
    #[error("policy hit its table limit of {limit_elements} elements")]
    TableLimit {
        /// The table size limit.
        limit_elements: u64,
    },
    /// The decision is larger than the host accepts.
    #[error("policy output is {size} bytes; the limit is {limit}")]
    OutputTooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The decision breaks the contract.
    #[error("policy returned an invalid decision: {0}")]
    InvalidDecision(#[from] InvalidDecision),
    /// The sandbox could not be set up for the call (instance limit reached, etc.).
    #[error("policy could not be instantiated: {message}")]
    Instantiate {
        /// What went wrong.
        message: String,
    },
}

impl PolicyFailure {
    /// A short stable code for logs, metrics and the decision log.
    pub fn code(&self) -> &'static str {
        match self {
            PolicyFailure::Refused(_) => "refused",
            PolicyFailure::Trap { .. } => "trap",
            PolicyFailure::OutOfFuel { .. } => "out-of-fuel",
            PolicyFailure::Deadline { .. } => "deadline",
            PolicyFailure::MemoryLimit { .. } => "memory-limit",
            PolicyFailure::TableLimit { .. } => "table-limit",
            PolicyFailure::OutputTooLarge { .. } => "output-too-large",
            PolicyFailure::InvalidDecision(_) => "invalid-decision",
            PolicyFailure::Instantiate { .. } => "instantiate",
        }
    }
}
