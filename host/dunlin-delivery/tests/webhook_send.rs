//! `WebhookSender` against a real HTTP receiver on 127.0.0.1 (hyper, started here): the
//! signature verified by our `verify` and by the Standard Webhooks reference library (Python
//! `standardwebhooks`, installed by the harness when missing), the payload, and how each
//! answer is classified.

#[path = "support/event.rs"]
mod event;
#[path = "support/python.rs"]
mod python;
#[path = "support/receiver.rs"]
#[allow(dead_code)] // The bench shares this file and uses other parts of it.
mod receiver;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use dunlin_delivery::webhook::{
    verify, Attempt, Endpoint, EndpointPolicy, SigningKeys, WebhookEvent, WebhookSecret,
    WebhookSender,
};
use dunlin_delivery::Outcome;
use receiver::{Receiver, Recorded, Reply};

/// The reference library's version, pinned: it is the judge of our signatures.
const PYPI_STANDARDWEBHOOKS: &str = "standardwebhooks==1.3.0";

fn private_allowed() -> EndpointPolicy {
    EndpointPolicy {
        allow_http: false,
        allow_private: true,
    }
}

fn sender(timeout: Duration) -> WebhookSender {
    WebhookSender::new(private_allowed(), timeout).expect("a webhook client")
}

fn endpoint(receiver: &Receiver) -> Endpoint {
    Endpoint::parse(&receiver.url("/hooks/dunning"), &private_allowed()).expect("an endpoint")
}

fn secret(byte: u8) -> WebhookSecret {
    WebhookSecret::from_key(vec![byte; 32]).expect("a key")
}

fn event() -> WebhookEvent {
    event::sms_notice(1001)
}

async fn send_once(sender: &WebhookSender, receiver: &Receiver) -> Attempt {
    let keys = SigningKeys::new(secret(7));
    sender
        .send(
            &endpoint(receiver),
            &keys,
            &event(),
            &event::action_key(1001),
        )
        .await
}

fn unix_now() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    i64::try_from(now.as_secs()).expect("a timestamp")
}

/// Our own receiver-side check of `request` with `secret`.
fn verify_ours(request: &Recorded, secret: &WebhookSecret) -> Result<(), String> {
    let header = |name| request.header(name).unwrap_or_default();
    verify(
        &[secret],
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
        &request.body,
        unix_now(),
        300,
    )
    .map_err(|err| err.to_string())
}

