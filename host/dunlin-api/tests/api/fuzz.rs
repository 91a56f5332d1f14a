//! Thousands of random and malformed requests with two tenants' keys: every route of the
//! OpenAPI document (so a new route is fuzzed the day it is documented) and some that do not
//! exist, with ids of either tenant and garbage in the path, random query strings, headers and
//! bodies (random bytes, truncated and mistyped JSON, deeply nested and oversized bodies,
//! wrong content types). No answer may be a 5xx, no handler may panic, and no answer to one
//! tenant may hold a marker that only the other tenant's objects carry.
//!
//! `DUNLIN_FUZZ_SEED` and `DUNLIN_FUZZ_REQUESTS` (default 3000) replay or widen a run; a failure
//! prints the seed and the request.

use dunlin_api::router;
use http_body_util::BodyExt as _;
use rand::rngs::SmallRng;
use rand::{RngExt as _, SeedableRng as _};
use tower::ServiceExt as _;

use crate::support::*;

dunlin_store::conformance!(malformed_requests_get_no_5xx_and_never_the_other_tenants_data);

/// Text only each tenant's own objects carry (names, emails, invoice numbers, decision
/// reasons); the fuzzer never sends either, so an answer holding one leaked it.
const SECRET: [(&str, &str); 2] = [("acme", "acmesecret"), ("beta", "betasecret")];

/// Ids both tenants use, and ids only one has, so paths name objects of the caller, of the
/// other tenant and of nobody.
const IDS: &[&str] = &[
    "c1", "i1", "a-c", "a-i", "b-c", "b-i", "1", "2", "0", "nobody",
];

async fn malformed_requests_get_no_5xx_and_never_the_other_tenants_data(f: Fixture) {
    let api = Api::new(f).await;
    for (tenant, secret) in SECRET {
        let own = &tenant[..1];
        for (c, i) in [("c1", "i1"), (&*format!("{own}-c"), &*format!("{own}-i"))] {
            let mut customer = customer_row(c);
            customer["name"] = json!(format!("{secret} customer"));
            customer["email"] = json!(format!("{secret}@example.com"));
            let mut invoice = invoice_row(i, c);
            invoice["number"] = json!(format!("{secret}-{i}"));
            seed_decision_for(&api, tenant, customer, invoice, &format!("{secret} reason")).await;
        }
    }
    // One router for the whole run, as a server holds one.
    let router = router(api.state.clone());
    let (_, doc) = api.call(Method::GET, "/v1/openapi.json", None, None).await;
    let mut operations: Vec<(Method, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations.push((method.to_uppercase().parse().unwrap(), path.clone()));
        }
    }
    assert!(operations.len() > 10, "{operations:?}");
    operations.push((Method::GET, "/v1/customers".into()));
    operations.push((Method::PATCH, "/v1/invoices/{id}".into()));

    let seed: u64 = std::env::var("DUNLIN_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x0d11_11f5);
    let count: usize = std::env::var("DUNLIN_FUZZ_REQUESTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for n in 0..count {
        let caller = rng.random_range(0..2);
        let key = if caller == 0 { &api.acme } else { &api.beta };
        let other_secret = SECRET[1 - caller].1;
        let (method, template) = &operations[rng.random_range(0..operations.len())];
        let method = if rng.random_bool(0.1) {
            [
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::DELETE,
                Method::PATCH,
            ][rng.random_range(0..5)]
            .clone()
        } else {
            method.clone()
        };
        let uri = fill_path(&mut rng, template) + &query(&mut rng);
        let mut request = Request::builder().method(method.clone()).uri(&uri);
        request = match rng.random_range(0..20) {
            0 => request,
            1 => request.header("authorization", "Bearer "),
            2 => request.header("authorization", format!("bearer {key}")),
            3 => request.header("authorization", format!("Bearer {key}x")),
            4 => request.header("authorization", OPERATOR),
            _ => request.header("authorization", format!("Bearer {key}")),
        };
        let (content_type, body) = body(&mut rng);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        if rng.random_bool(0.05) {
            request = request.header("idempotency-key", garbage(&mut rng, 80));
        }
        let shown_body = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        let request = match request.body(Body::from(body)) {
            Ok(request) => request,
            // A header value the http crate itself refuses never reaches a server.
            Err(_) => continue,
        };
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).to_lowercase();
        let shown = &text[..text.floor_char_boundary(2000)];
        let shown_uri = &uri[..uri.floor_char_boundary(300)];
        let what = || format!("seed {seed}, request {n}: {method} {shown_uri} body {shown_body:?}");
        assert!(!status.is_server_error(), "{}: {status} {shown}", what());
        assert!(
            !text.contains(other_secret),
            "{}: the answer holds the other tenant's data: {shown}",
            what()
        );
        // The unsubscribe pages are for people (HTML); every other answer is JSON.
        let html = uri.starts_with("/v1/unsubscribe/") && text.starts_with("<!doctype html>");
        if status.is_client_error() && !bytes.is_empty() && !html {
            let v: Value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("{}: {status} not JSON: {shown}", what()));
            assert!(v["error"]["code"].is_string(), "{}: {v}", what());
        }
        *statuses.entry(status.as_u16()).or_default() += 1;
    }
    // The run reached the handlers, not only the gate in front of them.
    for status in [200, 400, 401, 404] {
        assert!(statuses.contains_key(&status), "{statuses:?}");
    }
}

