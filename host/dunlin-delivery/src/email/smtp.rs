//! Email over SMTP to the operator's (or a tenant's) relay, through lettre's pooled async
//! transport.

use std::fmt;
use std::time::{Duration, Instant};

use dunlin_core::text::quoted;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::{Error as SmtpError, PoolConfig};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::{Email, Outcome, Transport};

/// How much of a server's reply or an error chain a reason keeps.
const REASON_BYTES: usize = 512;
/// The longest value read from a variable or a secret file.
const MAX_VALUE_BYTES: usize = 4096;

/// How the connection to the relay is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// Plain text: only for a relay on the same machine or a test server.
    None,
    /// Plain connection upgraded with STARTTLS, which the server must offer (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
}

impl Security {
    fn parse(value: &str) -> Option<Self> {
        match value {
            "none" => Some(Self::None),
            "starttls" => Some(Self::StartTls),
            "tls" => Some(Self::Tls),
            _ => None,
        }
    }
}

/// A secret that `Debug` and `Display` never show.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Where and how [`SmtpTransport`] connects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpConfig {
    /// The relay's host name (checked against its certificate under TLS).
    pub host: String,
    /// The relay's port.
    pub port: u16,
    /// Plain, STARTTLS or TLS.
    pub security: Security,
    /// The user name and password, when the relay wants them.
    pub credentials: Option<(String, Password)>,
    /// Bounds each step of the SMTP dialogue (connect, each command's reply).
    pub timeout: Duration,
    /// How many connections the pool keeps to the relay.
    pub max_connections: u32,
}

/// A configuration variable that is missing, unreadable or out of range.
#[derive(Debug, thiserror::Error)]
pub enum SmtpConfigError {
    /// A required variable is not set.
    #[error("{name} is not set")]
    Missing {
        /// The variable.
        name: &'static str,
    },
    /// A variable's value is not one the setting takes.
    #[error("{name} is {value}; expected {expected}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// The value, escaped and bounded (never a secret's).
        value: String,
        /// What it takes.
        expected: &'static str,
    },
    /// A `_FILE` variable names a file that cannot be read.
    #[error("{name} names {path}, which cannot be read")]
    File {
        /// The variable.
        name: String,
        /// The path, escaped.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl SmtpConfig {
    /// The configuration from the process's environment; see [`SmtpConfig::from_lookup`].
    pub fn from_env() -> Result<Self, SmtpConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The configuration from `DUNLIN_SMTP_HOST` (required), `DUNLIN_SMTP_PORT` (default by
    /// security: 25, 587, 465), `DUNLIN_SMTP_SECURITY` (`none`, `starttls` (default) or
    /// `tls`), `DUNLIN_SMTP_USERNAME` and `DUNLIN_SMTP_PASSWORD` (together or neither),
    /// `DUNLIN_SMTP_TIMEOUT_SECS` (default 30) and `DUNLIN_SMTP_POOL` (default 16).
    /// Each may instead be given as `NAME_FILE`, the path of a file holding the value (its
    /// trailing newline dropped), which keeps a password out of the environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SmtpConfigError> {
        let get = |name: &'static str| -> Result<Option<String>, SmtpConfigError> {
            if let Some(value) = lookup(name) {
                return Ok(Some(value));
            }
            let file_var = format!("{name}_FILE");
            let Some(path) = lookup(&file_var) else {
                return Ok(None);
            };
            let value = std::fs::read_to_string(&path).map_err(|source| SmtpConfigError::File {
                name: file_var,
                path: quoted(&path, 256),
                source,
            })?;
            Ok(Some(value.trim_end_matches(['\r', '\n']).to_owned()))
        };
        let invalid = |name, value: &str, expected| SmtpConfigError::Invalid {
            name,
            value: quoted(value, 64),
            expected,
        };
        let number = |name: &'static str, expected| -> Result<Option<u64>, SmtpConfigError> {
            get(name)?
                .map(|v| v.parse::<u64>().map_err(|_| invalid(name, &v, expected)))
                .transpose()
        };

        let host = get("DUNLIN_SMTP_HOST")?.ok_or(SmtpConfigError::Missing {
            name: "DUNLIN_SMTP_HOST",
        })?;
        if host.is_empty() || host.len() > 253 || !host.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid("DUNLIN_SMTP_HOST", &host, "a host name"));
        }
        let security = match get("DUNLIN_SMTP_SECURITY")? {
            None => Security::StartTls,
            Some(v) => Security::parse(&v)
                .ok_or_else(|| invalid("DUNLIN_SMTP_SECURITY", &v, "none, starttls or tls"))?,
        };
        let port = match number("DUNLIN_SMTP_PORT", "a port from 1 to 65535")? {
            None => match security {
                Security::None => 25,
                Security::StartTls => 587,
                Security::Tls => 465,
            },
            Some(p) => u16::try_from(p).ok().filter(|p| *p != 0).ok_or_else(|| {
                invalid("DUNLIN_SMTP_PORT", &p.to_string(), "a port from 1 to 65535")
            })?,
        };
        let credentials = match (get("DUNLIN_SMTP_USERNAME")?, get("DUNLIN_SMTP_PASSWORD")?) {
            (None, None) => None,
            (Some(user), Some(password)) if password.len() <= MAX_VALUE_BYTES => {
                Some((user, Password(password)))
            }
            (Some(_), Some(_)) => {
                return Err(SmtpConfigError::Invalid {
                    name: "DUNLIN_SMTP_PASSWORD",
                    value: "<redacted>".into(),
                    expected: "at most 4096 bytes",
                });
            }
            (None, Some(_)) => {
                return Err(SmtpConfigError::Missing {
                    name: "DUNLIN_SMTP_USERNAME",
                });
            }
            (Some(_), None) => {
                return Err(SmtpConfigError::Missing {
                    name: "DUNLIN_SMTP_PASSWORD",
                });
            }
        };
        let timeout = number("DUNLIN_SMTP_TIMEOUT_SECS", "seconds from 1 to 600")?.unwrap_or(30);
        if !(1..=600).contains(&timeout) {
            return Err(invalid(
                "DUNLIN_SMTP_TIMEOUT_SECS",
                &timeout.to_string(),
                "seconds from 1 to 600",
            ));
        }
        let pool = number("DUNLIN_SMTP_POOL", "connections from 1 to 256")?.unwrap_or(16);
        let max_connections = u32::try_from(pool)
            .ok()
            .filter(|n| (1..=256).contains(n))
            .ok_or_else(|| {
                invalid(
                    "DUNLIN_SMTP_POOL",
                    &pool.to_string(),
                    "connections from 1 to 256",
                )
            })?;
        Ok(Self {
            host,
            port,
            security,
            credentials,
            timeout: Duration::from_secs(timeout),
            max_connections,
        })
    }
}