/// The reference library's check of `request` with `secret`: the verified payload, or the
/// library's refusal.
fn verify_reference(
    request: &Recorded,
    secret: &WebhookSecret,
) -> Result<serde_json::Value, String> {
    static PYTHON: OnceLock<String> = OnceLock::new();
    let python = PYTHON.get_or_init(|| {
        python::python_with(
            "standardwebhooks",
            PYPI_STANDARDWEBHOOKS,
            "standardwebhooks-venv",
            "or set DUNLIN_TEST_PYTHON to a python3 that has standardwebhooks",
        )
    });
    let headers: BTreeMap<&str, &str> = ["webhook-id", "webhook-timestamp", "webhook-signature"]
        .into_iter()
        .filter_map(|name| Some((name, request.header(name)?)))
        .collect();
    let input = serde_json::json!({
        "secret": secret.expose_whsec(),
        "headers": headers,
        "body": STANDARD.encode(&request.body),
    });
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/standard_webhooks_verify.py"
    );
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the reference verifier");
    child
        .stdin
        .take()
        .expect("a stdin")
        .write_all(input.to_string().as_bytes())
        .expect("write the delivery to the verifier");
    let output = child.wait_with_output().expect("the verifier finishes");
    let stdout = String::from_utf8_lossy(&output.stdout);
    match output.status.code() {
        Some(0) => serde_json::from_str(&stdout).map_err(|err| format!("{err}: {stdout}")),
        Some(1) => Err(stdout.trim().to_owned()),
        _ => panic!(
            "the reference verifier failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

fn reason(attempt: &Attempt) -> &str {
    match &attempt.outcome {
        Outcome::Temporary { reason } | Outcome::Permanent { reason } => reason,
        Outcome::Sent { reply, .. } => panic!("expected a failure, got sent: {reply}"),
    }
}

#[tokio::test]
async fn delivery_is_signed_for_our_verify_and_the_reference_library() {
    let receiver = Receiver::start(vec![Reply::status(200).body(r#"{"received":true}"#)]).await;
    let (new, old) = (secret(7), secret(9));
    let keys = SigningKeys::rotating(new.clone(), old.clone(), unix_now() + 3600);
    let attempt = sender(Duration::from_secs(5))
        .send(
            &endpoint(&receiver),
            &keys,
            &event(),
            &event::action_key(1001),
        )
        .await;
    let Outcome::Sent { reply, .. } = &attempt.outcome else {
        panic!("{attempt:?}");
    };
    assert_eq!(reply, r#"HTTP 200: {"received":true}"#);
    assert_eq!(attempt.retry_after, None);

    let requests = receiver.requests();
    let [request] = requests.as_slice() else {
        panic!("one request, got {}", requests.len());
    };
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/hooks/dunning");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        request.header("webhook-id"),
        Some(event::action_key(1001).as_str())
    );
    assert_eq!(request.body, event().to_body());
    let payload: WebhookEvent = serde_json::from_slice(&request.body).expect("the event's JSON");
    assert_eq!(payload, event());

    // During a rotation a receiver that knows either secret verifies, with either library.
    for known in [&new, &old] {
        assert_eq!(verify_ours(request, known), Ok(()));
        let verified = verify_reference(request, known).expect("the reference library verifies");
        assert_eq!(verified["type"], "notice.requested");
        assert_eq!(verified["data"]["action_key"], event::action_key(1001));
    }
    // And a receiver with another secret refuses, with either library.
    let stranger = secret(11);
    assert!(verify_ours(request, &stranger).is_err());
    let refused = verify_reference(request, &stranger).expect_err("another secret is refused");
    assert!(refused.contains("No matching signature"), "{refused}");
}

#[tokio::test]
async fn a_server_error_is_temporary_and_the_retry_is_sent() {
    let receiver = Receiver::start(vec![
        Reply::status(500).body("database is down"),
        Reply::status(200),
    ])
    .await;
    let sender = sender(Duration::from_secs(5));
    let first = send_once(&sender, &receiver).await;
    assert_eq!(
        first.outcome,
        Outcome::Temporary {
            reason: "HTTP 500: database is down".into()
        }
    );
    let second = send_once(&sender, &receiver).await;
    assert!(
        matches!(&second.outcome, Outcome::Sent { reply, .. } if reply == "HTTP 200"),
        "{second:?}"
    );
    // Both attempts carry the same message id and body, so the receiver can deduplicate.
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].header("webhook-id"),
        requests[1].header("webhook-id")
    );
    assert_eq!(requests[0].body, requests[1].body);
    for request in &requests {
        assert_eq!(verify_ours(request, &secret(7)), Ok(()));
    }
}

#[tokio::test]
async fn throttling_and_unavailability_are_temporary_with_their_retry_after() {
    let receiver = Receiver::start(vec![
        Reply::status(429).header("retry-after", "120"),
        Reply::status(503).header("retry-after", "7"),
        Reply::status(408),
        Reply::status(502).header("retry-after", "60"),
        Reply::status(429).header("retry-after", "in a while"),
    ])
    .await;
    let sender = sender(Duration::from_secs(5));
    let expected = [
        ("HTTP 429", Some(Duration::from_secs(120))),
        ("HTTP 503", Some(Duration::from_secs(7))),
        ("HTTP 408", None),
        // Retry-After counts only on 429 and 503.
        ("HTTP 502", None),
        ("HTTP 429", None),
    ];
    for (status, retry_after) in expected {
        let attempt = send_once(&sender, &receiver).await;
        assert!(
            matches!(&attempt.outcome, Outcome::Temporary { reason } if reason == status),
            "{attempt:?}"
        );
        assert_eq!(attempt.retry_after, retry_after, "{status}");
    }
}

#[tokio::test]
async fn a_client_error_is_permanent_with_the_receivers_words_made_inert() {
    let hostile = format!("bad \x1b[2Jsignature\r\nforged: line{}", "!".repeat(5000));
    let receiver = Receiver::start(vec![
        Reply::status(400).body(hostile),
        Reply::status(404),
        Reply::status(410).body("gone"),
    ])
    .await;
    let sender = sender(Duration::from_secs(5));
    let first = send_once(&sender, &receiver).await;
    let Outcome::Permanent { reason } = &first.outcome else {
        panic!("{first:?}");
    };
    assert!(
        reason.starts_with(r"HTTP 400: bad \u{1b}[2Jsignature\r\nforged: line!!!"),
        "{reason}"
    );
    assert!(reason.ends_with('…'), "{reason}");
    assert!(reason.len() < 300, "{}", reason.len());
    assert!(!reason.chars().any(char::is_control), "{reason}");
    for expected in ["HTTP 404", "HTTP 410: gone"] {
        let attempt = send_once(&sender, &receiver).await;
        assert_eq!(
            attempt.outcome,
            Outcome::Permanent {
                reason: expected.into()
            }
        );
    }
}

#[tokio::test]
async fn a_receiver_slower_than_the_timeout_is_temporary() {
    let receiver = Receiver::start(vec![Reply::status(200).after(Duration::from_secs(3))]).await;
    let attempt = send_once(&sender(Duration::from_millis(300)), &receiver).await;
    assert!(
        matches!(&attempt.outcome, Outcome::Temporary { reason } if reason == "no answer within 300 ms"),
        "{attempt:?}"
    );
    assert_eq!(receiver.requests().len(), 1);
}

#[tokio::test]
async fn an_unreachable_receiver_is_temporary() {
    let receiver = Receiver::start(vec![Reply::status(200)]).await;
    let endpoint = endpoint(&receiver);
    // Nothing listens on the port once the receiver is gone.
    drop(receiver);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let keys = SigningKeys::new(secret(7));
    let attempt = sender(Duration::from_secs(5))
        .send(&endpoint, &keys, &event(), &event::action_key(1001))
        .await;
    assert!(
        matches!(&attempt.outcome, Outcome::Temporary { .. }),
        "{attempt:?}"
    );
    assert!(reason(&attempt).contains("connect"), "{attempt:?}");
}

#[tokio::test]
async fn a_redirect_is_permanent_and_not_followed() {
    let receiver = Receiver::start(vec![
        Reply::status(307).header("location", "/elsewhere"),
        Reply::status(200),
    ])
    .await;
    let attempt = send_once(&sender(Duration::from_secs(5)), &receiver).await;
    assert_eq!(
        attempt.outcome,
        Outcome::Permanent {
            reason: "HTTP 307".into()
        }
    );
    let paths: Vec<String> = receiver.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/hooks/dunning"]);
}

#[tokio::test]
async fn a_private_address_is_refused_under_the_strict_policy() {
    let receiver = Receiver::start(vec![Reply::status(200)]).await;
    // Registered while the operator allowed private targets; the policy is strict now.
    let registered = endpoint(&receiver);
    for strict in [
        EndpointPolicy::default(),
        EndpointPolicy {
            allow_http: true,
            allow_private: false,
        },
    ] {
        let sender = WebhookSender::new(strict, Duration::from_secs(5)).expect("a client");
        let keys = SigningKeys::new(secret(7));
        let attempt = sender
            .send(&registered, &keys, &event(), &event::action_key(1001))
            .await;
        assert!(
            matches!(&attempt.outcome, Outcome::Permanent { .. }),
            "{attempt:?}"
        );
        assert!(reason(&attempt).contains("loopback"), "{attempt:?}");
    }
    assert!(receiver.requests().is_empty());
}
