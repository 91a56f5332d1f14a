//! A tenant's delivery configuration: email templates (upload, list, show, delete, preview)
//! and delivery settings, through the same library calls as `dunlin template` and
//! `dunlin tenant --delivery`.

use axum::extract::State;
use axum::http::StatusCode;
use dunlin_core::text::truncate;
use dunlin_delivery::outbox::worker::payment_link;
use dunlin_delivery::template::{
    CustomerInput, InvoiceInput, Limits, Part, RenderInput, Template, TemplateError, TemplateSet,
    TemplateSource,
};
use dunlin_delivery::unsubscribe::UnsubscribeKeys;
use dunlin_delivery::webhook::EndpointPolicy;
use dunlin_store::{DeliverySettings, TemplateRow, TenantId, TenantSettings};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::{ApiError, AppState, Json, Path, Tenant};

/// What the operator decides about delivery for every tenant.
#[derive(Clone, Debug, Default)]
pub struct DeliveryConfig {
    /// Which webhook endpoint URLs a tenant may add (`--webhook-allow-http`,
    /// `--webhook-allow-private`).
    pub webhook_policy: EndpointPolicy,
    /// The keys that verify one-click unsubscribe links (`DUNLIN_UNSUBSCRIBE_KEY`); without
    /// them every link is refused.
    pub unsubscribe: Option<UnsubscribeKeys>,
}

/// The three parts of a template, as uploaded.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateBody {
    /// The subject line's source.
    pub subject: String,
    /// The plain-text body's source.
    pub text: String,
    /// The HTML body's source (auto-escaped).
    pub html: String,
}

/// A stored template.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct TemplateView {
    /// The template id a notice names.
    pub id: String,
    /// Its locale, in canonical form.
    pub locale: String,
    /// The subject line's source.
    pub subject: String,
    /// The plain-text body's source.
    pub text: String,
    /// The HTML body's source.
    pub html: String,
    /// When it was stored.
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<TemplateRow> for TemplateView {
    fn from(r: TemplateRow) -> Self {
        TemplateView {
            id: r.id,
            locale: r.locale,
            subject: r.subject,
            text: r.text,
            html: r.html,
            updated_at: r.updated_at,
        }
    }
}

/// A template as listed: its id, locale and when it was stored.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct TemplateListed {
    /// The template id.
    pub id: String,
    /// Its locale.
    pub locale: String,
    /// When it was stored.
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// What a preview renders with: the built-in sample notice, or with `invoice` the tenant's
/// own invoice, its customer (name, email) and their other open invoices, as the notice
/// would go out today; the sample's variables overridden by `vars`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// Notice variables (`vars.<name>` in the template) laid over the sample's.
    #[serde(default)]
    pub vars: std::collections::BTreeMap<String, String>,
    /// The tenant's own id of an invoice to render for.
    #[serde(default)]
    pub invoice: Option<String>,
}

/// A rendered preview.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct PreviewView {
    /// The template id.
    pub id: String,
    /// The locale of the template that served.
    pub locale: String,
    /// The locales tried, in order, down to the tenant's default.
    pub tried: Vec<String>,
    /// The rendered subject.
    pub subject: String,
    /// The rendered plain text.
    pub text: String,
    /// The rendered HTML.
    pub html: String,
}

/// A template error as the client reads it: 422 with the part, line and reason, or 404 when
/// no template serves the preview.
fn template_error(e: TemplateError) -> ApiError {
    let where_ = match &e {
        TemplateError::Invalid { part, line, .. } => {
            json!({"part": part_name(*part), "line": line})
        }
        TemplateError::SourceTooLarge { part, .. } | TemplateError::OutputTooLarge { part, .. } => {
            json!({"part": part_name(*part), "line": null})
        }
        TemplateError::NotFound { id, .. } => {
            return ApiError::NotFound {
                what: "template",
                id: truncate(id, 64).into_owned(),
            }
        }
        _ => Value::Null,
    };
    ApiError::Unprocessable {
        code: "invalid-template",
        message: e.to_string(),
        details: where_,
    }
}

/// A part by the name of its field in [`TemplateBody`].
fn part_name(part: Part) -> &'static str {
    match part {
        Part::Subject => "subject",
        Part::Text => "text",
        Part::Html => "html",
    }
}

fn no_template(id: &str, locale: &str) -> ApiError {
    ApiError::NotFound {
        what: "template",
        id: format!("{}/{}", truncate(id, 64), truncate(locale, 64)),
    }
}

