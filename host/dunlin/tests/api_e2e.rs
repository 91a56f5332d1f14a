//! A tenant integrates through HTTP alone, against `dunlin serve --listen` on a real socket:
//! the operator makes the tenant and its key, the tenant uploads its email templates, creates
//! a customer and an overdue invoice, uploads and activates the `standard` policy built from
//! `policies/`, starts a sweep, reads the decision and `explain`, finds the email in the
//! delivery sink (serve's file transport) and unsubscribes through the email's one-click link.
//! On SQLite and PostgreSQL (`DUNLIN_TEST_POSTGRES_URL`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Timelike as _;
use dunlin_core::Channel;
use dunlin_store::testing::Fixture;
use dunlin_store::TenantId;
use serde_json::{json, Value};

dunlin_store::conformance!(a_tenant_integrates_through_http_alone);

const OPERATOR: &str = "e2e-operator-key";
/// 32 bytes, base64: the key that signs and verifies unsubscribe links.
const UNSUBSCRIBE_KEY: &str = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=";

/// A `serve` that a failing assertion must not leave running.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A zone where it is mid-day now, so that the default contact window is open whatever the
/// time of day on the machine.
fn midday_zone() -> String {
    let offset = 12 - i32::try_from(chrono::Utc::now().hour()).expect("an hour fits");
    match offset {
        0 => "Etc/GMT".to_owned(),
        n if n > 0 => format!("Etc/GMT-{n}"),
        n => format!("Etc/GMT+{}", -n),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Http {
    client: reqwest::Client,
    base: String,
}

impl Http {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, value)
    }

    async fn ok(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> Value {
        let (status, v) = self.send(method.clone(), path, key, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {v}"
        );
        v
    }
}

fn templates() -> Vec<(String, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/templates/en");
    let mut ids: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".subject").map(str::to_owned)
        })
        .collect();
    ids.sort();
    ids.into_iter()
        .map(|id| {
            let part =
                |ext: &str| std::fs::read_to_string(dir.join(format!("{id}.{ext}"))).unwrap();
            let body =
                json!({"subject": part("subject"), "text": part("txt"), "html": part("html")});
            (id, body)
        })
        .collect()
}

/// The `.eml` files in `dir`.
fn emails(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "eml") {
                found.push(path);
            }
        }
    }
    found
}

