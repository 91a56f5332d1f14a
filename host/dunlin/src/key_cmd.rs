//! `dunlin tenant key …`: a tenant's API keys for the HTTP API.

use std::process::ExitCode;

use clap::Subcommand;
use dunlin_core::text::Escaped;
use dunlin_store::Db;

use crate::tenant_cmd::existing_tenant;

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Make a new key for the tenant. The key is printed once: the store keeps only its hash.
    Create {
        /// The tenant's id.
        tenant: String,
        /// What the key is for, e.g. "billing sync" (at most 100 characters).
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List the tenant's keys: id, label, when made, last used and revoked (never a key).
    List {
        /// The tenant's id.
        tenant: String,
    },
    /// Revoke one of the tenant's keys by the id `list` shows.
    Revoke {
        /// The tenant's id.
        tenant: String,
        /// The key's id.
        id: String,
    },
}

pub async fn run(cmd: &KeyCommand, db: &dyn Db) -> anyhow::Result<ExitCode> {
    match cmd {
        KeyCommand::Create { tenant, label } => {
            let (tenant, _) = existing_tenant(db, tenant).await?;
            let (key, row) = db.create_api_key(&tenant, label).await?;
            outln!("{key}");
            eprintln!(
                "key {} for tenant {}: shown only now, keep it secret",
                row.id,
                tenant.as_str()
            );
        }
        KeyCommand::List { tenant } => {
            let (tenant, _) = existing_tenant(db, tenant).await?;
            let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map_or("-".to_owned(), |t| t.format("%Y-%m-%d %H:%M").to_string())
            };
            for k in db.api_keys(&tenant).await? {
                outln!(
                    "{}  made {}  last used {:<16}  revoked {:<16}  {}",
                    k.id,
                    k.created_at.format("%Y-%m-%d %H:%M"),
                    time(k.last_used_at),
                    time(k.revoked_at),
                    Escaped(&k.label)
                );
            }
        }
        KeyCommand::Revoke { tenant, id } => {
            let (tenant, _) = existing_tenant(db, tenant).await?;
            if !db.revoke_api_key(&tenant, id).await? {
                anyhow::bail!(
                    "tenant {} has no key {} that is not revoked already",
                    tenant.as_str(),
                    Escaped(&dunlin_core::text::truncate(id, 64))
                );
            }
            outln!("revoked key {} of tenant {}", Escaped(id), tenant.as_str());
        }
    }
    Ok(ExitCode::SUCCESS)
}