/// Checks a template as `dunlin template upload` does (it parses, and renders against the
/// sample notice) and stores it, replacing the one of its id and locale.
#[utoipa::path(put, path = "/v1/templates/{id}/{locale}", tag = "delivery",
    params(
        ("id" = String, Path, description = "The template id (a-z, 0-9, '-', '_', '.')"),
        ("locale" = String, Path, description = "A BCP 47 locale, e.g. fi-FI")),
    request_body = TemplateBody,
    responses(
        (status = 200, description = "Stored", body = TemplateView),
        (status = 400, description = "A body that is not the three parts", body = crate::ErrorBody),
        (status = 422, description = "A template that does not parse or render: the part, line and reason", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn put_template(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((id, locale)): Path<(String, String)>,
    Json(body): Json<TemplateBody>,
) -> Result<Json<TemplateView>, ApiError> {
    let source = TemplateSource {
        subject: body.subject,
        text: body.text,
        html: body.html,
    };
    let template =
        Template::new(&id, &locale, source, Limits::default()).map_err(template_error)?;
    template.check().map_err(template_error)?;
    let row = TemplateRow::from(&template);
    state.db.put_template(&tenant.0, &row).await?;
    let stored = state
        .db
        .template(&tenant.0, &row.id, &row.locale)
        .await?
        .unwrap_or(row);
    Ok(Json(stored.into()))
}

/// The tenant's templates, by id and then locale.
#[utoipa::path(get, path = "/v1/templates", tag = "delivery",
    responses((status = 200, description = "The templates", body = Vec<TemplateListed>)),
    security(("tenant_key" = [])))]
pub(crate) async fn list_templates(
    State(state): State<AppState>,
    tenant: Tenant,
) -> Result<Json<Vec<TemplateListed>>, ApiError> {
    let rows = state.db.templates(&tenant.0).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| TemplateListed {
                id: r.id,
                locale: r.locale,
                updated_at: r.updated_at,
            })
            .collect(),
    ))
}

