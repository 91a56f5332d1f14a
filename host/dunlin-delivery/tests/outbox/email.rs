//! Email notices through the worker to a real SMTP server: the received MIME parsed back
//! (headers, both parts, amounts in the customer's locale), the Message-ID kept across
//! retries, and one email per customer and day when consolidating.

use chrono::TimeDelta;
use dunlin_core::clock::Clock;
use dunlin_core::Channel;
use dunlin_delivery::outbox::worker::{Totals, UnsubscribeLinks, WorkerConfig};
use dunlin_delivery::unsubscribe::{UnsubscribeBase, UnsubscribeKey, UnsubscribeKeys};
use dunlin_store::outbox::AttemptOutcome;
use dunlin_store::testing::Fixture;
use dunlin_store::{ActionStatus, DeliverySettings};
use mail_parser::{Message, MessageParser, MimeHeaders};

use crate::aiosmtpd::free_port;
use crate::scene::{
    acme_with_one_invoice, attempts, clock, config, customer, decide, delivery, email, entry,
    invoice, key, ledger, march_10, one_notice_each, run, smtp, status, tenant, Mailbox, AS_OF,
};

dunlin_store::conformance!(
    an_email_carries_its_headers_both_parts_and_amounts_in_the_customers_locale,
    a_refused_connection_is_retried_with_the_same_message_id_until_the_server_takes_it,
    one_customers_email_notices_of_a_day_go_out_as_one_email,
    without_consolidation_each_notice_is_an_email_of_its_own,
    a_consolidated_email_is_retried_as_one_with_its_message_id,
);

fn unsubscribe_keys() -> UnsubscribeKeys {
    UnsubscribeKeys::new(UnsubscribeKey::from_bytes(vec![9; 32]).expect("a key"))
}

fn with_unsubscribe_links() -> WorkerConfig {
    let mut config = config();
    config.unsubscribe = Some(UnsubscribeLinks {
        keys: unsubscribe_keys(),
        base: UnsubscribeBase::parse("https://dunlin.example/v1/unsubscribe").expect("a base"),
        valid_for: TimeDelta::days(30),
    });
    config
}

/// One run at 10:00 UTC on [`AS_OF`] (noon in Helsinki) to a new recording SMTP server.
async fn deliver_at_ten(f: &Fixture, config: WorkerConfig) -> (Mailbox, Totals) {
    let mailbox = Mailbox::start();
    let totals = run(f, mailbox.smtp(), &clock(march_10(10, 0)), config).await;
    (mailbox, totals)
}

fn parse(raw: &[u8]) -> Message<'_> {
    MessageParser::default()
        .parse(raw)
        .unwrap_or_else(|| panic!("unparsable:\n{}", String::from_utf8_lossy(raw)))
}

fn to_address(message: &Message<'_>) -> String {
    message
        .to()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .expect("a To address")
        .to_owned()
}

fn lf(text: &str) -> String {
    text.replace("\r\n", "\n")
}

