//! `dunlin endpoint …`: a tenant's webhook endpoints: add (with a new secret, shown once),
//! list (never a secret), remove and rotate the secret.

use std::process::ExitCode;

use anyhow::{bail, Context as _};
use chrono::{Duration, Utc};
use clap::Subcommand;
use dunlin_core::text::Escaped;
use dunlin_delivery::webhook::{new_endpoint, EndpointPolicy, WebhookSecret};
use dunlin_store::Db;

use crate::tenant_cmd::existing_tenant;

/// The operator's bounds on tenants' webhook endpoints (checked when one is added).
#[derive(clap::Args)]
pub struct WebhookPolicyArgs {
    /// Let tenants' webhook endpoints be plain http on any host (https is otherwise required
    /// outside loopback).
    #[arg(long, global = true, env = "DUNLIN_WEBHOOK_ALLOW_HTTP")]
    webhook_allow_http: bool,
    /// Let tenants' webhook endpoints be loopback, private, link-local and other internal
    /// addresses (for receivers on the operator's own network).
    #[arg(long, global = true, env = "DUNLIN_WEBHOOK_ALLOW_PRIVATE")]
    webhook_allow_private: bool,
}

impl WebhookPolicyArgs {
    pub fn policy(&self) -> EndpointPolicy {
        EndpointPolicy {
            allow_http: self.webhook_allow_http,
            allow_private: self.webhook_allow_private,
        }
    }
}

#[derive(Subcommand)]
pub enum EndpointCommand {
    /// Add a webhook endpoint; prints its signing secret once.
    Add {
        /// The tenant's id.
        #[arg(long)]
        tenant: String,
        /// A handle for the endpoint (a-z, 0-9, '-', '_') [default: a random ep-…]
        #[arg(long)]
        id: Option<String>,
        /// Where events are posted (https).
        #[arg(long)]
        url: String,
        /// The event types it receives, comma-separated, e.g.
        /// notice.requested,invoice.escalated [default: every event]
        #[arg(long, value_delimiter = ',')]
        events: Vec<String>,
    },
    /// List the tenant's endpoints (never their secrets).
    List {
        /// The tenant's id.
        #[arg(long)]
        tenant: String,
    },
    /// Remove an endpoint.
    Remove {
        /// The tenant's id.
        #[arg(long)]
        tenant: String,
        /// The endpoint's id.
        id: String,
    },
    /// Give an endpoint a new secret, printed once; the old one keeps signing (beside the
    /// new) for the overlap, so the receiver can switch.
    Rotate {
        /// The tenant's id.
        #[arg(long)]
        tenant: String,
        /// The endpoint's id.
        id: String,
        /// How long the old secret keeps signing, in hours.
        #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(0..=24 * 30))]
        overlap_hours: u32,
    },
}

fn print_secret(secret: &WebhookSecret) {
    outln!("secret: {}", secret.expose_whsec());
    outln!("This secret is shown once: store it with the receiver now.");
}

pub async fn run(
    cmd: &EndpointCommand,
    db: &dyn Db,
    policy: &EndpointPolicy,
) -> anyhow::Result<ExitCode> {
    match cmd {
        EndpointCommand::Add {
            tenant,
            id,
            url,
            events,
        } => {
            let (tenant, _) = existing_tenant(db, tenant).await?;
            let (endpoint, secret) = new_endpoint(id.as_deref(), url, events, policy)?;
            let row = db.add_endpoint(&tenant, &endpoint).await?;
            outln!(
                "added endpoint {} → {} ({})",
                Escaped(&row.id),
                Escaped(&row.url),
                events_text(&row.events)
            );
            print_secret(&secret);
        }
        EndpointCommand::List { tenant } => {
            let (tenant, _) = existing_tenant(db, tenant).await?;
            let now = Utc::now();
            for row in db.endpoints(&tenant).await? {
                let rotating = match row.previous_until {
                    Some(until) if until > now => {
                        format!("  (previous secret signs until {})", until.to_rfc3339())
                    }
                    _ => String::new(),
                };
                outln!(
                    "{:<24} {}  {}{rotating}",
                    Escaped(&row.id),
                    Escaped(&row.url),
                    events_text(&row.events)
                );
            }
        }
        EndpointCommand::Remove { tenant, id } => {
            let (tenant, _) = existing_tenant(db, tenant).await?;
            if !db.remove_endpoint(&tenant, id).await? {
                bail!("no endpoint {}", Escaped(id));
            }
            outln!("removed endpoint {}", Escaped(id));
        }
        EndpointCommand::Rotate {
            tenant,
            id,
            overlap_hours,
        } => {
            let (tenant, _) = existing_tenant(db, tenant).await?;
            let secret = WebhookSecret::generate()?;
            let until = Utc::now() + Duration::hours(i64::from(*overlap_hours));
            let row = db
                .rotate_endpoint_secret(&tenant, id, &secret.expose_whsec(), until)
                .await?
                .with_context(|| format!("no endpoint {}", Escaped(id)))?;
            outln!(
                "rotated the secret of endpoint {}; the previous one signs until {}",
                Escaped(&row.id),
                until.to_rfc3339()
            );
            print_secret(&secret);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn events_text(events: &[String]) -> String {
    if events.is_empty() {
        "every event".to_owned()
    } else {
        Escaped(&events.join(",")).to_string()
    }
}