/// One template's three parts.
#[utoipa::path(get, path = "/v1/templates/{id}/{locale}", tag = "delivery",
    params(
        ("id" = String, Path, description = "The template id"),
        ("locale" = String, Path, description = "Its locale, as listed")),
    responses(
        (status = 200, description = "The template", body = TemplateView),
        (status = 404, description = "No such template", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn get_template(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((id, locale)): Path<(String, String)>,
) -> Result<Json<TemplateView>, ApiError> {
    match state.db.template(&tenant.0, &id, &locale).await? {
        Some(row) => Ok(Json(row.into())),
        None => Err(no_template(&id, &locale)),
    }
}

/// Deletes one template.
#[utoipa::path(delete, path = "/v1/templates/{id}/{locale}", tag = "delivery",
    params(
        ("id" = String, Path, description = "The template id"),
        ("locale" = String, Path, description = "Its locale, as listed")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such template", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn delete_template(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((id, locale)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    if state.db.delete_template(&tenant.0, &id, &locale).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_template(&id, &locale))
    }
}

/// Renders template `id` for a customer in `locale` through the fallback chain to the
/// tenant's default locale, against the sample notice (as `dunlin template render` does),
/// with the given `vars` laid over the sample's.
#[utoipa::path(post, path = "/v1/templates/{id}/{locale}/preview", tag = "delivery",
    params(
        ("id" = String, Path, description = "The template id"),
        ("locale" = String, Path, description = "The customer's locale")),
    request_body(content = PreviewRequest, description = "Optional: variables over the sample's"),
    responses(
        (status = 200, description = "The rendered parts", body = PreviewView),
        (status = 404, description = "No template serves this id and locale", body = crate::ErrorBody),
        (status = 422, description = "The template does not render with these variables", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn preview_template(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((id, locale)): Path<(String, String)>,
    crate::Bytes(body): crate::Bytes,
) -> Result<Json<PreviewView>, ApiError> {
    // None renders the sample notice as it is.
    let request: PreviewRequest = optional_json(&body)?;
    let settings = tenant_settings(&state, &tenant.0).await?;
    let rows = state.db.templates(&tenant.0).await?;
    let set = TemplateSet::from_rows(&rows, Limits::default()).map_err(template_error)?;
    let mut input = RenderInput::sample(&locale);
    input.sender = settings.name.clone();
    input.vars.extend(request.vars);
    if let Some(invoice) = request.invoice {
        with_invoice(&state, &tenant.0, &settings, &invoice, &mut input).await?;
    }
    let preview = set
        .preview(&id, &settings.delivery.default_locale, &input)
        .map_err(template_error)?;
    Ok(Json(PreviewView {
        id: preview.id,
        locale: preview.locale,
        tried: preview.tried,
        subject: preview.rendered.subject,
        text: preview.rendered.text,
        html: preview.rendered.html,
    }))
}

/// Sets the invoice, customer, other open invoices, payment link and day of `input` to the
/// tenant's `invoice` as it stands today (404 if the tenant has no such invoice).
async fn with_invoice(
    state: &AppState,
    tenant: &TenantId,
    settings: &TenantSettings,
    id: &str,
    input: &mut RenderInput,
) -> Result<(), ApiError> {
    let not_found = || ApiError::NotFound {
        what: "invoice",
        id: id.to_owned(),
    };
    let invoice = state.db.invoice(tenant, id).await?.ok_or_else(not_found)?;
    let customer = state
        .db
        .customer(tenant, &invoice.customer_id)
        .await?
        .ok_or_else(not_found)?;
    let others = state.db.open_invoices(tenant, &invoice.customer_id).await?;
    let zone: chrono_tz::Tz = customer
        .profile
        .time_zone
        .parse()
        .or_else(|_| settings.time_zone.parse())
        .unwrap_or(chrono_tz::UTC);
    input.as_of = chrono::Utc::now().with_timezone(&zone).date_naive();
    input.customer = CustomerInput {
        id: invoice.customer_id.clone(),
        name: customer
            .contact
            .get("name")
            .cloned()
            .unwrap_or_else(|| invoice.customer_id.clone()),
        email: customer.contact.get("email").cloned().unwrap_or_default(),
    };
    input.invoice = InvoiceInput::from(&invoice);
    input.other_invoices = others
        .iter()
        .filter(|i| i.id != invoice.id)
        .map(InvoiceInput::from)
        .collect();
    input.payment_link = payment_link(&settings.delivery, &invoice.id, &invoice.customer_id);
    Ok(())
}

/// A JSON body that may be left out, which means its defaults.
pub(crate) fn optional_json<T: Default + serde::de::DeserializeOwned>(
    body: &[u8],
) -> Result<T, ApiError> {
    if body.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad("invalid-body", truncate(&e.to_string(), 300)))
}

async fn tenant_settings(state: &AppState, tenant: &TenantId) -> Result<TenantSettings, ApiError> {
    // The key named this tenant a moment ago; a tenant deleted since answers as missing.
    match state.db.tenant(tenant).await? {
        Some(t) => Ok(t.settings),
        None => Err(ApiError::InvalidKey),
    }
}

/// The tenant's delivery settings (every key, defaults included).
#[utoipa::path(get, path = "/v1/delivery-settings", tag = "delivery",
    responses((status = 200, description = "The settings: sender-name, sender-address, reply-to, \
        default-locale, payment-link, consolidate, max-attempts, quiet-days", body = Object)),
    security(("tenant_key" = [])))]
pub(crate) async fn get_settings(
    State(state): State<AppState>,
    tenant: Tenant,
) -> Result<Json<DeliverySettings>, ApiError> {
    Ok(Json(tenant_settings(&state, &tenant.0).await?.delivery))
}

/// Replaces the tenant's delivery settings; a key left out takes its default. Checked key
/// by key as `dunlin tenant --delivery` checks them.
#[utoipa::path(put, path = "/v1/delivery-settings", tag = "delivery",
    request_body(content = Object, description = "sender-name, sender-address, reply-to, \
        default-locale, payment-link, consolidate, max-attempts, quiet-days"),
    responses(
        (status = 200, description = "The settings as stored", body = Object),
        (status = 400, description = "An unknown key, or a value refused (named as delivery.<key>)", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn put_settings(
    State(state): State<AppState>,
    tenant: Tenant,
    Json(delivery): Json<DeliverySettings>,
) -> Result<Json<DeliverySettings>, ApiError> {
    let mut settings = tenant_settings(&state, &tenant.0).await?;
    delivery
        .validate()
        .map_err(|e| ApiError::bad("invalid-settings", e.to_string()))?;
    settings.delivery = delivery;
    let stored = state.db.update_tenant(&tenant.0, &settings).await?;
    Ok(Json(stored.settings.delivery))
}
