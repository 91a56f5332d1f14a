//! The email transports against a real SMTP server (python3-aiosmtpd, started here) and a
//! folder: the received MIME parsed back and checked.

#[path = "support/aiosmtpd.rs"]
#[allow(dead_code)] // The bench shares this file and uses other parts of it.
mod aiosmtpd;
#[path = "support/python.rs"]
mod python;

use std::time::Duration;

use aiosmtpd::{free_port, Aiosmtpd};
use dunlin_delivery::email::{
    Contact, Email, FileTransport, IdempotencyKey, Outcome, Security, SmtpConfig, SmtpTransport,
    Transport,
};
use dunlin_delivery::template::Rendered;
use mail_parser::{MessageParser, MimeHeaders};

fn smtp(port: u16) -> SmtpTransport {
    SmtpTransport::new(&SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        security: Security::None,
        credentials: None,
        timeout: Duration::from_secs(10),
        max_connections: 4,
    })
    .expect("a plain SMTP transport")
}

/// A letter in German with Finnish and Russian lines, an amount formatted for de-DE, and
/// an HTML part with markup and non-ASCII text.
fn letter(key: &str, to: &str) -> Email {
    Email {
        from: Contact::named("Müller & Söhne GmbH", "rechnung@mueller.example"),
        to: Contact::named("Jürgen Äijälä", to),
        reply_to: Some(Contact::named("Бухгалтерия", "buh@mueller.example")),
        body: Rendered {
            subject: "Zahlungserinnerung: Rechnung R-2024-17 über 1.234,56 € – bitte prüfen".into(),
            text: "Sehr geehrter Herr Äijälä,\n\nder Betrag von 1.234,56 € ist seit 14 Tagen fällig.\n\
                   Muistutus: lasku erääntyi, summa 1 234,56 €.\n\
                   Напоминание: счёт просрочен, сумма 1 234,56 €.\n"
                .into(),
            html: "<p>Sehr geehrter Herr Äijälä,</p>\n<p>der Betrag von <b>1.234,56&nbsp;€</b> ist fällig.</p>\n\
                   <p lang=\"fi\">Muistutus: summa 1 234,56 €.</p>\n<p lang=\"ru\">Напоминание: сумма 1 234,56 €.</p>\n"
                .into(),
        },
        key: IdempotencyKey::new(key).expect("a valid key"),
        unsubscribe: vec!["https://pay.mueller.example/u/c42?sig=AbC-123&exp=1767225600".into()],
    }
}

/// Line endings are the transport's (CRLF); the text is what was sent.
fn lf(text: &str) -> String {
    text.replace("\r\n", "\n")
}

