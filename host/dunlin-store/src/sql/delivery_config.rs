//! What tenants configure for delivery: email templates and webhook endpoints.

use chrono::{DateTime, SubsecRound, Utc};

use super::tenant::{is_fk_violation, is_unique_violation};
use super::{get, require_tenant, Row, This};
use crate::codec::{from_json, json, now};
use crate::delivery::{self, EndpointRow, NewEndpoint, TemplateRow};
use crate::error::QueryContext;
use crate::tenant::TenantId;
use crate::{Result, StoreError};

const TEMPLATE_COLUMNS: &str = "id, locale, subject, text, html, updated_at";

fn template_from_row(row: &Row) -> Result<TemplateRow> {
    Ok(TemplateRow {
        id: get(row, "id")?,
        locale: get(row, "locale")?,
        subject: get(row, "subject")?,
        text: get(row, "text")?,
        html: get(row, "html")?,
        updated_at: Some(get(row, "updated_at")?),
    })
}

pub(super) async fn put_templates(
    db: &This,
    tenant: &TenantId,
    rows: &[TemplateRow],
) -> Result<usize> {
    for row in rows {
        row.check()?;
    }
    let mut tx = db.begin_write().await?;
    require_tenant(&mut tx, tenant).await?;
    let updated_at = now();
    for row in rows {
        sqlx::query(
            "INSERT INTO templates (tenant_id, id, locale, subject, text, html, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (tenant_id, id, locale) DO UPDATE SET subject = excluded.subject, \
             text = excluded.text, html = excluded.html, updated_at = excluded.updated_at",
        )
        .bind(tenant.as_str())
        .bind(&row.id)
        .bind(&row.locale)
        .bind(&row.subject)
        .bind(&row.text)
        .bind(&row.html)
        .bind(updated_at)
        .execute(&mut *tx)
        .await
        .ctx("store template")?;
    }
    tx.commit().await.ctx("commit templates")?;
    Ok(rows.len())
}

pub(super) async fn templates(db: &This, tenant: &TenantId) -> Result<Vec<TemplateRow>> {
    let sql = format!(
        "SELECT {TEMPLATE_COLUMNS} FROM templates WHERE tenant_id = $1 ORDER BY id, locale"
    );
    sqlx::query(&sql)
        .bind(tenant.as_str())
        .fetch_all(&db.pool)
        .await
        .ctx("list templates")?
        .iter()
        .map(template_from_row)
        .collect()
}

pub(super) async fn template(
    db: &This,
    tenant: &TenantId,
    id: &str,
    locale: &str,
) -> Result<Option<TemplateRow>> {
    let sql = format!(
        "SELECT {TEMPLATE_COLUMNS} FROM templates \
         WHERE tenant_id = $1 AND id = $2 AND locale = $3"
    );
    sqlx::query(&sql)
        .bind(tenant.as_str())
        .bind(id)
        .bind(locale)
        .fetch_optional(&db.pool)
        .await
        .ctx("read template")?
        .map(|row| template_from_row(&row))
        .transpose()
}

pub(super) async fn delete_template(
    db: &This,
    tenant: &TenantId,
    id: &str,
    locale: &str,
) -> Result<bool> {
    let done =
        sqlx::query("DELETE FROM templates WHERE tenant_id = $1 AND id = $2 AND locale = $3")
            .bind(tenant.as_str())
            .bind(id)
            .bind(locale)
            .execute(&db.pool)
            .await
            .ctx("delete template")?;
    Ok(done.rows_affected() > 0)
}

const ENDPOINT_COLUMNS: &str =
    "id, url, events, secret, previous_secret, previous_until, created_at";

fn endpoint_from_row(row: &Row) -> Result<EndpointRow> {
    Ok(EndpointRow {
        id: get(row, "id")?,
        url: get(row, "url")?,
        events: from_json("webhook endpoint events", &get::<String>(row, "events")?)?,
        secret: get(row, "secret")?,
        previous_secret: get(row, "previous_secret")?,
        previous_until: get(row, "previous_until")?,
        created_at: get(row, "created_at")?,
    })
}

pub(super) async fn add_endpoint(
    db: &This,
    tenant: &TenantId,
    endpoint: &NewEndpoint,
) -> Result<EndpointRow> {
    delivery::check_endpoint(endpoint)?;
    let created_at = now();
    let result = sqlx::query(
        "INSERT INTO webhook_endpoints (tenant_id, id, url, events, secret, previous_secret, \
         previous_until, created_at) VALUES ($1, $2, $3, $4, $5, NULL, NULL, $6)",
    )
    .bind(tenant.as_str())
    .bind(&endpoint.id)
    .bind(&endpoint.url)
    .bind(json(&endpoint.events))
    .bind(&endpoint.secret)
    .bind(created_at)
    .execute(&db.pool)
    .await;
    match result {
        Err(e) if is_unique_violation(&e) => Err(StoreError::EndpointExists {
            tenant: tenant.clone(),
            id: endpoint.id.clone(),
        }),
        Err(e) if is_fk_violation(&e) => Err(StoreError::UnknownTenant(tenant.clone())),
        other => other.ctx("add webhook endpoint").map(|_| EndpointRow {
            id: endpoint.id.clone(),
            url: endpoint.url.clone(),
            events: endpoint.events.clone(),
            secret: endpoint.secret.clone(),
            previous_secret: None,
            previous_until: None,
            created_at,
        }),
    }
}

/// The tenant's endpoints, or the one with id `only`.
pub(super) async fn endpoints(
    db: &This,
    tenant: &TenantId,
    only: Option<&str>,
) -> Result<Vec<EndpointRow>> {
    let condition = if only.is_some() { "AND id = $2" } else { "" };
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 {condition} \
         ORDER BY id"
    );
    let query = sqlx::query(&sql).bind(tenant.as_str());
    let query = match only {
        Some(id) => query.bind(id),
        None => query,
    };
    query
        .fetch_all(&db.pool)
        .await
        .ctx("list webhook endpoints")?
        .iter()
        .map(endpoint_from_row)
        .collect()
}

pub(super) async fn remove_endpoint(db: &This, tenant: &TenantId, id: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.as_str())
        .bind(id)
        .execute(&db.pool)
        .await
        .ctx("remove webhook endpoint")?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn rotate_endpoint_secret(
    db: &This,
    tenant: &TenantId,
    id: &str,
    new_secret: &str,
    previous_until: DateTime<Utc>,
) -> Result<Option<EndpointRow>> {
    delivery::check_secret(id, new_secret)?;
    // One statement: the secret being replaced is the one the row holds at that moment, so
    // two rotations at once cannot both keep the same previous secret.
    let sql = format!(
        "UPDATE webhook_endpoints SET previous_secret = secret, previous_until = $4, \
         secret = $3 WHERE tenant_id = $1 AND id = $2 RETURNING {ENDPOINT_COLUMNS}"
    );
    sqlx::query(&sql)
        .bind(tenant.as_str())
        .bind(id)
        .bind(new_secret)
        .bind(previous_until.trunc_subsecs(6))
        .fetch_optional(&db.pool)
        .await
        .ctx("rotate webhook endpoint secret")?
        .map(|row| endpoint_from_row(&row))
        .transpose()
}
