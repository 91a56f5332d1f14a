//! Delivery over HTTP: templates, webhook endpoints, delivery settings, one action of the
//! outbox and its retries, and the public one-click unsubscribe endpoint.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use dunlin_api::DeliveryConfig;
use dunlin_core::Channel;
use dunlin_delivery::email::FileTransport;
use dunlin_delivery::outbox::worker::{Scope, Totals, UnsubscribeLinks, Worker, WorkerConfig};
use dunlin_delivery::unsubscribe::{
    UnsubscribeBase, UnsubscribeKey, UnsubscribeKeys, UnsubscribeToken,
};
use dunlin_store::outbox::OutboxQuery;

use crate::support::*;

dunlin_store::conformance!(
    templates_are_checked_stored_listed_previewed_and_deleted,
    webhook_endpoints_are_added_listed_rotated_and_removed_under_the_operators_policy,
    delivery_settings_are_read_replaced_and_checked_key_by_key,
    one_action_shows_its_attempts_and_a_dead_one_is_retried,
    an_emails_unsubscribe_link_posted_records_the_opt_out_and_blocks_the_next_notice,
    a_bad_or_foreign_unsubscribe_link_is_refused_without_detail,
);

/// The base the worker's links are made under: the API's own route.
const UNSUBSCRIBE_BASE: &str = "https://dunlin.example/v1/unsubscribe";

fn unsubscribe_keys() -> UnsubscribeKeys {
    UnsubscribeKeys::new(UnsubscribeKey::from_bytes(vec![7; 32]).unwrap())
}

/// The delivery configuration of the harness: the strict webhook policy and the test key.
pub fn config() -> DeliveryConfig {
    DeliveryConfig {
        webhook_policy: Default::default(),
        unsubscribe: Some(unsubscribe_keys()),
    }
}

const SUBJECT: &str = "Reminder: invoice {{ invoice.number }}";
const TEXT: &str =
    "Hello {{ customer.name }}, {{ invoice.amount }} is due. {{ vars.note | default('') }}";
const HTML: &str = "<p>Hello {{ customer.name }}</p>";

fn template_body() -> Value {
    json!({"subject": SUBJECT, "text": TEXT, "html": HTML})
}

