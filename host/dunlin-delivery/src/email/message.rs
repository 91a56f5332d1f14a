//! What to send: [`Email`], and its lettre form.

use dunlin_core::text::quoted;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{Address, Message};

use crate::template::Rendered;
use crate::webhook::{Endpoint, EndpointPolicy};

/// How much of a refused value an error message shows.
const SHOWN_BYTES: usize = 120;
/// The longest idempotency key: it is a file name and half a Message-ID.
const MAX_KEY_BYTES: usize = 128;
/// The longest unsubscribe URL taken; RFC 8058 links are short, signed tokens.
const MAX_URL_BYTES: usize = 2048;
/// How many unsubscribe URLs one email carries.
const MAX_URLS: usize = 4;

/// A stable key naming one action's email across every attempt: it becomes the local part
/// of the `Message-ID` (`<key@sender-domain>`) and the file transport's file name, so a
/// repeat after a crash is recognisable as the same message.
///
/// It is 1 to 128 ASCII letters, digits, `-` and `_`, in dot-separated non-empty runs: a
/// valid `dot-atom-text` of RFC 5322 and a file name without a path, a hidden file or `..`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Checks `key`; a refusal names it escaped.
    pub fn new(key: &str) -> Result<Self, EmailError> {
        let atom = |run: &str| {
            !run.is_empty()
                && run
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if key.len() > MAX_KEY_BYTES || !key.split('.').all(atom) {
            return Err(EmailError::Key {
                key: quoted(key, SHOWN_BYTES),
            });
        }
        Ok(Self(key.to_owned()))
    }

    /// The key as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A mailbox as the outbox knows it: an optional display name and an address, both
/// untrusted until [`Email::to_message`] parses them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    /// The display name (`Acme Oy`, `Jürgen Müller`); encoded per RFC 2047 when not ASCII.
    pub name: Option<String>,
    /// The address (`billing@acme.example`).
    pub address: String,
}

impl Contact {
    /// A contact with a display name.
    pub fn named(name: impl Into<String>, address: impl Into<String>) -> Self {
        Self {
            name: Some(name.into()),
            address: address.into(),
        }
    }

    fn mailbox(&self, role: &'static str) -> Result<Mailbox, EmailError> {
        let address: Address = self.address.parse().map_err(|_| EmailError::Address {
            role,
            address: quoted(&self.address, SHOWN_BYTES),
        })?;
        Ok(Mailbox::new(self.name.clone(), address))
    }
}

/// One email to send: the addresses, the rendered letter, its idempotency key and its
/// one-click unsubscribe links.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    /// The sender; its domain is the right half of the `Message-ID`.
    pub from: Contact,
    /// The recipient.
    pub to: Contact,
    /// Where replies go, when not to the sender.
    pub reply_to: Option<Contact>,
    /// The letter: subject, plain text and HTML, as the template module renders them.
    pub body: Rendered,
    /// The key every attempt of this email carries.
    pub key: IdempotencyKey,
    /// HTTPS one-click unsubscribe links (RFC 8058); none means no `List-Unsubscribe` header.
    pub unsubscribe: Vec<String>,
}

/// Why an email cannot be built: each is permanent, the same email fails the same way.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    /// An address that does not parse.
    #[error("the {role} address {address} is not a valid email address")]
    Address {
        /// `from`, `to` or `reply-to`.
        role: &'static str,
        /// The address, escaped and bounded.
        address: String,
    },
    /// An idempotency key outside [`IdempotencyKey`]'s alphabet or length.
    #[error(
        "the idempotency key {key} is not 1 to {MAX_KEY_BYTES} letters, digits, '-' and '_' in dot-separated runs"
    )]
    Key {
        /// The key, escaped and bounded.
        key: String,
    },
    /// An unsubscribe link that is not an absolute HTTPS URL within bounds.
    #[error("the unsubscribe link {url} is not an https URL (or http to a loopback host) of at most {MAX_URL_BYTES} bytes")]
    UnsubscribeUrl {
        /// The link, escaped and bounded.
        url: String,
    },
    /// More unsubscribe links than one header carries.
    #[error("{count} unsubscribe links; at most {MAX_URLS}")]
    TooManyUnsubscribeUrls {
        /// How many were given.
        count: usize,
    },
    /// lettre refused to assemble the message.
    #[error("the message cannot be assembled")]
    Build(#[source] lettre::error::Error),
}

impl Email {
    /// The `Message-ID` this email carries on every attempt: `<key@sender-domain>`.
    pub fn message_id(&self) -> Result<String, EmailError> {
        Ok(self.message_id_from(&self.from.mailbox("from")?))
    }

    fn message_id_from(&self, from: &Mailbox) -> String {
        format!("<{}@{}>", self.key.as_str(), from.email.domain())
    }