/// Parses `raw` and checks every header and both parts against `email`.
fn assert_received(raw: &[u8], email: &Email) {
    let parsed = MessageParser::default()
        .parse(raw)
        .unwrap_or_else(|| panic!("unparsable message:\n{}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(raw);
    assert!(raw.is_ascii(), "8-bit bytes in the message:\n{head}");

    let from = parsed.from().and_then(|a| a.first()).expect("From");
    assert_eq!(from.name(), email.from.name.as_deref());
    assert_eq!(from.address(), Some(email.from.address.as_str()));
    let to = parsed.to().and_then(|a| a.first()).expect("To");
    assert_eq!(to.name(), email.to.name.as_deref());
    assert_eq!(to.address(), Some(email.to.address.as_str()));
    let reply_to = parsed.reply_to().and_then(|a| a.first()).expect("Reply-To");
    let expected = email.reply_to.as_ref().expect("the letter has a Reply-To");
    assert_eq!(reply_to.name(), expected.name.as_deref());
    assert_eq!(parsed.subject(), Some(email.body.subject.as_str()));
    let subject_line = head
        .lines()
        .find(|l| l.starts_with("Subject: "))
        .expect("a Subject line");
    assert!(
        subject_line.contains("=?utf-8?b?"),
        "the subject's non-ASCII words are not RFC 2047 encoded:\n{head}"
    );
    assert_eq!(
        parsed.message_id(),
        Some(format!("{}@mueller.example", email.key.as_str()).as_str())
    );
    assert_eq!(
        parsed.header_raw("List-Unsubscribe").map(str::trim),
        Some(format!("<{}>", email.unsubscribe[0]).as_str())
    );
    assert_eq!(
        parsed.header_raw("List-Unsubscribe-Post").map(str::trim),
        Some("List-Unsubscribe=One-Click")
    );

    let root = parsed.content_type().expect("a root Content-Type");
    assert_eq!(
        (root.ctype(), root.subtype()),
        ("multipart", Some("alternative"))
    );
    assert_eq!(parsed.parts.len(), 3, "root, text and HTML:\n{head}");
    let text = parsed.text_part(0).expect("a text part");
    let html = parsed.html_part(0).expect("an HTML part");
    let text_type = text.content_type().expect("the text part's Content-Type");
    assert_eq!(
        (text_type.ctype(), text_type.subtype()),
        ("text", Some("plain"))
    );
    assert_eq!(text_type.attribute("charset"), Some("utf-8"));
    let html_type = html.content_type().expect("the HTML part's Content-Type");
    assert_eq!(
        (html_type.ctype(), html_type.subtype()),
        ("text", Some("html"))
    );
    assert_eq!(html_type.attribute("charset"), Some("utf-8"));
    // Text first, HTML second: readers show the last part they understand.
    let text_at = head
        .find("Content-Type: text/plain")
        .expect("text part header");
    let html_at = head
        .find("Content-Type: text/html")
        .expect("HTML part header");
    assert!(text_at < html_at, "the HTML part comes first:\n{head}");
    assert_eq!(
        lf(&parsed.body_text(0).expect("text body")),
        email.body.text
    );
    assert_eq!(
        lf(&parsed.body_html(0).expect("HTML body")),
        email.body.html
    );
}

#[tokio::test]
async fn smtp_delivers_the_letter_as_sent() {
    let folder = tempfile::tempdir().expect("a folder");
    let server = Aiosmtpd::start(Some(folder.path()));
    let email = letter("t1.action-42", "kunde@example.de");
    let outcome = smtp(server.port).send(&email).await;
    let Outcome::Sent { reply, .. } = outcome else {
        panic!("not sent: {outcome:?}");
    };
    assert!(reply.starts_with("250"), "{reply}");
    let received = server.received(1);
    assert_eq!(received.len(), 1);
    assert_received(&received[0], &email);
}

#[tokio::test]
async fn a_retry_carries_the_same_message_id() {
    let folder = tempfile::tempdir().expect("a folder");
    let server = Aiosmtpd::start(Some(folder.path()));
    let transport = smtp(server.port);
    let email = letter("t1.action-43", "kunde@example.de");
    for _ in 0..2 {
        let outcome = transport.send(&email).await;
        assert!(matches!(outcome, Outcome::Sent { .. }), "{outcome:?}");
    }
    let received = server.received(2);
    assert_eq!(received.len(), 2);
    let ids: Vec<String> = received
        .iter()
        .map(|raw| {
            MessageParser::default()
                .parse(raw)
                .and_then(|m| m.message_id().map(str::to_owned))
                .expect("a Message-ID")
        })
        .collect();
    assert_eq!(ids, ["t1.action-43@mueller.example"; 2]);
    assert_eq!(
        email.message_id().expect("an id"),
        "<t1.action-43@mueller.example>"
    );
}

#[tokio::test]
async fn nothing_listening_is_temporary() {
    let outcome = smtp(free_port())
        .send(&letter("t1.a1", "kunde@example.de"))
        .await;
    assert!(matches!(outcome, Outcome::Temporary { .. }), "{outcome:?}");
}

#[tokio::test]
async fn a_550_is_permanent_and_a_451_temporary() {
    let server = Aiosmtpd::start(None);
    let transport = smtp(server.port);
    let outcome = transport.send(&letter("t1.a2", "reject@example.de")).await;
    let Outcome::Permanent { reason } = outcome else {
        panic!("a 550 was not permanent: {outcome:?}");
    };
    assert!(
        reason.contains("550") && reason.contains("mailbox unavailable"),
        "{reason}"
    );
    let outcome = transport.send(&letter("t1.a3", "busy@example.de")).await;
    let Outcome::Temporary { reason } = outcome else {
        panic!("a 451 was not temporary: {outcome:?}");
    };
    assert!(
        reason.contains("451") && reason.contains("try again later"),
        "{reason}"
    );
    // The pool recovers from refusals: the next good recipient is delivered.
    let outcome = transport.send(&letter("t1.a4", "kunde@example.de")).await;
    assert!(matches!(outcome, Outcome::Sent { .. }), "{outcome:?}");
}

#[tokio::test]
async fn a_bad_address_is_permanent_without_the_network() {
    // Nothing listens on the port: were anything sent, the outcome would be a refused connection
    // (temporary), not the address's permanent refusal.
    let transport = smtp(free_port());
    let outcome = transport
        .send(&letter("t1.a5", "kunde@@example.de\u{1b}[31m"))
        .await;
    let Outcome::Permanent { reason } = outcome else {
        panic!("a bad address was not permanent: {outcome:?}");
    };
    assert!(reason.contains("the to address"), "{reason}");
    assert!(reason.contains(r"\u{1b}[31m"), "not escaped: {reason}");
}

#[tokio::test]
async fn the_file_transport_writes_one_eml_per_key() {
    let folder = tempfile::tempdir().expect("a folder");
    let transport = FileTransport::new(folder.path());
    let email = letter("t1.action-44", "kunde@example.de");
    for _ in 0..2 {
        let outcome = transport.send(&email).await;
        assert!(matches!(outcome, Outcome::Sent { .. }), "{outcome:?}");
    }
    let names: Vec<String> = std::fs::read_dir(folder.path())
        .expect("read the folder")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        names,
        ["t1.action-44.eml"],
        "a repeat added a file or left a temporary one"
    );
    let raw = std::fs::read(transport.path_of(&email)).expect("read the .eml");
    assert_received(&raw, &email);
}

#[tokio::test]
async fn the_file_transport_refuses_a_bad_address_and_writes_nothing() {
    let folder = tempfile::tempdir().expect("a folder");
    let transport = FileTransport::new(folder.path());
    let outcome = transport.send(&letter("t1.a6", "not an address")).await;
    assert!(matches!(outcome, Outcome::Permanent { .. }), "{outcome:?}");
    assert_eq!(std::fs::read_dir(folder.path()).expect("read").count(), 0);
}

#[test]
fn an_smtp_transport_outside_a_runtime_is_an_error() {
    let made = SmtpTransport::new(&SmtpConfig {
        host: "127.0.0.1".into(),
        port: 25,
        security: Security::None,
        credentials: None,
        timeout: Duration::from_secs(1),
        max_connections: 1,
    });
    assert!(
        matches!(
            made,
            Err(dunlin_delivery::email::SmtpTransportError::NoRuntime)
        ),
        "{made:?}"
    );
}

#[test]
fn smtp_config_reads_the_environment_and_files_and_hides_the_password() {
    let dir = tempfile::tempdir().expect("a folder");
    let secret = dir.path().join("password");
    std::fs::write(&secret, "s3cret-pässword\n").expect("write the secret");
    let secret_path = secret.to_string_lossy().into_owned();
    let vars = [
        ("DUNLIN_SMTP_HOST", "smtp.example.net"),
        ("DUNLIN_SMTP_SECURITY", "tls"),
        ("DUNLIN_SMTP_USERNAME", "dunlin"),
        ("DUNLIN_SMTP_PASSWORD_FILE", secret_path.as_str()),
        ("DUNLIN_SMTP_TIMEOUT_SECS", "5"),
    ];
    let lookup = |name: &str| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
    };
    let config = SmtpConfig::from_lookup(lookup).expect("a valid configuration");
    assert_eq!(config.host, "smtp.example.net");
    assert_eq!(config.port, 465);
    assert_eq!(config.security, Security::Tls);
    assert_eq!(config.timeout, Duration::from_secs(5));
    assert_eq!(config.max_connections, 16);
    let shown = format!("{config:?}");
    assert!(
        shown.contains("dunlin") && !shown.contains("s3cret"),
        "{shown}"
    );
    assert_eq!(
        config.credentials.as_ref().map(|(_, p)| p.clone()),
        Some(dunlin_delivery::email::Password::new("s3cret-pässword"))
    );

    let refused = |vars: &[(&str, &str)]| {
        SmtpConfig::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
        .expect_err("refused")
        .to_string()
    };
    assert_eq!(refused(&[]), "DUNLIN_SMTP_HOST is not set");
    let err = refused(&[("DUNLIN_SMTP_HOST", "h"), ("DUNLIN_SMTP_SECURITY", "ssl\n")]);
    assert!(
        err.contains(r#""ssl\n""#) && err.contains("none, starttls or tls"),
        "{err}"
    );
    let err = refused(&[("DUNLIN_SMTP_HOST", "h"), ("DUNLIN_SMTP_PORT", "70000")]);
    assert!(err.contains("DUNLIN_SMTP_PORT"), "{err}");
    let err = refused(&[
        ("DUNLIN_SMTP_HOST", "h"),
        ("DUNLIN_SMTP_PASSWORD", "hunter2"),
    ]);
    assert_eq!(err, "DUNLIN_SMTP_USERNAME is not set");
}