async fn a_tenant_integrates_through_http_alone(f: Fixture) {
    let work = tempfile::tempdir().unwrap();
    let mail = work.path().join("mail");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let serve = Command::new(env!("CARGO_BIN_EXE_dunlin"))
        .args(["--database", &f.url, "--cache-dir"])
        .arg(work.path().join("cache"))
        .args(["--unsubscribe-url", &format!("{base}/v1/unsubscribe")])
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("DUNLIN_MAIL_DIR", &mail)
        .env("DUNLIN_OPERATOR_KEY", OPERATOR)
        .env("DUNLIN_UNSUBSCRIBE_KEY", UNSUBSCRIBE_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _serve = Running(serve);
    let http = Http {
        client: reqwest::Client::new(),
        base: base.clone(),
    };
    let started = Instant::now();
    loop {
        let ready = http.client.get(format!("{base}/readyz")).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "serve never got ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    use reqwest::Method;

    // The operator: the tenant (on a schedule that does not tick during the test) and its key.
    http.ok(
        Method::POST,
        "/v1/admin/tenants",
        OPERATOR,
        Some(json!({"id": "shop", "settings": {"schedule": "0 0 3 29 2 *"}})),
    )
    .await;
    let created = http
        .ok(
            Method::POST,
            "/v1/admin/tenants/shop/keys",
            OPERATOR,
            Some(json!({"label": "erp"})),
        )
        .await;
    let key = created["key"]
        .as_str()
        .expect("the key, shown once")
        .to_owned();

    // The tenant, with that key alone.
    for (id, body) in templates() {
        http.ok(
            Method::PUT,
            &format!("/v1/templates/{id}/en"),
            &key,
            Some(body),
        )
        .await;
    }
    let today = chrono::Utc::now().date_naive();
    let due = today - chrono::Days::new(20);
    http.ok(
        Method::PUT,
        "/v1/customers/c-42",
        &key,
        Some(
            json!({"id": "c-42", "currency": "EUR", "customer-since": "2024-01-01",
                    "email": "ada@example.com", "name": "Ada", "locale": "en",
                    "time-zone": midday_zone()}),
        ),
    )
    .await;
    http.ok(
        Method::PUT,
        "/v1/invoices/inv-7",
        &key,
        Some(json!({"id": "inv-7", "customer-id": "c-42", "issued-on": (due - chrono::Days::new(30)).to_string(),
                    "due-on": due.to_string(), "amount-minor": 12_345, "currency": "EUR",
                    "payment-method": "bank-transfer", "number": "INV-7"})),
    )
    .await;
    let wasm = dunlin_tests::reference_policy("standard");
    let response = http
        .client
        .post(format!("{base}/v1/policies?activate=true"))
        .bearer_auth(&key)
        .header("content-type", "application/wasm")
        .body(wasm)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let uploaded: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{status} {uploaded}");
    assert_eq!(uploaded["policy"]["status"], "active", "{uploaded}");

    let run = http
        .ok(
            Method::POST,
            "/v1/sweeps",
            &key,
            Some(json!({"as-of": today.to_string()})),
        )
        .await;
    let run_id = run["id"].as_i64().expect("the run's id");
    let started = Instant::now();
    let run = loop {
        let run = http
            .ok(Method::GET, &format!("/v1/sweeps/{run_id}"), &key, None)
            .await;
        if run["status"] != "running" {
            break run;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the sweep never ended: {run}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(run["status"], "done", "{run}");
    assert_eq!(run["figures"]["recorded"], 1, "{run}");

    let decisions = http
        .ok(Method::GET, "/v1/decisions?invoice=inv-7", &key, None)
        .await;
    let decision = &decisions["items"][0];
    assert_eq!(decision["invoice-id"], "inv-7", "{decisions}");
    let actions = decision["actions"].as_array().unwrap();
    assert!(
        actions
            .iter()
            .any(|a| a["action"]["kind"] == "notify" && a["action"]["channel"] == "email"),
        "an email notice: {decision}"
    );
    let explained = http
        .ok(Method::GET, "/v1/invoices/inv-7/explain", &key, None)
        .await;
    assert_eq!(
        explained["decisions"][0]["reason"], decision["reason"],
        "{explained}"
    );

    // The daemon's outbox worker sends the notice: an email in the sink.
    let started = Instant::now();
    let eml = loop {
        if let Some(eml) = emails(&mail).pop() {
            break eml;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "no email was delivered; the outbox: {}",
            http.ok(Method::GET, "/v1/outbox", &key, None).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let raw = std::fs::read(&eml).unwrap();
    let message = mail_parser::MessageParser::default().parse(&raw).unwrap();
    let to = message
        .to()
        .and_then(|a| a.first())
        .and_then(|a| a.address());
    assert_eq!(to, Some("ada@example.com"));
    assert!(
        message.body_text(0).unwrap().contains("INV-7"),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    let header = message
        .header_raw("List-Unsubscribe")
        .expect("a List-Unsubscribe header");
    let link: String = header.split_whitespace().collect();
    let link = link.trim_start_matches('<').trim_end_matches('>');
    assert!(
        link.starts_with(&format!("{base}/v1/unsubscribe/")),
        "{link}"
    );

    // One click, as a mail client sends it (RFC 8058): no key, the form body.
    let response = http
        .client
        .post(link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let customer =
        f.db.customer(&TenantId::new("shop").unwrap(), "c-42")
            .await
            .unwrap()
            .unwrap();
    assert_eq!(customer.profile.opted_out, vec![Channel::Email]);

    // Another tenant's key finds nothing of shop's.
    http.ok(
        Method::POST,
        "/v1/admin/tenants",
        OPERATOR,
        Some(json!({"id": "other"})),
    )
    .await;
    let other = http
        .ok(
            Method::POST,
            "/v1/admin/tenants/other/keys",
            OPERATOR,
            Some(json!({"label": "x"})),
        )
        .await;
    let other = other["key"].as_str().unwrap();
    let (status, v) = http
        .send(Method::GET, "/v1/invoices/inv-7/explain", other, None)
        .await;
    assert_eq!(status, 404, "{v}");
    let listed = http.ok(Method::GET, "/v1/decisions", other, None).await;
    assert_eq!(listed["items"], json!([]), "{listed}");
}
