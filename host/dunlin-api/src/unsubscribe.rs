//! The one-click unsubscribe endpoint (RFC 8058) that the signed links in emails point to:
//! public, no API key, the signed token its only credential.
//!
//! `POST /v1/unsubscribe/{token}` with `List-Unsubscribe=One-Click` (form-urlencoded or
//! multipart) records the opt-out of the token's customer from its channel and answers 200;
//! `GET` only shows a page with a button that sends that POST, since mail scanners and link
//! previews fetch every link in a message. A token that fails verification (tampered, badly
//! signed, expired, unknown version) answers 404 with a page that gives no reason; the reason
//! goes to the log. Verification is `dunlin_delivery::unsubscribe`'s, where links are signed.

use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;
use dunlin_core::text::{truncate, Escaped};
use dunlin_delivery::unsubscribe::{form_is_one_click, is_one_click, UnsubscribeToken};
use dunlin_store::TenantId;
use minijinja::{context, Environment};

use axum::extract::Path;

use crate::{ApiError, AppState};

/// The most multipart fields looked at for the one-click field.
const MAX_FIELDS: usize = 16;

/// The pages, auto-escaped as HTML (the `.html` names turn it on): the tenant's name is
/// tenant text.
const PAGES: &[(&str, &str)] = &[
    (
        "confirm.html",
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Unsubscribe</title></head>
<body>
<h1>Stop {{ channel }} reminders from {{ sender }}?</h1>
<p>You will no longer receive payment reminders by {{ channel }} from {{ sender }}.</p>
<form method="post">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button>
</form>
</body></html>
"#,
    ),
    (
        "done.html",
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<title>Unsubscribed</title></head>
<body>
<h1>You are unsubscribed</h1>
<p>{{ sender }} will no longer send you payment reminders by {{ channel }}.</p>
</body></html>
"#,
    ),
    (
        "gone.html",
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<title>Link not valid</title></head>
<body>
<h1>This link no longer works</h1>
<p>To stop these reminders, reply to the message or contact the sender.</p>
</body></html>
"#,
    ),
    (
        "bad-request.html",
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<title>Unsubscribe</title></head>
<body>
<h1>Nothing was changed</h1>
<p>This request did not ask to unsubscribe. Open the link from the message and press the button.</p>
</body></html>
"#,
    ),
];

fn page(name: &str, status: StatusCode, ctx: minijinja::Value) -> Response {
    let mut env = Environment::new();
    for (page, source) in PAGES {
        env.add_template(page, source)
            .expect("the built-in pages parse");
    }
    let body = env
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .expect("the built-in pages render with their context");
    let mut response = (status, Html(body)).into_response();
    // Nothing here is to be kept: the page names a customer's sender and the link is a
    // credential.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

fn gone() -> Response {
    page("gone.html", StatusCode::NOT_FOUND, context! {})
}

/// The token's tenant and the name its emails go out under, when the token verifies and
/// the tenant exists; otherwise the answer to give.
async fn verified(
    state: &AppState,
    token: &str,
) -> Result<(UnsubscribeToken, TenantId, String), Response> {
    let Some(keys) = &state.delivery.unsubscribe else {
        tracing::info!("an unsubscribe link arrived, but no unsubscribe key is configured");
        return Err(gone());
    };
    let token = match keys.verify(token, Utc::now()) {
        Ok(token) => token,
        Err(err) => {
            tracing::info!(error = %Escaped(&truncate(&err.to_string(), 300)), "an unsubscribe link was refused");
            return Err(gone());
        }
    };
    let Ok(tenant) = TenantId::new(token.tenant()) else {
        tracing::warn!(tenant = %Escaped(&truncate(token.tenant(), 64)), "a signed unsubscribe link names no valid tenant id");
        return Err(gone());
    };
    let settings = match state.db.tenant(&tenant).await {
        Ok(Some(t)) => t.settings,
        Ok(None) => return Err(gone()),
        Err(e) => return Err(ApiError::from(e).into_response()),
    };
    let sender = if settings.delivery.sender_name.is_empty() {
        settings.name
    } else {
        settings.delivery.sender_name
    };
    Ok((token, tenant, sender))
}

/// The page that asks a customer to confirm; it never unsubscribes.
#[utoipa::path(get, path = "/v1/unsubscribe/{token}", tag = "unsubscribe",
    params(("token" = String, Path, description = "The signed token from the email's link")),
    responses(
        (status = 200, description = "An HTML page with a button that sends the one-click POST", content_type = "text/html"),
        (status = 404, description = "A link that is not valid (no reason given)", content_type = "text/html")))]
pub(crate) async fn confirm(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match verified(&state, &token).await {
        Ok((token, _, sender)) => page(
            "confirm.html",
            StatusCode::OK,
            context! { sender, channel => token.channel().as_str() },
        ),
        Err(response) => response,
    }
}

/// Whether the request's body is the one-click request, form-urlencoded or multipart.
async fn asks_one_click(state: &AppState, request: Request) -> bool {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        let Ok(mut form) = Multipart::from_request(request, state).await else {
            return false;
        };
        for _ in 0..MAX_FIELDS {
            let Ok(Some(field)) = form.next_field().await else {
                return false;
            };
            let name = field.name().unwrap_or_default().to_owned();
            if let Ok(value) = field.text().await {
                if is_one_click(&name, &value) {
                    return true;
                }
            }
        }
        return false;
    }
    match axum::body::Bytes::from_request(request, state).await {
        Ok(body) => form_is_one_click(&body),
        Err(_) => false,
    }
}

/// The one-click unsubscribe: records that the customer opted out of the link's channel.
/// Repeating it changes nothing.
#[utoipa::path(post, path = "/v1/unsubscribe/{token}", tag = "unsubscribe",
    params(("token" = String, Path, description = "The signed token from the email's link")),
    request_body(content = String, description = "List-Unsubscribe=One-Click", content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Unsubscribed", content_type = "text/html"),
        (status = 400, description = "The body is not List-Unsubscribe=One-Click", content_type = "text/html"),
        (status = 404, description = "A link that is not valid (no reason given)", content_type = "text/html")))]
pub(crate) async fn unsubscribe(
    State(state): State<AppState>,
    Path(token): Path<String>,
    request: Request,
) -> Response {
    let (token, tenant, sender) = match verified(&state, &token).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if !asks_one_click(&state, request).await {
        return page("bad-request.html", StatusCode::BAD_REQUEST, context! {});
    }
    match state
        .db
        .opt_out(&tenant, token.customer(), token.channel())
        .await
    {
        Ok(true) => {
            tracing::info!(tenant_id = %tenant, customer = %Escaped(token.customer()), channel = token.channel().as_str(), "a customer unsubscribed");
            page(
                "done.html",
                StatusCode::OK,
                context! { sender, channel => token.channel().as_str() },
            )
        }
        Ok(false) => gone(),
        Err(e) => ApiError::from(e).into_response(),
    }
}