/// The template's `{param}`s replaced by an id of either tenant or by garbage.
fn fill_path(rng: &mut SmallRng, template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .map_or(rest.len(), |e| start + e + 1);
        let param = &rest[start..end];
        out.push_str(&match rng.random_range(0..10) {
            0 => percent(&garbage(rng, 40)),
            1 => "x".repeat(rng.random_range(300..5000)),
            2 => "..%2F..%2Fetc%2Fpasswd".into(),
            3 => "%ZZ%00".into(),
            4 => "-1".into(),
            5 if param == "{tenant}" => SECRET[rng.random_range(0..2)].0.into(),
            _ => IDS[rng.random_range(0..IDS.len())].into(),
        });
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn query(rng: &mut SmallRng) -> String {
    const PAIRS: &[&str] = &[
        "limit=-1",
        "limit=999999999999",
        "limit=2",
        "cursor=garbage",
        "cursor=%FF%FE",
        "from=2026-02-30",
        "from=2026-01-01&to=2025-01-01",
        "customer=b-c",
        "customer=a-c",
        "invoice=i1",
        "status=pending",
        "status=nonsense",
        "outcome=decided",
        "activate=true",
        "dry-run=maybe",
        "a=1&a=2",
        "%%%",
    ];
    match rng.random_range(0..3) {
        0 => String::new(),
        1 => format!("?{}", PAIRS[rng.random_range(0..PAIRS.len())]),
        _ => format!(
            "?{}&{}",
            PAIRS[rng.random_range(0..PAIRS.len())],
            percent(&garbage(rng, 30))
        ),
    }
}

/// A content type (or none) and a body.
fn body(rng: &mut SmallRng) -> (Option<&'static str>, Vec<u8>) {
    const TYPES: &[&str] = &[
        "application/json",
        "application/json; charset=utf-8",
        "application/x-ndjson",
        "application/wasm",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin1",
        "",
    ];
    let content_type = if rng.random_bool(0.15) {
        TYPES.get(rng.random_range(0..TYPES.len() + 1)).copied()
    } else {
        Some("application/json")
    };
    let body = match rng.random_range(0..12) {
        0 => Vec::new(),
        1 => (0..rng.random_range(1..2000))
            .map(|_| rng.random())
            .collect(),
        2 => {
            let depth = rng.random_range(100..20_000);
            let mut b = "[".repeat(depth) + &"]".repeat(depth);
            if rng.random_bool(0.5) {
                b = "{\"a\":".repeat(depth) + "1" + &"}".repeat(depth);
            }
            b.into_bytes()
        }
        3 => format!("\"{}\"", "y".repeat(rng.random_range(60_000..200_000))).into_bytes(),
        4 => {
            let mut b = json_row(rng).to_string().into_bytes();
            b.truncate(rng.random_range(0..b.len()));
            b
        }
        5 => {
            let rows: Vec<Value> = (0..rng.random_range(0..80))
                .map(|_| json_row(rng))
                .collect();
            serde_json::to_vec(&rows).unwrap()
        }
        6 => (0..rng.random_range(1..20))
            .map(|_| {
                if rng.random_bool(0.2) {
                    garbage(rng, 30)
                } else {
                    json_row(rng).to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
            .into_bytes(),
        7 => b"List-Unsubscribe=One-Click".to_vec(),
        8 => b"\0asm\x0d\0\x01\0".to_vec(),
        _ => json_row(rng).to_string().into_bytes(),
    };
    (content_type, body)
}

/// A row of some ledger kind, or settings, with fields of the wrong type and unknown keys now
/// and then.
fn json_row(rng: &mut SmallRng) -> Value {
    let id = IDS[rng.random_range(0..IDS.len())];
    let mut row = match rng.random_range(0..6) {
        0 => customer_row(id),
        1 => invoice_row(id, IDS[rng.random_range(0..IDS.len())]),
        2 => json!({"id": id, "invoice-id": IDS[rng.random_range(0..IDS.len())],
                    "amount-minor": 100, "currency": "EUR", "paid-on": "2026-02-01"}),
        3 => json!({"as-of": "2026-02-10", "dry-run": true}),
        4 => json!({"label": garbage(rng, 20)}),
        _ => json!({"id": id, "invoice-id": "i1", "opened-on": "2026-02-01"}),
    };
    let object = row.as_object_mut().unwrap();
    for _ in 0..rng.random_range(0..3) {
        let keys: Vec<String> = object.keys().cloned().collect();
        let key = keys[rng.random_range(0..keys.len())].clone();
        let wrong = match rng.random_range(0..7) {
            0 => json!(null),
            1 => json!(-1),
            2 => json!(i64::MAX),
            3 => json!(1e300),
            4 => json!([1, {"x": []}]),
            5 => json!(garbage(rng, 50)),
            _ => json!("2026-13-45"),
        };
        if rng.random_bool(0.8) {
            object.insert(key, wrong);
        } else {
            object.insert(garbage(rng, 10), wrong);
        }
    }
    row
}

/// Random text from a mix of ASCII, control characters, markup and multi-byte characters.
fn garbage(rng: &mut SmallRng, max: usize) -> String {
    const PIECES: &[&str] = &[
        "a",
        "Z",
        "0",
        "-",
        "_",
        ".",
        "/",
        "\\",
        "%",
        "\"",
        "'",
        "<script>",
        "\u{1b}[31m",
        "\0",
        "\n",
        "\r\n",
        " ",
        "é",
        "\u{202e}",
        "💸",
        "{",
        "}",
        "[",
        "]",
        ":",
        ",",
        "&",
        "=",
        "?",
        "#",
        "..",
    ];
    (0..rng.random_range(0..=max))
        .map(|_| PIECES[rng.random_range(0..PIECES.len())])
        .collect()
}

/// `text` percent-encoded byte by byte where a path or query would need it.
fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