async fn an_email_carries_its_headers_both_parts_and_amounts_in_the_customers_locale(f: Fixture) {
    let acme = tenant(&f, "acme", delivery()).await;
    let customers = [
        customer("c-de", "de-DE", "Europe/Berlin", "kunde@example.de"),
        customer("c-fi", "fi-FI", "Europe/Helsinki", "asiakas@example.fi"),
        customer("c-en", "en-US", "Europe/London", "customer@example.com"),
    ];
    let ids = one_notice_each(&f, &acme, AS_OF, &customers, 123_456).await;
    let (mailbox, totals) = deliver_at_ten(&f, with_unsubscribe_links()).await;
    assert_eq!(totals.delivered, 3, "{totals:?}");

    let received = mailbox.received(3);
    assert_eq!(received.len(), 3);
    // (customer, action, subject, the amount as the customer's locale writes it)
    let expected = [
        (
            "c-de",
            ids[0],
            "Zahlungserinnerung zur Rechnung N-i-c-de",
            "1.234,56\u{a0}€",
        ),
        (
            "c-fi",
            ids[1],
            "Maksumuistutus: lasku N-i-c-fi",
            "1\u{a0}234,56\u{a0}€",
        ),
        ("c-en", ids[2], "Reminder: invoice N-i-c-en", "€1,234.56"),
    ];
    let keys = unsubscribe_keys();
    for (customer_id, id, subject, amount) in expected {
        let address = match customer_id {
            "c-de" => "kunde@example.de",
            "c-fi" => "asiakas@example.fi",
            _ => "customer@example.com",
        };
        let raw = received
            .iter()
            .find(|raw| to_address(&parse(raw)) == address)
            .unwrap_or_else(|| panic!("no email to {address}"));
        assert!(raw.is_ascii(), "8-bit bytes in the message");
        let message = parse(raw);
        let head = String::from_utf8_lossy(raw);

        let from = message.from().and_then(|a| a.first()).expect("From");
        assert_eq!(from.name(), Some("Acme Oy"));
        assert_eq!(from.address(), Some("billing@acme.example"));
        let to = message.to().and_then(|a| a.first()).expect("To");
        assert_eq!(to.name(), Some(format!("Customer {customer_id}").as_str()));
        assert_eq!(message.subject(), Some(subject));
        let message_id = format!("{}@acme.example", key(&acme, id));
        assert_eq!(message.message_id(), Some(message_id.as_str()));

        // RFC 8058: a signed link for this customer's email channel, and the one-click POST.
        let link = message
            .header_raw("List-Unsubscribe")
            .map(str::trim)
            .and_then(|h| h.strip_prefix('<'))
            .and_then(|h| h.strip_suffix('>'))
            .unwrap_or_else(|| panic!("no List-Unsubscribe:\n{head}"));
        let token = link
            .strip_prefix("https://dunlin.example/v1/unsubscribe/")
            .unwrap_or_else(|| panic!("a link under the base: {link}"));
        let verified = keys.verify(token, march_10(10, 0)).expect("a valid token");
        assert_eq!(
            (verified.tenant(), verified.customer(), verified.channel()),
            ("acme", customer_id, Channel::Email)
        );
        assert_eq!(verified.expires_at(), march_10(10, 0) + TimeDelta::days(30));
        assert_eq!(
            message.header_raw("List-Unsubscribe-Post").map(str::trim),
            Some("List-Unsubscribe=One-Click")
        );

        // Both parts, UTF-8, each in a transfer encoding that keeps the message 7-bit.
        let root = message.content_type().expect("a root Content-Type");
        assert_eq!(
            (root.ctype(), root.subtype()),
            ("multipart", Some("alternative"))
        );
        for (part, subtype) in [
            (message.text_part(0).expect("a text part"), "plain"),
            (message.html_part(0).expect("an HTML part"), "html"),
        ] {
            let ctype = part.content_type().expect("a part's Content-Type");
            assert_eq!((ctype.ctype(), ctype.subtype()), ("text", Some(subtype)));
            assert_eq!(ctype.attribute("charset"), Some("utf-8"));
            let encoding = part
                .content_transfer_encoding()
                .expect("a Content-Transfer-Encoding");
            assert!(
                ["quoted-printable", "base64"].contains(&encoding),
                "{subtype}: {encoding}"
            );
        }
        let text = lf(&message.body_text(0).expect("the text body"));
        let html = lf(&message.body_html(0).expect("the HTML body"));
        for (name, body) in [("text", &text), ("HTML", &html)] {
            assert!(
                body.contains(amount),
                "{customer_id} {name}: no {amount:?} in\n{body}"
            );
            assert!(body.contains(&format!("N-i-{customer_id}")), "{body}");
            // The HTML part escapes the link's slashes; the token has none.
            assert!(
                body.contains(token),
                "{customer_id} {name}: no unsubscribe link"
            );
        }
        assert!(text.contains(&format!("Customer {customer_id}")), "{text}");
        let pay = format!("https://pay.acme.example/i-{customer_id}");
        assert!(text.contains(&pay), "{text}");

        // The delivery log: one attempt, the server's 250, the message's key.
        let log = attempts(&f, &acme, id).await;
        assert_eq!(log.len(), 1, "{log:?}");
        let attempt = &log[0].attempt_made;
        assert_eq!(attempt.outcome, AttemptOutcome::Delivered);
        assert_eq!(attempt.message_key, key(&acme, id));
        assert_eq!(attempt.target, address);
        assert!(attempt.detail.starts_with("250"), "{}", attempt.detail);
        assert_eq!(status(&f, &acme, id).await, ActionStatus::Delivered);
    }
}