async fn upload_reminder(api: &Api) {
    let (s, v) = api
        .call(
            Method::PUT,
            "/v1/templates/reminder/en",
            Some(&api.acme),
            Some(template_body()),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

async fn templates_are_checked_stored_listed_previewed_and_deleted(f: Fixture) {
    let api = Api::new(f).await;
    let path = "/v1/templates/reminder/en";
    upload_reminder(&api).await;
    let (s, v) = api.get(path, &api.acme).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["id"].as_str(), v["locale"].as_str()),
        (Some("reminder"), Some("en"))
    );
    assert_eq!(v["subject"], SUBJECT);
    assert!(v["updated-at"].is_string(), "{v}");

    // A part that does not parse: 422 with the part, line and reason; nothing stored.
    let broken = json!({"subject": SUBJECT, "text": "line one\n{% if %}", "html": HTML});
    let v = refused(
        &api,
        Method::PUT,
        "/v1/templates/broken/en",
        Some(broken),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-template",
    )
    .await;
    assert_eq!(v["error"]["details"]["part"], "text");
    assert_eq!(v["error"]["details"]["line"], 2);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("line 2"),
        "{v}"
    );
    // One that parses but does not render against the sample notice.
    let undefined = json!({"subject": "{{ nope.field }}", "text": TEXT, "html": HTML});
    let (s, v) = api
        .call(
            Method::PUT,
            "/v1/templates/broken/en",
            Some(&api.acme),
            Some(undefined),
        )
        .await;
    assert_eq!(
        (s, v["error"]["details"]["part"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("subject")),
        "{v}"
    );
    // A bad locale and a bad id are refused the same way; a body missing a part is a 400.
    for path in [
        "/v1/templates/reminder/not_a_locale!",
        "/v1/templates/Bad%20Id/en",
    ] {
        let (s, v) = api
            .call(Method::PUT, path, Some(&api.acme), Some(template_body()))
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid-template")),
            "{path}: {v}"
        );
    }
    refused(
        &api,
        Method::PUT,
        path,
        Some(json!({"subject": "x"})),
        StatusCode::BAD_REQUEST,
        "invalid-body",
    )
    .await;

    let (s, v) = api
        .call(Method::GET, "/v1/templates", Some(&api.acme), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v.as_array().unwrap().len(), 1, "only the good one: {v}");
    assert_eq!(v[0]["id"], "reminder");

    // A preview for a fi-FI customer falls back to the default locale, with the sample
    // notice and the vars given.
    let preview = "/v1/templates/reminder/fi-FI/preview";
    let (s, v) = api
        .call(
            Method::POST,
            preview,
            Some(&api.acme),
            Some(json!({"vars": {"note": "Kiitos!"}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["locale"], "en");
    assert_eq!(v["tried"], json!(["fi-FI", "fi", "en"]));
    assert_eq!(v["subject"], "Reminder: invoice INV-2026-0042");
    assert!(v["text"].as_str().unwrap().ends_with("Kiitos!"), "{v}");
    let (s, v) = api.call(Method::POST, preview, Some(&api.acme), None).await;
    assert_eq!(s, StatusCode::OK, "no body: the sample as it is: {v}");
    refused(
        &api,
        Method::POST,
        preview,
        Some(json!({"vars": 3})),
        StatusCode::BAD_REQUEST,
        "invalid-body",
    )
    .await;
    let (s, _) = api
        .call(
            Method::POST,
            "/v1/templates/nothing/en/preview",
            Some(&api.acme),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // With one of the tenant's invoices: its number, amount and customer as they stand.
    seed_invoice(&api).await;
    let with_i1 = Some(json!({"invoice": "i1"}));
    let (s, v) = api
        .call(Method::POST, preview, Some(&api.acme), with_i1.clone())
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["subject"], "Reminder: invoice i1");
    let text = v["text"].as_str().unwrap();
    assert!(text.starts_with("Hello c1, "), "{v}");
    assert!(text.contains("100"), "the invoice's EUR 100.00: {v}");
    let (s, v) = api
        .call(
            Method::POST,
            preview,
            Some(&api.acme),
            Some(json!({"invoice": "nope"})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("invoice"));
    // Beta, with a template of its own, cannot render acme's invoice.
    let (s, _) = api
        .call(Method::PUT, path, Some(&api.beta), Some(template_body()))
        .await;
    assert!(s.is_success());
    let (s, v) = api
        .call(Method::POST, preview, Some(&api.beta), with_i1)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert!(!v.to_string().contains("Hello"), "{v}");
    let (s, _) = api.call(Method::DELETE, path, Some(&api.beta), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    // Another tenant sees none of it.
    let (s, v) = api
        .call(Method::GET, "/v1/templates", Some(&api.beta), None)
        .await;
    assert_eq!((s, v), (StatusCode::OK, json!([])));
    for (method, p) in [
        (Method::GET, path),
        (Method::DELETE, path),
        (Method::POST, "/v1/templates/reminder/en/preview"),
    ] {
        let (s, v) = api.call(method.clone(), p, Some(&api.beta), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{method} {p}: {v}");
        assert!(!v.to_string().contains("Reminder:"), "{v}");
    }

    let (s, _) = api.call(Method::DELETE, path, Some(&api.acme), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = api.call(Method::DELETE, path, Some(&api.acme), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    api.refuses_without_a_valid_key(Method::GET, "/v1/templates", None)
        .await;
    api.refuses_without_a_valid_key(Method::PUT, path, Some(template_body()))
        .await;
    api.refuses_without_a_valid_key(Method::GET, path, None)
        .await;
    api.refuses_without_a_valid_key(Method::DELETE, path, None)
        .await;
    api.refuses_without_a_valid_key(Method::POST, preview, None)
        .await;
}

async fn webhook_endpoints_are_added_listed_rotated_and_removed_under_the_operators_policy(
    f: Fixture,
) {
    let mut api = Api::new(f).await;
    let path = "/v1/webhook-endpoints";
    let add = |body: Value| (Method::POST, path, body);
    let (m, p, b) = add(json!({"id": "erp", "url": "https://erp.example.com/hooks",
        "events": ["invoice.escalated", "invoice.escalated"]}));
    let (s, v) = api.call(m, p, Some(&api.acme), Some(b)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let secret = v["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{v}");
    assert_eq!(v["events"], json!(["invoice.escalated"]));

    // Refused: plain http, a private address, an unknown event, a taken id.
    for (body, code) in [
        (
            json!({"url": "http://erp.example.com/hooks"}),
            "invalid-endpoint",
        ),
        (json!({"url": "https://10.1.2.3/hooks"}), "invalid-endpoint"),
        (
            json!({"url": "https://erp.example.com/", "events": ["nope"]}),
            "invalid-endpoint",
        ),
        (
            json!({"id": "erp", "url": "https://erp.example.com/"}),
            "endpoint-exists",
        ),
        (
            json!({"url": "https://erp.example.com/", "secret": "whsec_mine"}),
            "invalid-body",
        ),
    ] {
        let (s, v) = api
            .call(Method::POST, path, Some(&api.acme), Some(body.clone()))
            .await;
        assert!(s.is_client_error(), "{body}: {s} {v}");
        assert_eq!(v["error"]["code"], code, "{body}: {v}");
    }
    let (s, v) = api
        .call(
            Method::POST,
            path,
            Some(&api.acme),
            Some(json!({"url": "http://erp.example.com/"})),
        )
        .await;
    assert!(
        v["error"]["message"].as_str().unwrap().contains("https"),
        "the reason is given: {v}"
    );
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // The operator's policy allows what it allows.
    api.state.delivery.webhook_policy.allow_http = true;
    let (s, v) = api
        .call(
            Method::POST,
            path,
            Some(&api.acme),
            Some(json!({"url": "http://erp.example.com/"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert!(v["id"].as_str().unwrap().starts_with("ep-"), "{v}");

    let (s, v) = api.get(path, &api.acme).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v.as_array().unwrap().len(), 2, "{v}");
    assert!(
        !v.to_string().contains("whsec"),
        "a list never shows a secret: {v}"
    );

    let rotate = "/v1/webhook-endpoints/erp/rotate-secret";
    let (s, v) = api
        .call(
            Method::POST,
            rotate,
            Some(&api.acme),
            Some(json!({"overlap-hours": 2})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let rotated = v["secret"].as_str().unwrap();
    assert!(rotated.starts_with("whsec_") && rotated != secret, "{v}");
    assert!(v["previous-secret-until"].is_string(), "{v}");
    refused(
        &api,
        Method::POST,
        rotate,
        Some(json!({"overlap-hours": 10_000})),
        StatusCode::BAD_REQUEST,
        "invalid-body",
    )
    .await;

    // Another tenant: an empty list, and acme's endpoint is not found.
    let (s, v) = api.get(path, &api.beta).await;
    assert_eq!((s, v), (StatusCode::OK, json!([])));
    for (method, p) in [
        (Method::POST, rotate),
        (Method::DELETE, "/v1/webhook-endpoints/erp"),
    ] {
        let (s, v) = api.call(method, p, Some(&api.beta), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{p}: {v}");
        assert!(!v.to_string().contains("erp.example.com"), "{v}");
    }

    let (s, _) = api
        .call(
            Method::DELETE,
            "/v1/webhook-endpoints/erp",
            Some(&api.acme),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = api
        .call(
            Method::DELETE,
            "/v1/webhook-endpoints/erp",
            Some(&api.acme),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api.call(Method::POST, rotate, Some(&api.acme), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    api.refuses_without_a_valid_key(Method::GET, path, None)
        .await;
    api.refuses_without_a_valid_key(
        Method::POST,
        path,
        Some(json!({"url": "https://a.example/"})),
    )
    .await;
    api.refuses_without_a_valid_key(Method::DELETE, "/v1/webhook-endpoints/erp", None)
        .await;
    api.refuses_without_a_valid_key(Method::POST, rotate, None)
        .await;
}

async fn delivery_settings_are_read_replaced_and_checked_key_by_key(f: Fixture) {
    let api = Api::new(f).await;
    let path = "/v1/delivery-settings";
    let (s, v) = api.get(path, &api.acme).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["default-locale"].as_str(), v["max-attempts"].as_u64()),
        (Some("en"), Some(8))
    );

    let settings = json!({"sender-name": "Acme Billing", "sender-address": "billing@acme.example",
        "reply-to": "ar@acme.example", "default-locale": "fi-FI",
        "payment-link": "https://pay.acme.example/{customer}/{invoice}", "consolidate": false,
        "max-attempts": 3, "quiet-days": ["sat", "sun"]});
    let (s, v) = api
        .call(Method::PUT, path, Some(&api.acme), Some(settings.clone()))
        .await;
    assert_eq!((s, &v), (StatusCode::OK, &settings));
    let (_, v) = api.get(path, &api.acme).await;
    assert_eq!(v, settings);
    // A key left out takes its default.
    let (s, v) = api
        .call(
            Method::PUT,
            path,
            Some(&api.acme),
            Some(json!({"sender-name": "Acme"})),
        )
        .await;
    assert_eq!(
        (s, v["max-attempts"].as_u64(), v["sender-address"].as_str()),
        (StatusCode::OK, Some(8), Some(""))
    );

    for (body, code, names) in [
        (
            json!({"sender-address": "not an address"}),
            "invalid-settings",
            "delivery.sender-address",
        ),
        (
            json!({"max-attempts": 0}),
            "invalid-settings",
            "delivery.max-attempts",
        ),
        (
            json!({"quiet-days": ["mon", "mon"]}),
            "invalid-settings",
            "delivery.quiet-days",
        ),
        (
            json!({"payment-link": "http://pay.example.com/{x}"}),
            "invalid-settings",
            "delivery.payment-link",
        ),
        (json!({"colour": "red"}), "invalid-body", "colour"),
    ] {
        let v = refused(
            &api,
            Method::PUT,
            path,
            Some(body.clone()),
            StatusCode::BAD_REQUEST,
            code,
        )
        .await;
        assert!(
            v["error"]["message"].as_str().unwrap().contains(names),
            "{body}: {v}"
        );
    }
    let (_, v) = api.get(path, &api.acme).await;
    assert_eq!(v["sender-name"], "Acme", "a refused PUT changes nothing");
    // Another tenant's settings are its own.
    let (_, v) = api.get(path, &api.beta).await;
    assert_eq!(v["sender-name"], "", "{v}");

    api.refuses_without_a_valid_key(Method::GET, path, None)
        .await;
    api.refuses_without_a_valid_key(Method::PUT, path, Some(json!({})))
        .await;
}

/// Sends the request with acme's key and expects the error `code` with `status`.
async fn refused(
    api: &Api,
    method: Method,
    path: &str,
    body: Option<Value>,
    status: StatusCode,
    code: &str,
) -> Value {
    let (s, v) = api.call(method.clone(), path, Some(&api.acme), body).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (status, Some(code)),
        "{method} {path}: {v}"
    );
    v
}

/// Runs the outbox worker over acme's due actions at `now`, emails into `mail`.
async fn deliver(api: &Api, mail: &std::path::Path, now: DateTime<Utc>) -> Totals {
    let mut config = WorkerConfig::new("test-worker", "dunning@localhost");
    config.unsubscribe = Some(UnsubscribeLinks {
        keys: unsubscribe_keys(),
        base: UnsubscribeBase::parse(UNSUBSCRIBE_BASE).unwrap(),
        // The worker's clock is in 2026; the API verifies against the real one.
        valid_for: Duration::days(3650),
    });
    let clock = Arc::new(dunlin_scheduler::ManualClock::new(now));
    let worker = Worker::new(api.f.db.clone(), FileTransport::new(mail), clock, config).unwrap();
    let acme = TenantId::new("acme").unwrap();
    Arc::new(worker)
        .run(Scope::One(acme), true, Default::default())
        .await
        .unwrap()
}

fn at_noon(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 2, day, 12, 0, 0).unwrap()
}

async fn one_action_shows_its_attempts_and_a_dead_one_is_retried(f: Fixture) {
    let api = Api::new(f).await;
    seed_decision(&api).await;
    let (_, v) = api
        .call(Method::GET, "/v1/outbox", Some(&api.acme), None)
        .await;
    let id = v["items"][0]["id"].as_i64().unwrap();
    let path = format!("/v1/outbox/{id}");
    let (s, v) = api.get(&path, &api.acme).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["id"].as_i64(), v["status"].as_str()),
        (Some(id), Some("pending"))
    );
    assert_eq!(v["delivery-attempts"], json!([]));
    let retry = format!("{path}/retry");
    refused(
        &api,
        Method::POST,
        &retry,
        None,
        StatusCode::CONFLICT,
        "not-retryable",
    )
    .await;

    // One attempt allowed and a mail folder that is missing: the send fails for now, and
    // with no attempt left the action is dead.
    upload_reminder(&api).await;
    let (s, _) = api
        .call(
            Method::PUT,
            "/v1/delivery-settings",
            Some(&api.acme),
            Some(json!({"max-attempts": 1})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let mail = tempfile::tempdir().unwrap();
    let missing = mail.path().join("missing");
    let totals = deliver(&api, &missing, at_noon(10)).await;
    assert_eq!(totals.dead, 1, "{totals:?}");
    let (_, v) = api.get(&path, &api.acme).await;
    assert_eq!(
        (v["status"].as_str(), v["attempts"].as_u64()),
        (Some("dead"), Some(1)),
        "{v}"
    );
    assert!(
        v["last-error"].as_str().unwrap().contains("cannot write"),
        "{v}"
    );
    let attempts = v["delivery-attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{v}");
    assert_eq!(attempts[0]["attempt"], 1, "{v}");

    // Another tenant cannot see or retry it, and learns nothing of it.
    for (method, p) in [(Method::GET, path.as_str()), (Method::POST, retry.as_str())] {
        let (s, v) = api.call(method.clone(), p, Some(&api.beta), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{method} {p}: {v}");
        assert!(
            !v.to_string().contains("i1") && !v.to_string().contains("c1"),
            "{v}"
        );
    }
    let (s, v) = api
        .call(Method::POST, "/v1/outbox:retry-dead", Some(&api.beta), None)
        .await;
    assert_eq!((s, v["requeued"].as_u64()), (StatusCode::OK, Some(0)));

    let (s, v) = api.call(Method::POST, &retry, Some(&api.acme), None).await;
    assert_eq!(
        (s, v["requeued"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{v}"
    );
    let (_, v) = api.get(&path, &api.acme).await;
    assert_eq!(
        (v["status"].as_str(), v["attempts"].as_u64()),
        (Some("pending"), Some(0)),
        "{v}"
    );
    // Dead again, then every dead action at once.
    deliver(&api, &missing, at_noon(10)).await;
    let (s, v) = api
        .call(Method::POST, "/v1/outbox:retry-dead", Some(&api.acme), None)
        .await;
    assert_eq!(
        (s, v["requeued"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{v}"
    );

    for bad in ["/v1/outbox/abc", "/v1/outbox/abc/retry"] {
        let method = if bad.ends_with("retry") {
            Method::POST
        } else {
            Method::GET
        };
        refused(
            &api,
            method,
            bad,
            None,
            StatusCode::BAD_REQUEST,
            "invalid-path",
        )
        .await;
    }
    let (s, _) = api
        .call(Method::GET, "/v1/outbox/999999", Some(&api.acme), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    api.refuses_without_a_valid_key(Method::GET, &path, None)
        .await;
    api.refuses_without_a_valid_key(Method::POST, &retry, None)
        .await;
    api.refuses_without_a_valid_key(Method::POST, "/v1/outbox:retry-dead", None)
        .await;
}

/// The link in the one email in `mail`.
fn unsubscribe_link(mail: &std::path::Path) -> String {
    let files: Vec<_> = std::fs::read_dir(mail)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let raw = std::fs::read(&files[0]).unwrap();
    let message = mail_parser::MessageParser::default().parse(&raw).unwrap();
    let header = message
        .header_raw("List-Unsubscribe")
        .expect("a List-Unsubscribe header");
    let link: String = header.split_whitespace().collect();
    link.trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned()
}

fn form(method: Method, path: &str, content_type: &str, body: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type)
        .body(Body::from(body.to_owned()))
        .unwrap()
}

async fn opted_out(api: &Api, tenant: &str, customer: &str) -> Vec<Channel> {
    let tenant = TenantId::new(tenant).unwrap();
    api.f
        .db
        .customer(&tenant, customer)
        .await
        .unwrap()
        .unwrap()
        .profile
        .opted_out
}

async fn an_emails_unsubscribe_link_posted_records_the_opt_out_and_blocks_the_next_notice(
    f: Fixture,
) {
    let api = Api::new(f).await;
    upload_reminder(&api).await;
    seed_decision(&api).await;
    let mail = tempfile::tempdir().unwrap();
    let totals = deliver(&api, mail.path(), at_noon(10)).await;
    assert_eq!(totals.delivered, 1, "{totals:?}");
    let link = unsubscribe_link(mail.path());
    let path = link
        .strip_prefix("https://dunlin.example")
        .unwrap_or_else(|| panic!("the link is under the configured base: {link}"))
        .to_owned();

    // GET shows the confirmation and changes nothing: scanners follow links.
    let get = Request::builder().uri(&path).body(Body::empty()).unwrap();
    let (s, page) = api.raw(get).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert!(page.contains(r#"<form method="post">"#), "{page}");
    assert!(
        page.contains(r#"name="List-Unsubscribe" value="One-Click""#),
        "{page}"
    );
    assert!(opted_out(&api, "acme", "c1").await.is_empty());
    // A POST that is not the one-click request changes nothing either.
    let (s, _) = api
        .raw(form(
            Method::POST,
            &path,
            "application/x-www-form-urlencoded",
            "List-Unsubscribe=Later",
        ))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(opted_out(&api, "acme", "c1").await.is_empty());

    // The one-click POST, as multipart (RFC 8058's SHOULD), then again form-urlencoded.
    let multipart = "--XyZ\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--XyZ--\r\n";
    let (s, page) = api
        .raw(form(
            Method::POST,
            &path,
            "multipart/form-data; boundary=XyZ",
            multipart,
        ))
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert!(page.contains("unsubscribed"), "{page}");
    assert_eq!(opted_out(&api, "acme", "c1").await, [Channel::Email]);
    let (s, _) = api
        .raw(form(
            Method::POST,
            &path,
            "application/x-www-form-urlencoded",
            "List-Unsubscribe=One-Click",
        ))
        .await;
    assert_eq!(s, StatusCode::OK, "a second POST is harmless");
    assert_eq!(opted_out(&api, "acme", "c1").await, [Channel::Email]);

    // The next notice to that customer is blocked at send time.
    let (s, v) = api
        .call(
            Method::PUT,
            "/v1/invoices/i2",
            Some(&api.acme),
            Some(invoice_row("i2", "c1")),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    record_notice(&api, "2026-02-11").await;
    let totals = deliver(&api, mail.path(), at_noon(11)).await;
    assert_eq!((totals.delivered, totals.blocked), (0, 1), "{totals:?}");
    let acme = TenantId::new("acme").unwrap();
    let query = OutboxQuery {
        invoice: Some("i2".into()),
        ..OutboxQuery::default()
    };
    let entries = api.f.db.outbox(&acme, &query).await.unwrap();
    assert_eq!(entries[0].status, ActionStatus::Blocked);
    assert!(
        entries[0]
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("opted out"),
        "{:?}",
        entries[0]
    );
}

async fn a_bad_or_foreign_unsubscribe_link_is_refused_without_detail(f: Fixture) {
    let mut api = Api::new(f).await;
    for (tenant, key) in [("acme", api.acme.clone()), ("beta", api.beta.clone())] {
        let (s, v) = api
            .call(
                Method::PUT,
                "/v1/customers/c1",
                Some(&key),
                Some(customer_row("c1")),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{tenant}: {v}");
    }
    let acme = TenantId::new("acme").unwrap();
    let mut settings = api.f.db.tenant(&acme).await.unwrap().unwrap().settings;
    settings.name = "<script>alert(1)</script> & Co".into();
    api.f.db.update_tenant(&acme, &settings).await.unwrap();

    let expires = Utc::now() + Duration::days(1);
    let token = UnsubscribeToken::new("acme", "c1", Channel::Email, expires).unwrap();
    let good = unsubscribe_keys().sign(&token);
    let post = |token: &str| {
        form(
            Method::POST,
            &format!("/v1/unsubscribe/{token}"),
            "application/x-www-form-urlencoded",
            "List-Unsubscribe=One-Click",
        )
    };

    // The page escapes the tenant's name.
    let (s, page) = api
        .raw(
            Request::builder()
                .uri(format!("/v1/unsubscribe/{good}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt; &amp; Co"),
        "{page}"
    );
    assert!(!page.contains("<script>"), "{page}");

    let other_key = UnsubscribeKeys::new(UnsubscribeKey::from_bytes(vec![9; 32]).unwrap());
    let mut tampered = good.clone().into_bytes();
    let at = good.find('.').unwrap() + 3;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let expired = unsubscribe_keys().sign(
        &UnsubscribeToken::new(
            "acme",
            "c1",
            Channel::Email,
            Utc::now() - Duration::seconds(1),
        )
        .unwrap(),
    );
    let unknown_tenant = unsubscribe_keys()
        .sign(&UnsubscribeToken::new("nobody", "c1", Channel::Email, expires).unwrap());
    for token in [
        other_key.sign(&token),
        tampered,
        expired,
        unknown_tenant,
        "v1.x.y".into(),
        "x".repeat(3000),
    ] {
        let (s, page) = api.raw(post(&token)).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{page}");
        assert!(page.contains("no longer works"), "{page}");
        for detail in ["signature", "expired", "malformed", "acme", "c1"] {
            assert!(!page.to_lowercase().contains(detail), "{detail} in {page}");
        }
    }
    assert!(opted_out(&api, "acme", "c1").await.is_empty());

    // A good link opts out its own tenant's customer, never another's of the same id.
    let (s, _) = api.raw(post(&good)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(opted_out(&api, "acme", "c1").await, [Channel::Email]);
    assert!(opted_out(&api, "beta", "c1").await.is_empty());

    // Without the operator's key no link is honoured.
    api.state.delivery.unsubscribe = None;
    let (s, _) = api.raw(post(&good)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