/// Why an [`SmtpTransport`] cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum SmtpTransportError {
    /// The pool runs its connection reaper on the current Tokio runtime.
    #[error("the SMTP transport is made inside a Tokio runtime")]
    NoRuntime,
    /// The TLS parameters for the host cannot be built.
    #[error("cannot set up TLS for the SMTP relay")]
    Tls(#[source] SmtpError),
}

/// SMTP through one pool of connections to the relay, reused by every send; clones share
/// the pool.
#[derive(Clone)]
pub struct SmtpTransport {
    inner: AsyncSmtpTransport<Tokio1Executor>,
}

impl fmt::Debug for SmtpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpTransport").finish_non_exhaustive()
    }
}

impl SmtpTransport {
    /// A transport for `config`, made inside a Tokio runtime. Nothing connects until the
    /// first send.
    pub fn new(config: &SmtpConfig) -> Result<Self, SmtpTransportError> {
        // lettre's pool spawns its reaper here and would panic outside a runtime.
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(SmtpTransportError::NoRuntime);
        }
        let tls_parameters =
            || TlsParameters::new(config.host.clone()).map_err(SmtpTransportError::Tls);
        let tls = match config.security {
            Security::None => Tls::None,
            Security::StartTls => Tls::Required(tls_parameters()?),
            Security::Tls => Tls::Wrapper(tls_parameters()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .tls(tls)
            .timeout(Some(config.timeout))
            .pool_config(PoolConfig::new().max_size(config.max_connections));
        if let Some((user, password)) = &config.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.0.clone()));
        }
        Ok(Self {
            inner: builder.build(),
        })
    }
}

impl Transport for SmtpTransport {
    async fn send(&self, email: &Email) -> Outcome {
        let message = match super::build(email) {
            Ok(message) => message,
            Err(outcome) => return outcome,
        };
        let start = Instant::now();
        match self.inner.send(message).await {
            Ok(response) => Outcome::Sent {
                reply: bounded(&format!(
                    "{} {}",
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                )),
                latency: start.elapsed(),
            },
            Err(err) => classify(&err),
        }
    }
}

/// 5xx replies are permanent, and so are lettre's refusals of the message itself (a
/// non-ASCII address to a server without SMTPUTF8), which repeat on every attempt; 4xx
/// replies, refused or broken connections, timeouts and TLS failures are temporary, since
/// the relay or the network may recover.
fn classify(err: &SmtpError) -> Outcome {
    let reason = bounded(&super::chain(err));
    if err.is_permanent() || err.is_client() {
        Outcome::Permanent { reason }
    } else {
        Outcome::Temporary { reason }
    }
}

/// A server's text is not ours: bounded and escaped before it reaches a log or a table.
fn bounded(text: &str) -> String {
    dunlin_core::text::Escaped(&dunlin_core::text::truncate(text, REASON_BYTES)).to_string()
}