async fn a_refused_connection_is_retried_with_the_same_message_id_until_the_server_takes_it(
    f: Fixture,
) {
    let acme = acme_with_one_invoice(&f, delivery(), 50_000).await;
    let id = decide(
        &f,
        &acme,
        AS_OF,
        &[("i1", vec![email("reminder-friendly")])],
    )
    .await[0];
    // Nothing listens on the port yet: the connection is refused, twice.
    let port = free_port();
    let now = clock(march_10(10, 0));
    for attempt in 1..=2 {
        let totals = run(&f, smtp(port), &now, config()).await;
        assert_eq!((totals.retried, totals.delivered), (1, 0), "{totals:?}");
        let waiting = entry(&f, &acme, id).await;
        assert_eq!(waiting.status, ActionStatus::Pending);
        assert_eq!(waiting.attempts, attempt);
        let next = waiting.next_attempt_at.expect("a retry time");
        assert!(next > now.now(), "{next} is not after {}", now.now());
        // Not due before its time: a run now sends nothing.
        let early = run(&f, smtp(port), &now, config()).await;
        assert_eq!(early.handled(), 0, "{early:?}");
        now.set(next);
    }
    let mailbox = Mailbox::start_on(port);
    let totals = run(&f, mailbox.smtp(), &now, config()).await;
    assert_eq!(totals.delivered, 1, "{totals:?}");
    assert_eq!(status(&f, &acme, id).await, ActionStatus::Delivered);

    let received = mailbox.received(1);
    assert_eq!(received.len(), 1);
    let message_id = format!("{}@acme.example", key(&acme, id));
    assert_eq!(parse(&received[0]).message_id(), Some(message_id.as_str()));
    let log = attempts(&f, &acme, id).await;
    let seen: Vec<(u32, AttemptOutcome, &str)> = log
        .iter()
        .map(|a| {
            (
                a.attempt,
                a.attempt_made.outcome,
                a.attempt_made.message_key.as_str(),
            )
        })
        .collect();
    let key = key(&acme, id);
    assert_eq!(
        seen,
        [
            (1, AttemptOutcome::Temporary, key.as_str()),
            (2, AttemptOutcome::Temporary, key.as_str()),
            (3, AttemptOutcome::Delivered, key.as_str()),
        ]
    );
}

/// `c1` with invoices `i1` (1,234.56 €) and `i2` (99.00 €), an email notice for each on
/// [`AS_OF`]; returns the actions' ids.
async fn two_notices_for_one_customer(f: &Fixture, delivery: DeliverySettings) -> Vec<i64> {
    let acme = tenant(f, "acme", delivery).await;
    ledger(
        f,
        &acme,
        &[customer("c1", "en", "Europe/Helsinki", "c1@example.com")],
        &[invoice("i1", "c1", 123_456), invoice("i2", "c1", 9_900)],
    )
    .await;
    decide(
        f,
        &acme,
        AS_OF,
        &[
            ("i1", vec![email("statement-reminder")]),
            ("i2", vec![email("statement-reminder")]),
        ],
    )
    .await
}

