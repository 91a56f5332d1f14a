//! The routes and their OpenAPI 3.1 document, from one source: each handler's
//! `#[utoipa::path]` annotation both registers the route (utoipa-axum's `routes!`) and
//! documents it, with the wire types' schemas derived from the types themselves. The ledger's
//! row schemas are built from `dunlin_import::schema`, the field lists the import checks rows
//! against.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use dunlin_import::schema::Schema as RowSchema;
use dunlin_import::Kind;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, RefOr, Schema};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::{
    actions, admin, backtest, decisions, delivery, endpoints, health, ledger, outbox, outcomes,
    policies, replays, replicas, sweeps, telemetry, trials, unsubscribe, AppState,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Dunlin tenant API",
        description = "Each tenant's own door to Dunlin: its ledger, its decision log and its outbox. \
                       Authenticate with `Authorization: Bearer <key>`."
    ),
    components(schemas(crate::ErrorBody, crate::page::Page<decisions::DecisionView>, crate::page::Page<policies::PolicyView>, crate::page::Page<sweeps::SweepView>)),
    modifiers(&Security, &Rows)
)]
struct ApiDoc;

/// Every route, registered with its documentation.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(openapi_json))
        .routes(routes!(ledger::put_customer))
        .routes(routes!(ledger::batch_customers))
        .routes(routes!(ledger::put_invoice))
        .routes(routes!(ledger::batch_invoices))
        .routes(routes!(ledger::batch_payments))
        .routes(routes!(ledger::put_payment))
        .routes(routes!(ledger::put_dispute))
        .routes(routes!(ledger::batch_disputes))
        .routes(routes!(ledger::put_plan))
        .routes(routes!(ledger::batch_plans))
        .routes(routes!(decisions::list))
        .routes(routes!(decisions::explain))
        .routes(routes!(outbox::list))
        .routes(routes!(outcomes::report))
        .routes(routes!(actions::list))
        .routes(routes!(admin::list_keys, admin::create_key))
        .routes(routes!(admin::revoke_key))
        .routes(routes!(delivery::list_templates))
        .routes(routes!(
            delivery::put_template,
            delivery::get_template,
            delivery::delete_template
        ))
        .routes(routes!(delivery::preview_template))
        .routes(routes!(delivery::get_settings, delivery::put_settings))
        .routes(routes!(endpoints::list, endpoints::add))
        .routes(routes!(endpoints::remove))
        .routes(routes!(endpoints::rotate))
        .routes(routes!(outbox::get))
        .routes(routes!(outbox::retry))
        .routes(routes!(outbox::retry_dead))
        .routes(routes!(unsubscribe::confirm, unsubscribe::unsubscribe))
        .routes(routes!(policies::list))
        .routes(routes!(policies::get, policies::delete))
        .routes(routes!(policies::activate))
        .routes(routes!(policies::rollback))
        .routes(routes!(backtest::run))
        .routes(routes!(policies::get_settings, policies::put_settings))
        .routes(routes!(trials::shadow_on, trials::shadow_off))
        .routes(routes!(trials::shadow_report))
        .routes(routes!(trials::canary))
        .routes(routes!(trials::promote))
        .routes(routes!(trials::abort))
        .routes(routes!(trials::canary_report))
        .routes(routes!(sweeps::start, sweeps::list))
        .routes(routes!(sweeps::get))
        .routes(routes!(replays::start))
        .routes(routes!(admin::list_tenants, admin::create_tenant))
        .routes(routes!(admin::show_tenant))
        .routes(routes!(admin::limits))
        .routes(routes!(admin::health))
        .routes(routes!(replicas::replicas))
        .routes(routes!(telemetry::metrics))
}

/// The routes whose bodies are policy components, under their own larger body cap.
pub(crate) fn upload_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(policies::upload))
}

/// The document, built once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    document()
        .to_pretty_json()
        .expect("the OpenAPI document serialises")
});

/// The OpenAPI document of every route.
pub fn document() -> Document {
    routes().merge(upload_routes()).into_openapi()
}

/// This document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
pub(crate) async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
}

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        for (name, what) in [
            (
                "tenant_key",
                "A tenant's API key (`dunlin tenant key create`)",
            ),
            (
                "operator_key",
                "The operator's key (DUNLIN_OPERATOR_KEY or DUNLIN_OPERATOR_KEY_FILE)",
            ),
        ] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(what))
                        .build(),
                ),
            );
        }
    }
}

struct Rows;

impl Modify for Rows {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        for (name, kind) in [
            ("CustomerRow", Kind::Customers),
            ("InvoiceRow", Kind::Invoices),
            ("PaymentRow", Kind::Payments),
            ("DisputeRow", Kind::Disputes),
            ("PlanRow", Kind::Plans),
        ] {
            components
                .schemas
                .insert(name.to_owned(), RefOr::T(row_schema(RowSchema::of(kind))));
        }
    }
}

/// A row's schema: its fields, the required ones marked, free-form `prefix.<key>` fields
/// allowed where the kind takes them. Field values are described in docs/import.md.
fn row_schema(schema: &RowSchema) -> Schema {
    let mut object = ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Object))
        .description(Some(format!(
            "A {} row in the import format (docs/import.md): kebab-case fields, amounts in \
             minor units with an ISO 4217 `currency`, dates YYYY-MM-DD{}.",
            schema.kind,
            schema
                .prefix
                .map(|p| format!(", free-form `{p}<key>` fields"))
                .unwrap_or_default()
        )));
    for field in schema.fields {
        object = object.property(
            field.name,
            ObjectBuilder::new().schema_type(SchemaType::AnyValue),
        );
        if field.required {
            object = object.required(field.name);
        }
    }
    let object = object.additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(
        schema.prefix.is_some(),
    )));
    Schema::Object(object.build())
}