    /// The lettre message: `multipart/alternative` with the plain text first and the HTML
    /// second, both UTF-8, with the headers lettre encodes (RFC 2047 for non-ASCII subjects
    /// and names, folding), so no tenant string can add a header or a part.
    pub fn to_message(&self) -> Result<Message, EmailError> {
        let from = self.from.mailbox("from")?;
        let message_id = self.message_id_from(&from);
        let mut builder = Message::builder()
            .from(from)
            .to(self.to.mailbox("to")?)
            .subject(self.body.subject.clone())
            .message_id(Some(message_id));
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(reply_to.mailbox("reply-to")?);
        }
        if let Some(links) = self.list_unsubscribe()? {
            builder = builder
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe"),
                    links,
                ))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".to_owned(),
                ));
        }
        builder
            .multipart(MultiPart::alternative_plain_html(
                self.body.text.clone(),
                self.body.html.clone(),
            ))
            .map_err(EmailError::Build)
    }

    /// `<https://…>, <https://…>`, from links that parse as absolute HTTPS URLs. A parsed
    /// URL is serialised with spaces, angle brackets, quotes and controls percent-encoded,
    /// so a link cannot close its bracket or start another header.
    fn list_unsubscribe(&self) -> Result<Option<String>, EmailError> {
        if self.unsubscribe.is_empty() {
            return Ok(None);
        }
        if self.unsubscribe.len() > MAX_URLS {
            return Err(EmailError::TooManyUnsubscribeUrls {
                count: self.unsubscribe.len(),
            });
        }
        let mut links = Vec::with_capacity(self.unsubscribe.len());
        for link in &self.unsubscribe {
            let refused = || EmailError::UnsubscribeUrl {
                url: quoted(link, SHOWN_BYTES),
            };
            // The rule of `--unsubscribe-url` (`UnsubscribeBase`): https, or plain http to a
            // loopback host only (a server on the operator's own machine).
            let policy = EndpointPolicy {
                allow_http: false,
                allow_private: true,
            };
            let url = Endpoint::parse(link, &policy)
                .map_err(|_| refused())?
                .url()
                .clone();
            if url.as_str().len() > MAX_URL_BYTES
                || !url.as_str().bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(refused());
            }
            links.push(format!("<{url}>"));
        }
        Ok(Some(links.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> Email {
        Email {
            from: Contact::named("Acme Oy", "billing@acme.example"),
            to: Contact::named("Jürgen Müller", "juergen@example.de"),
            reply_to: None,
            body: Rendered {
                subject: "Zahlungserinnerung".into(),
                text: "Hallo".into(),
                html: "<p>Hallo</p>".into(),
            },
            key: IdempotencyKey::new("t1.a42").expect("a valid key"),
            unsubscribe: vec!["https://acme.example/u/abc".into()],
        }
    }

    #[test]
    fn keys_outside_the_dot_atom_alphabet_are_refused() {
        for bad in [
            "",
            ".a",
            "a.",
            "a..b",
            "a/b",
            "..",
            "a b",
            "a\nb",
            "ä",
            &"k".repeat(129),
        ] {
            assert!(IdempotencyKey::new(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["a", "t-1.action_42", &"k".repeat(128)] {
            assert!(IdempotencyKey::new(good).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn a_bad_address_names_its_role_and_is_escaped() {
        let mut bad = email();
        bad.to.address = "nobody\r\nBcc: victim@example.com".into();
        let err = bad.to_message().expect_err("a header in an address");
        let text = err.to_string();
        assert!(text.contains("the to address"), "{text}");
        assert!(text.contains(r"nobody\r\nBcc"), "{text}");
        assert!(!text.contains('\n'), "{text}");
    }

    #[test]
    fn unsubscribe_links_must_be_https() {
        for bad in [
            "http://acme.example/u",
            "http://10.0.0.5/u",
            "mailto:u@acme.example",
            "not a url",
            "https://",
        ] {
            let mut e = email();
            e.unsubscribe = vec![bad.into()];
            assert!(
                matches!(e.to_message(), Err(EmailError::UnsubscribeUrl { .. })),
                "{bad:?} accepted"
            );
        }
        let mut e = email();
        e.unsubscribe = vec!["http://127.0.0.1:8080/v1/unsubscribe/t".into()];
        assert!(
            e.to_message().is_ok(),
            "a loopback server's plain http link"
        );
        let mut e = email();
        e.unsubscribe = vec!["https://acme.example/u".into(); MAX_URLS + 1];
        assert!(matches!(
            e.to_message(),
            Err(EmailError::TooManyUnsubscribeUrls { count: 5 })
        ));
    }

    #[test]
    fn a_subject_with_a_line_break_stays_one_header() {
        let mut e = email();
        e.body.subject = "Hi\r\nBcc: victim@example.com".into();
        let bytes = e.to_message().expect("builds").formatted();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.lines().any(|l| l.starts_with("Bcc:")),
            "an injected header:\n{text}"
        );
    }
}