async fn one_customers_email_notices_of_a_day_go_out_as_one_email(f: Fixture) {
    let ids = two_notices_for_one_customer(&f, delivery()).await;
    let acme = crate::scene::tid("acme");
    let (mailbox, totals) = deliver_at_ten(&f, config()).await;
    assert_eq!(totals.delivered, 2, "{totals:?}");

    let received = mailbox.received(1);
    assert_eq!(received.len(), 1, "one email for both notices");
    let message = parse(&received[0]);
    let text = lf(&message.body_text(0).expect("the text body"));
    assert!(
        text.contains("N-i1, due") && text.contains("€1,234.56"),
        "{text}"
    );
    assert!(
        text.contains("N-i2, due") && text.contains("€99.00"),
        "{text}"
    );
    let message_id = format!("{}@acme.example", key(&acme, ids[0]));
    assert_eq!(message.message_id(), Some(message_id.as_str()));
    for id in &ids {
        assert_eq!(status(&f, &acme, *id).await, ActionStatus::Delivered);
        let log = attempts(&f, &acme, *id).await;
        assert_eq!(log.len(), 1, "{id}: {log:?}");
        assert_eq!(log[0].attempt_made.outcome, AttemptOutcome::Delivered);
        assert_eq!(log[0].attempt_made.message_key, key(&acme, ids[0]));
    }
}

async fn without_consolidation_each_notice_is_an_email_of_its_own(f: Fixture) {
    let settings = DeliverySettings {
        consolidate: false,
        ..delivery()
    };
    let ids = two_notices_for_one_customer(&f, settings).await;
    let acme = crate::scene::tid("acme");
    let (mailbox, totals) = deliver_at_ten(&f, config()).await;
    assert_eq!(totals.delivered, 2, "{totals:?}");

    let received = mailbox.received(2);
    assert_eq!(received.len(), 2, "an email per notice");
    let mut message_ids: Vec<String> = received
        .iter()
        .map(|raw| parse(raw).message_id().expect("a Message-ID").to_owned())
        .collect();
    message_ids.sort();
    let mut expected: Vec<String> = ids
        .iter()
        .map(|id| format!("{}@acme.example", key(&acme, *id)))
        .collect();
    expected.sort();
    assert_eq!(message_ids, expected);
    for id in &ids {
        let log = attempts(&f, &acme, *id).await;
        assert_eq!(log.len(), 1, "{id}: {log:?}");
        assert_eq!(log[0].attempt_made.message_key, key(&acme, *id));
    }
}

async fn a_consolidated_email_is_retried_as_one_with_its_message_id(f: Fixture) {
    let ids = two_notices_for_one_customer(&f, delivery()).await;
    let acme = crate::scene::tid("acme");
    let port = free_port();
    let now = clock(march_10(10, 0));
    let totals = run(&f, smtp(port), &now, config()).await;
    assert_eq!(totals.retried, 2, "{totals:?}");
    // The worker polls all the time: the next run is at the first retry time.
    let mut due = Vec::new();
    for id in &ids {
        due.push(
            entry(&f, &acme, *id)
                .await
                .next_attempt_at
                .expect("a retry time"),
        );
    }
    now.set(*due.iter().min().expect("two"));

    let mailbox = Mailbox::start_on(port);
    let totals = run(&f, mailbox.smtp(), &now, config()).await;
    assert_eq!(
        totals.delivered, 2,
        "both notices again in one email: {totals:?}"
    );
    let received = mailbox.received(1);
    assert_eq!(received.len(), 1);
    let message_id = format!("{}@acme.example", key(&acme, ids[0]));
    assert_eq!(parse(&received[0]).message_id(), Some(message_id.as_str()));
    for id in &ids {
        let keys: Vec<String> = attempts(&f, &acme, *id)
            .await
            .into_iter()
            .map(|a| a.attempt_made.message_key)
            .collect();
        assert_eq!(keys, [key(&acme, ids[0]), key(&acme, ids[0])], "{id}");
    }
}
