//! Unsubscribe links per RFC 8058 (one-click): a signed, expiring token per tenant, customer
//! and channel, the link that carries it, and the `List-Unsubscribe` and
//! `List-Unsubscribe-Post` header values of an email.
//!
//! The token is `v1.<base64url payload>.<base64url HMAC-SHA256>`: the payload is JSON naming
//! the tenant, the customer, the channel and the expiry (Unix seconds), and the MAC, made with
//! the operator's [`UnsubscribeKey`], covers `v1.<base64url payload>` so that neither the
//! version nor the payload can change without the key. RFC 8058 asks for a link that
//! identifies the recipient and the list without further interaction and is hard to forge:
//! the token is both, and it needs no cookie, session or lookup to be read.
//!
//! The endpoint that honours a link belongs to the HTTP API; how it must verify a token is in
//! `docs/unsubscribe.md`.

use std::fmt;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use url::Url;

use dunlin_core::context::Channel;
use dunlin_core::text::{is_bidi_control, is_control, quoted};

use crate::webhook::endpoint::{Endpoint, EndpointError, EndpointPolicy};

type HmacSha256 = Hmac<Sha256>;

/// The version tag of the token format written today.
pub const VERSION: &str = "v1";
/// The shortest operator key, in bytes (256 bits, the MAC's own strength).
pub const MIN_KEY_BYTES: usize = 32;
/// The longest operator key, in bytes (HMAC-SHA256's block size; a longer key is hashed).
pub const MAX_KEY_BYTES: usize = 64;
/// The longest tenant or customer id a token carries, in bytes.
pub const MAX_ID_BYTES: usize = 256;
/// The longest token accepted, in bytes: two ids at their limit, JSON-escaped at worst, in
/// base64url, with the version and the MAC, fit well inside it.
pub const MAX_TOKEN_BYTES: usize = 2048;
/// The name of the header that lists the link.
pub const HEADER_LIST_UNSUBSCRIBE: &str = "List-Unsubscribe";
/// The name of the header that marks the link as one-click.
pub const HEADER_LIST_UNSUBSCRIBE_POST: &str = "List-Unsubscribe-Post";
/// The value of `List-Unsubscribe-Post`, and the body the mail client POSTs to the link.
pub const ONE_CLICK: &str = "List-Unsubscribe=One-Click";

/// The longest text of a refused value quoted in an error.
const QUOTED_BYTES: usize = 64;
/// The length of the MAC, in bytes.
const TAG_BYTES: usize = 32;

/// The operator's key for unsubscribe links. Never printed: `Debug` and `Display` redact it,
/// and the only way to read it back is [`UnsubscribeKey::expose_base64`], for storing it.
#[derive(Clone, PartialEq, Eq)]
pub struct UnsubscribeKey {
    key: Vec<u8>,
}

impl UnsubscribeKey {
    /// Parses a key written in standard base64 (with padding), 32 to 64 bytes once decoded.
    ///
    /// Errors never quote the text: it is a secret, or a typo of one.
    pub fn parse(written: &str) -> Result<UnsubscribeKey, UnsubscribeError> {
        let written = written.trim();
        // A bound before decoding: a huge value is refused without allocating for it.
        if written.len() > MAX_KEY_BYTES.div_ceil(3) * 4 {
            return Err(UnsubscribeError::KeyLength {
                min: MIN_KEY_BYTES,
                max: MAX_KEY_BYTES,
            });
        }
        let key = STANDARD
            .decode(written)
            .map_err(|_| UnsubscribeError::KeyEncoding)?;
        UnsubscribeKey::from_bytes(key)
    }

    /// A key from its raw bytes (32 to 64 of them).
    pub fn from_bytes(key: Vec<u8>) -> Result<UnsubscribeKey, UnsubscribeError> {
        if !(MIN_KEY_BYTES..=MAX_KEY_BYTES).contains(&key.len()) {
            return Err(UnsubscribeError::KeyLength {
                min: MIN_KEY_BYTES,
                max: MAX_KEY_BYTES,
            });
        }
        Ok(UnsubscribeKey { key })
    }

    /// A new key of 32 bytes from the operating system's random source.
    pub fn generate() -> Result<UnsubscribeKey, UnsubscribeError> {
        let mut key = vec![0; MIN_KEY_BYTES];
        getrandom::fill(&mut key).map_err(UnsubscribeError::KeyGeneration)?;
        UnsubscribeKey::from_bytes(key)
    }

    /// The key in standard base64, the form [`UnsubscribeKey::parse`] reads: for storing it
    /// in the operator's secret store, never for logs.
    pub fn expose_base64(&self) -> String {
        STANDARD.encode(&self.key)
    }

    fn mac(&self, signed: &str) -> HmacSha256 {
        let mut mac =
            HmacSha256::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        mac.update(signed.as_bytes());
        mac
    }

    /// Whether `tag` is this key's MAC of `signed`, compared in constant time.
    fn matches(&self, signed: &str, tag: &[u8]) -> bool {
        self.mac(signed).verify_slice(tag).is_ok()
    }
}

impl fmt::Debug for UnsubscribeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UnsubscribeKey([redacted])")
    }
}

impl fmt::Display for UnsubscribeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// What one link unsubscribes: one customer of one tenant from one channel, until the link
/// expires. The ids are checked when the token is made, so every token that exists is one
/// that can be signed and printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsubscribeToken {
    tenant: String,
    customer: String,
    channel: Channel,
    expires_at: DateTime<Utc>,
}

impl UnsubscribeToken {
    /// Checks the ids (1 to [`MAX_ID_BYTES`] bytes, no control or bidirectional control
    /// characters) and makes a token that expires at `expires_at`, cut to the whole second
    /// the token carries.
    pub fn new(
        tenant: &str,
        customer: &str,
        channel: Channel,
        expires_at: DateTime<Utc>,
    ) -> Result<UnsubscribeToken, UnsubscribeError> {
        check_id(IdField::Tenant, tenant)?;
        check_id(IdField::Customer, customer)?;
        let expires_at = DateTime::from_timestamp(expires_at.timestamp(), 0)
            .expect("a whole second of a valid instant is valid");
        Ok(UnsubscribeToken {
            tenant: tenant.to_owned(),
            customer: customer.to_owned(),
            channel,
            expires_at,
        })
    }

    /// The tenant whose customer unsubscribes.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The customer who unsubscribes.
    pub fn customer(&self) -> &str {
        &self.customer
    }

    /// The channel the customer leaves.
    pub fn channel(&self) -> Channel {
        self.channel
    }

    /// The first instant at which the link no longer works.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }
}

/// Which id of a token is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdField {
    /// The tenant's id.
    Tenant,
    /// The customer's id.
    Customer,
}

impl fmt::Display for IdField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdField::Tenant => "tenant",
            IdField::Customer => "customer",
        })
    }
}

/// What is wrong with a refused id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdProblem {
    /// It is empty.
    Empty,
    /// It is longer than [`MAX_ID_BYTES`].
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// It contains a control or bidirectional control character.
    ControlCharacter,
}

impl fmt::Display for IdProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdProblem::Empty => f.write_str("it is empty"),
            IdProblem::TooLong { len } => {
                write!(f, "it is {len} bytes long; at most {MAX_ID_BYTES} allowed")
            }
            IdProblem::ControlCharacter => f.write_str("it contains a control character"),
        }
    }
}

fn check_id(field: IdField, id: &str) -> Result<(), UnsubscribeError> {
    let problem = if id.is_empty() {
        IdProblem::Empty
    } else if id.len() > MAX_ID_BYTES {
        IdProblem::TooLong { len: id.len() }
    } else if id.chars().any(|c| is_control(c) || is_bidi_control(c)) {
        IdProblem::ControlCharacter
    } else {
        return Ok(());
    };
    Err(UnsubscribeError::BadId {
        field,
        value: quoted(id, QUOTED_BYTES),
        problem,
    })
}

/// The signed part of a `v1` token. Short field names keep links short.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    t: String,
    c: String,
    ch: Channel,
    exp: i64,
}

/// The keys that sign and verify links: the current one, and during a rotation the previous
/// one, which still verifies (never signs) until a given instant, so that links already in
/// customers' mailboxes keep working while the operator switches.
#[derive(Clone, Debug)]
pub struct UnsubscribeKeys {
    current: UnsubscribeKey,
    previous: Option<(UnsubscribeKey, DateTime<Utc>)>,
}

impl UnsubscribeKeys {
    /// Keys with one key.
    pub fn new(current: UnsubscribeKey) -> UnsubscribeKeys {
        UnsubscribeKeys {
            current,
            previous: None,
        }
    }

    /// Keys in rotation: `current` signs, and `previous` also verifies before
    /// `previous_until`. Set `previous_until` no earlier than the expiry of the last link
    /// `previous` signed, or those links stop working early.
    pub fn rotating(
        current: UnsubscribeKey,
        previous: UnsubscribeKey,
        previous_until: DateTime<Utc>,
    ) -> UnsubscribeKeys {
        UnsubscribeKeys {
            current,
            previous: Some((previous, previous_until)),
        }
    }

    /// The token's written form, `v1.<base64url payload>.<base64url MAC>`, signed with the
    /// current key.
    pub fn sign(&self, token: &UnsubscribeToken) -> String {
        let payload = Payload {
            t: token.tenant.clone(),
            c: token.customer.clone(),
            ch: token.channel,
            exp: token.expires_at.timestamp(),
        };
        let json = serde_json::to_vec(&payload).expect("a struct of strings and numbers");
        let signed = format!("{VERSION}.{}", URL_SAFE_NO_PAD.encode(json));
        let tag = self.current.mac(&signed).finalize().into_bytes();
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// The link for `token` under `base`: the signed token as the base's last path segment.
    pub fn link(&self, base: &UnsubscribeBase, token: &UnsubscribeToken) -> Url {
        let mut url = base.url.clone();
        url.path_segments_mut()
            .expect("an http(s) URL has a path")
            .pop_if_empty()
            .push(&self.sign(token));
        url
    }

    /// Reads a token as the unsubscribe endpoint received it: the format, the version, the
    /// MAC (constant-time, by the current key or by the previous one before its end), then
    /// the expiry (`now` at or after it is expired). A token that fails the MAC says nothing
    /// about its content, and nothing in `written` panics.
    pub fn verify(
        &self,
        written: &str,
        now: DateTime<Utc>,
    ) -> Result<UnsubscribeToken, UnsubscribeError> {
        if written.len() > MAX_TOKEN_BYTES {
            return Err(UnsubscribeError::TooLong {
                len: written.len(),
                max: MAX_TOKEN_BYTES,
            });
        }
        let (signed, encoded_tag) = written
            .rsplit_once('.')
            .ok_or(UnsubscribeError::Malformed("it has no MAC"))?;
        let (version, encoded_payload) = signed
            .split_once('.')
            .ok_or(UnsubscribeError::Malformed("it has no version"))?;
        if version != VERSION {
            return Err(UnsubscribeError::UnknownVersion {
                version: quoted(version, QUOTED_BYTES),
            });
        }
        let tag = URL_SAFE_NO_PAD
            .decode(encoded_tag)
            .ok()
            .filter(|tag| tag.len() == TAG_BYTES)
            .ok_or(UnsubscribeError::Malformed(
                "its MAC is not 32 bytes of base64url",
            ))?;
        let previous = self
            .previous
            .as_ref()
            .filter(|(_, until)| now < *until)
            .map(|(key, _)| key);
        let authentic = std::iter::once(&self.current)
            .chain(previous)
            .any(|key| key.matches(signed, &tag));
        if !authentic {
            return Err(UnsubscribeError::BadSignature);
        }
        // Only our own keys made what follows; a failure here is a bug or a leaked key, and
        // is still refused rather than trusted.
        let payload: Payload = URL_SAFE_NO_PAD
            .decode(encoded_payload)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or(UnsubscribeError::Malformed(
                "its payload is not a v1 payload",
            ))?;
        let expires_at = DateTime::from_timestamp(payload.exp, 0)
            .ok_or(UnsubscribeError::Malformed("its expiry is out of range"))?;
        let token = UnsubscribeToken::new(&payload.t, &payload.c, payload.ch, expires_at)?;
        if now >= token.expires_at {
            return Err(UnsubscribeError::Expired {
                expired_at: token.expires_at,
            });
        }
        Ok(token)
    }
}

/// The URL under which links are made, from the tenant's or the operator's settings.
///
/// The rule is the webhook endpoints' ([`Endpoint::parse`]): `https`, or `http` to a loopback
/// host; at most 2,048 bytes; no credentials, no fragment. Private addresses are allowed,
/// since Dunlin never connects to this URL: the recipient's mail client does. A query is
/// refused, so that the token is always the last path segment and nothing else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsubscribeBase {
    url: Url,
}

impl UnsubscribeBase {
    /// Checks `raw` as the base of unsubscribe links.
    pub fn parse(raw: &str) -> Result<UnsubscribeBase, UnsubscribeError> {
        let policy = EndpointPolicy {
            allow_http: false,
            allow_private: true,
        };
        let url = Endpoint::parse(raw, &policy)
            .map_err(UnsubscribeError::BaseUrl)?
            .url()
            .clone();
        if url.query().is_some() {
            return Err(UnsubscribeError::BaseUrlQuery {
                url: quoted(raw, QUOTED_BYTES),
            });
        }
        Ok(UnsubscribeBase { url })
    }

    /// The checked URL.
    pub fn url(&self) -> &Url {
        &self.url
    }
}

/// The header values that offer one-click unsubscription on an email (RFC 8058 section 3.1):
/// `List-Unsubscribe` with the one HTTPS link in angle brackets, and `List-Unsubscribe-Post`
/// with `List-Unsubscribe=One-Click`.
///
/// No `mailto:` form is listed beside the link: RFC 8058 allows other URIs and RFC 2369
/// permits several, but neither asks for one, and Dunlin receives no mail to honour it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsubscribeHeaders {
    /// `List-Unsubscribe`: `<https://…>`.
    pub list_unsubscribe: String,
    /// `List-Unsubscribe-Post`: `List-Unsubscribe=One-Click`.
    pub list_unsubscribe_post: &'static str,
}

impl UnsubscribeHeaders {
    /// The headers for `link`. A parsed URL is percent-encoded ASCII without `<`, `>` or
    /// whitespace, so it cannot break out of its brackets or its header line.
    pub fn for_link(link: &Url) -> UnsubscribeHeaders {
        UnsubscribeHeaders {
            list_unsubscribe: format!("<{link}>"),
            list_unsubscribe_post: ONE_CLICK,
        }
    }

    /// The headers as (name, value) pairs.
    pub fn pairs(&self) -> [(&'static str, String); 2] {
        [
            (HEADER_LIST_UNSUBSCRIBE, self.list_unsubscribe.clone()),
            (
                HEADER_LIST_UNSUBSCRIBE_POST,
                self.list_unsubscribe_post.to_owned(),
            ),
        ]
    }
}

/// Whether a form field is the one-click request RFC 8058 has the mail client POST
/// ([`ONE_CLICK`]: the field `List-Unsubscribe` with the value `One-Click`), whichever form
/// encoding carried it.
pub fn is_one_click(name: &str, value: &str) -> bool {
    let (one_name, one_value) = ONE_CLICK
        .split_once('=')
        .expect("ONE_CLICK is a name=value pair");
    name == one_name && value == one_value
}

/// Whether an `application/x-www-form-urlencoded` body carries the one-click field.
pub fn form_is_one_click(body: &[u8]) -> bool {
    url::form_urlencoded::parse(body).any(|(name, value)| is_one_click(&name, &value))
}

/// Why a key, a token or a link cannot be made or read. Never quotes a key; quotes other
/// values bounded and escaped.
#[derive(Debug, thiserror::Error)]
pub enum UnsubscribeError {
    /// The key is not standard base64.
    #[error("an unsubscribe key is written in standard base64")]
    KeyEncoding,
    /// The key is shorter or longer than allowed.
    #[error("an unsubscribe key is {min} to {max} bytes long")]
    KeyLength {
        /// The shortest key.
        min: usize,
        /// The longest key.
        max: usize,
    },
    /// The operating system gave no random bytes for a new key.
    #[error("no random bytes for a new unsubscribe key")]
    KeyGeneration(#[source] getrandom::Error),
    /// A tenant or customer id cannot go into a token.
    #[error("the {field} id {value} cannot go into an unsubscribe link: {problem}")]
    BadId {
        /// Which id.
        field: IdField,
        /// The id, bounded, escaped and quoted.
        value: String,
        /// What is wrong with it.
        problem: IdProblem,
    },
    /// The base URL is refused by the endpoint rules.
    #[error("the unsubscribe base URL is refused")]
    BaseUrl(#[source] EndpointError),
    /// The base URL has a query.
    #[error("the unsubscribe base URL {url} has a query; the token is its last path segment")]
    BaseUrlQuery {
        /// The URL, bounded, escaped and quoted.
        url: String,
    },
    /// The token is longer than any token Dunlin writes.
    #[error("the unsubscribe token is {len} bytes long; at most {max} expected")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The token is not `<version>.<payload>.<MAC>` in base64url.
    #[error("the unsubscribe token is malformed: {0}")]
    Malformed(&'static str),
    /// The token's version is not one this build reads.
    #[error("the unsubscribe token's version {version} is unknown")]
    UnknownVersion {
        /// The version, bounded, escaped and quoted.
        version: String,
    },
    /// No live key made the token's MAC: forged, altered or signed by a retired key.
    #[error("the unsubscribe token's signature does not match")]
    BadSignature,
    /// The token is authentic but past its expiry.
    #[error("the unsubscribe link expired at {expired_at}")]
    Expired {
        /// When it expired.
        expired_at: DateTime<Utc>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_one_click_field_is_a_one_click_request() {
        assert!(form_is_one_click(b"List-Unsubscribe=One-Click"));
        assert!(form_is_one_click(b"a=b&List-Unsubscribe=One-Click"));
        assert!(!form_is_one_click(b""));
        assert!(!form_is_one_click(b"List-Unsubscribe=one-click"));
        assert!(!form_is_one_click(b"List-Unsubscribe%3DOne-Click"));
        assert!(is_one_click("List-Unsubscribe", "One-Click"));
        assert!(!is_one_click("List-Unsubscribe-Post", "One-Click"));
    }

    use chrono::TimeDelta;

    const BASE: &str = "https://pay.example.com/unsubscribe";

    fn key(byte: u8) -> UnsubscribeKey {
        UnsubscribeKey::from_bytes(vec![byte; MIN_KEY_BYTES]).expect("32 bytes is a valid key")
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).expect("a valid instant")
    }

    const EXPIRES: i64 = 1_800_000_000;

    fn token(tenant: &str, customer: &str, channel: Channel) -> UnsubscribeToken {
        UnsubscribeToken::new(tenant, customer, channel, at(EXPIRES)).expect("valid ids")
    }

    fn sample() -> UnsubscribeToken {
        token("acme", "cust-42", Channel::Email)
    }

    /// The token's three parts, split where `verify` splits them.
    fn parts(written: &str) -> (&str, &str, &str) {
        let (signed, tag) = written.rsplit_once('.').expect("a MAC");
        let (version, payload) = signed.split_once('.').expect("a version");
        (version, payload, tag)
    }

    /// `written` with the character at `index` replaced by `with`.
    fn replaced(written: &str, index: usize, with: char) -> String {
        let mut chars: Vec<char> = written.chars().collect();
        chars[index] = with;
        chars.into_iter().collect()
    }

    /// A base64url character other than `c`, whose low bits differ too, so that even a
    /// part's last character (whose low bits may be padding) changes the decoded bytes or
    /// stops them decoding.
    fn other_b64(c: char) -> char {
        if c == 'A' {
            'B'
        } else {
            'A'
        }
    }

    #[test]
    fn token_round_trips_through_sign_and_verify() {
        let keys = UnsubscribeKeys::new(key(1));
        let precise = at(EXPIRES) + TimeDelta::milliseconds(750);
        let issued =
            UnsubscribeToken::new("acme", "cust-42", Channel::Sms, precise).expect("valid ids");
        // The token carries whole seconds.
        assert_eq!(issued.expires_at(), at(EXPIRES));
        let written = keys.sign(&issued);
        assert!(written.starts_with("v1."), "{written}");
        assert!(written.len() <= MAX_TOKEN_BYTES);
        assert!(
            written
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')),
            "{written}"
        );
        let read = keys.verify(&written, at(EXPIRES - 1)).expect("authentic");
        assert_eq!(read, issued);
        assert_eq!(read.tenant(), "acme");
        assert_eq!(read.customer(), "cust-42");
        assert_eq!(read.channel(), Channel::Sms);
        // Signing is deterministic: the same token, the same link, on every retry.
        assert_eq!(keys.sign(&issued), written);
    }

    /// The example of `docs/unsubscribe.md`, computed independently before it was written
    /// here: `python3 -c 'import hmac,hashlib,base64; e=lambda b: base64.urlsafe_b64encode(b)
    /// .rstrip(b"=").decode(); s="v1."+e(PAYLOAD); print(s+"."+e(hmac.new(bytes([1])*32,
    /// s.encode(), hashlib.sha256).digest()))'` printed the same token.
    #[test]
    fn sign_matches_the_documented_example() {
        const DOCUMENTED: &str = "v1.eyJ0IjoiYWNtZSIsImMiOiJjdXN0LTQyIiwiY2giOiJlbWFpbCIsImV4cCI6MTgwMDAwMDAwMH0.HfJjKs_VH1kWi9AJIYGNjUlk6UNVH_i4Hqy7W5-uPoU";
        let key = UnsubscribeKey::parse("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=")
            .expect("the documented key");
        let keys = UnsubscribeKeys::new(key);
        assert_eq!(keys.sign(&sample()), DOCUMENTED);
        let (_, payload, _) = parts(DOCUMENTED);
        assert_eq!(
            URL_SAFE_NO_PAD.decode(payload).expect("base64url"),
            br#"{"t":"acme","c":"cust-42","ch":"email","exp":1800000000}"#
        );
        assert_eq!(
            keys.verify(DOCUMENTED, at(EXPIRES - 1)).expect("ok"),
            sample()
        );
    }

    #[test]
    fn every_tamper_is_refused_with_its_error() {
        let keys = UnsubscribeKeys::new(key(1));
        let written = keys.sign(&sample());
        let now = at(EXPIRES - 60);
        let (version, payload, tag) = parts(&written);

        // One character of the payload.
        let i = version.len() + 1 + payload.len() / 2;
        let c = written.chars().nth(i).expect("in range");
        assert!(matches!(
            keys.verify(&replaced(&written, i, other_b64(c)), now),
            Err(UnsubscribeError::BadSignature)
        ));
        // One character of the MAC, in the middle and at the end.
        for i in [written.len() - tag.len() / 2, written.len() - 1] {
            let c = written.chars().nth(i).expect("in range");
            let result = keys.verify(&replaced(&written, i, other_b64(c)), now);
            assert!(
                matches!(
                    result,
                    Err(UnsubscribeError::BadSignature | UnsubscribeError::Malformed(_))
                ),
                "{result:?}"
            );
        }
        let i = written.len() - tag.len() / 2;
        let c = written.chars().nth(i).expect("in range");
        assert!(matches!(
            keys.verify(&replaced(&written, i, other_b64(c)), now),
            Err(UnsubscribeError::BadSignature)
        ));
        // Truncated: the MAC short by a character, the MAC gone, the payload gone, nothing.
        for cut in [
            &written[..written.len() - 1],
            &written[..written.len() - tag.len() - 1],
            &written[..written.len() - tag.len()],
            "v1",
            "",
        ] {
            assert!(
                matches!(keys.verify(cut, now), Err(UnsubscribeError::Malformed(_))),
                "{cut:?}"
            );
        }
        // The MAC of the payload without the version, or of another payload.
        let unversioned = format!(
            "v1.{payload}.{}",
            URL_SAFE_NO_PAD.encode(key(1).mac(payload).finalize().into_bytes())
        );
        assert!(matches!(
            keys.verify(&unversioned, now),
            Err(UnsubscribeError::BadSignature)
        ));
        // Another key.
        assert!(matches!(
            UnsubscribeKeys::new(key(2)).verify(&written, now),
            Err(UnsubscribeError::BadSignature)
        ));
        // Another version, even with a MAC made by the right key over it.
        let v2_signed = format!("v2.{payload}");
        let v2 = format!(
            "{v2_signed}.{}",
            URL_SAFE_NO_PAD.encode(key(1).mac(&v2_signed).finalize().into_bytes())
        );
        for other in [
            v2,
            written.replacen("v1.", "V1.", 1),
            written.replacen("v1.", ".", 1),
        ] {
            assert!(
                matches!(
                    keys.verify(&other, now),
                    Err(UnsubscribeError::UnknownVersion { .. })
                ),
                "{other}"
            );
        }
        // Too long to be ours: refused before any decoding.
        let long = format!("v1.{}.{tag}", "A".repeat(MAX_TOKEN_BYTES));
        assert!(matches!(
            keys.verify(&long, now),
            Err(UnsubscribeError::TooLong { .. })
        ));
    }

    #[test]
    fn a_signed_payload_that_is_not_v1_is_still_refused() {
        let keys = UnsubscribeKeys::new(key(1));
        let now = at(EXPIRES - 60);
        let signed_by_us = |json: &str| {
            let signed = format!("v1.{}", URL_SAFE_NO_PAD.encode(json));
            let tag = key(1).mac(&signed).finalize().into_bytes();
            format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag))
        };
        for json in [
            r#"{"t":"acme","c":"cust-42","ch":"email","exp":1800000000,"admin":true}"#,
            r#"{"t":"acme","c":"cust-42","ch":"fax","exp":1800000000}"#,
            r#"{"t":"acme","c":"cust-42","ch":"email","exp":9223372036854775807}"#,
            r#"{"t":"acme","ch":"email","exp":1800000000}"#,
            "not json",
        ] {
            assert!(
                matches!(
                    keys.verify(&signed_by_us(json), now),
                    Err(UnsubscribeError::Malformed(_))
                ),
                "{json}"
            );
        }
        // Ids are checked on the way in as on the way out.
        let hostile = signed_by_us(r#"{"t":"acme\n","c":"cust-42","ch":"email","exp":1800000000}"#);
        assert!(matches!(
            keys.verify(&hostile, now),
            Err(UnsubscribeError::BadId {
                field: IdField::Tenant,
                problem: IdProblem::ControlCharacter,
                ..
            })
        ));
    }

    #[test]
    fn expiry_is_exclusive_to_the_second() {
        let keys = UnsubscribeKeys::new(key(1));
        let written = keys.sign(&sample());
        assert_eq!(
            keys.verify(&written, at(EXPIRES - 1))
                .expect("before expiry"),
            sample()
        );
        assert!(keys
            .verify(&written, at(EXPIRES) - TimeDelta::milliseconds(1))
            .is_ok());
        for now in [at(EXPIRES), at(EXPIRES + 1), at(EXPIRES + 86_400 * 365)] {
            match keys.verify(&written, now) {
                Err(UnsubscribeError::Expired { expired_at }) => {
                    assert_eq!(expired_at, at(EXPIRES))
                }
                other => panic!("{now}: {other:?}"),
            }
        }
    }

    #[test]
    fn rotation_accepts_the_previous_key_until_its_end() {
        let (old, new) = (key(1), key(2));
        let until = at(EXPIRES - 1000);
        let by_old = UnsubscribeKeys::new(old.clone()).sign(&sample());
        let keys = UnsubscribeKeys::rotating(new.clone(), old, until);
        // New links are signed by the new key alone.
        let by_new = keys.sign(&sample());
        assert_eq!(by_new, UnsubscribeKeys::new(new).sign(&sample()));
        assert_ne!(by_new, by_old);

        assert_eq!(
            keys.verify(&by_old, until - TimeDelta::seconds(1))
                .expect("old key still live"),
            sample()
        );
        for now in [until, until + TimeDelta::seconds(1)] {
            assert!(
                matches!(
                    keys.verify(&by_old, now),
                    Err(UnsubscribeError::BadSignature)
                ),
                "{now}"
            );
            assert_eq!(keys.verify(&by_new, now).expect("new key"), sample());
        }
    }

    #[test]
    fn a_token_never_verifies_as_another_recipients() {
        let keys = UnsubscribeKeys::new(key(1));
        let now = at(EXPIRES - 60);
        let tokens = [
            token("acme", "cust-1", Channel::Email),
            token("globex", "cust-1", Channel::Email),
            token("acme", "cust-2", Channel::Email),
            token("acme", "cust-1", Channel::Sms),
            // Ids that would run together in a naive `tenant.customer` format.
            token("a.b", "c", Channel::Email),
            token("a", "b.c", Channel::Email),
            token("a\"", "b", Channel::Email),
            token("a", "\"b", Channel::Email),
        ];
        let written: Vec<String> = tokens.iter().map(|t| keys.sign(t)).collect();
        for (i, one) in written.iter().enumerate() {
            assert_eq!(keys.verify(one, now).expect("authentic"), tokens[i]);
            for (j, other) in written.iter().enumerate() {
                if i == j {
                    continue;
                }
                assert_ne!(one, other);
                // One recipient's payload under another's MAC.
                let (_, payload, _) = parts(one);
                let (_, _, tag) = parts(other);
                assert!(
                    matches!(
                        keys.verify(&format!("v1.{payload}.{tag}"), now),
                        Err(UnsubscribeError::BadSignature)
                    ),
                    "{i} {j}"
                );
            }
        }
    }

    #[test]
    fn hostile_ids_are_refused_at_issue_and_quoted_inert() {
        let too_long = "x".repeat(MAX_ID_BYTES + 1);
        // Multi-byte characters count in bytes: 128 two-byte characters plus one.
        let too_long_wide = format!("{}x", "ä".repeat(MAX_ID_BYTES / 2));
        let cases: [(&str, IdProblem); 9] = [
            ("", IdProblem::Empty),
            ("cust\n42", IdProblem::ControlCharacter),
            ("cust\r42", IdProblem::ControlCharacter),
            ("\x1b[31mred", IdProblem::ControlCharacter),
            ("nul\0", IdProblem::ControlCharacter),
            ("c1\u{9b}2J", IdProblem::ControlCharacter),
            ("\u{202e}desrever", IdProblem::ControlCharacter),
            (
                &too_long,
                IdProblem::TooLong {
                    len: MAX_ID_BYTES + 1,
                },
            ),
            (
                &too_long_wide,
                IdProblem::TooLong {
                    len: MAX_ID_BYTES + 1,
                },
            ),
        ];
        for (id, expected) in cases {
            for (field, result) in [
                (
                    IdField::Tenant,
                    UnsubscribeToken::new(id, "cust", Channel::Email, at(EXPIRES)),
                ),
                (
                    IdField::Customer,
                    UnsubscribeToken::new("acme", id, Channel::Email, at(EXPIRES)),
                ),
            ] {
                let err = result.expect_err("a hostile id");
                let message = err.to_string();
                match err {
                    UnsubscribeError::BadId {
                        field: f, problem, ..
                    } => {
                        assert_eq!((f, problem), (field, expected), "{id:?}");
                    }
                    other => panic!("{id:?}: {other:?}"),
                }
                assert!(!message.chars().any(is_control), "{message}");
                assert!(!message.chars().any(is_bidi_control), "{message}");
                assert!(message.len() < 200, "{message}");
            }
        }
        // At the limit, and with every character JSON must escape that an id may hold, a
        // token is still within the bound and round-trips.
        let keys = UnsubscribeKeys::new(key(1));
        let widest = "\"\\".repeat(MAX_ID_BYTES / 2);
        let worst = token(&widest, &widest, Channel::InApp);
        let written = keys.sign(&worst);
        assert!(written.len() <= MAX_TOKEN_BYTES, "{}", written.len());
        assert_eq!(keys.verify(&written, at(EXPIRES - 1)).expect("ok"), worst);
        let unicode = token("tenant-ü", "клиент ✓ 42", Channel::Letter);
        assert_eq!(
            keys.verify(&keys.sign(&unicode), at(EXPIRES - 1))
                .expect("ok"),
            unicode
        );
    }

    #[test]
    fn unknown_versions_are_quoted_inert() {
        let keys = UnsubscribeKeys::new(key(1));
        let hostile = format!("\x1b]0;pwned\x07{}.AAAA.AAAA", "v".repeat(500));
        let err = keys
            .verify(&hostile, at(EXPIRES - 1))
            .expect_err("no such version");
        let message = err.to_string();
        assert!(matches!(err, UnsubscribeError::UnknownVersion { .. }));
        assert!(message.contains(r"\u{1b}]0;pwned\u{7}"), "{message}");
        assert!(message.len() < 200, "{message}");
    }

    #[test]
    fn headers_have_rfc_8058_shape() {
        let keys = UnsubscribeKeys::new(key(1));
        let base = UnsubscribeBase::parse(BASE).expect("an https base");
        let link = keys.link(&base, &sample());
        let written = keys.sign(&sample());
        assert_eq!(
            link.as_str(),
            format!("https://pay.example.com/unsubscribe/{written}")
        );
        // The endpoint reads the token back from the link's last path segment.
        let segment = link
            .path_segments()
            .and_then(|mut s| s.next_back())
            .expect("a last segment");
        assert_eq!(keys.verify(segment, at(EXPIRES - 1)).expect("ok"), sample());
        let headers = UnsubscribeHeaders::for_link(&link);
        assert_eq!(
            headers.pairs(),
            [
                (
                    "List-Unsubscribe",
                    format!("<https://pay.example.com/unsubscribe/{written}>")
                ),
                (
                    "List-Unsubscribe-Post",
                    "List-Unsubscribe=One-Click".to_owned()
                ),
            ]
        );
        // A trailing slash on the base does not double it.
        let slashed = UnsubscribeBase::parse("https://pay.example.com/u/").expect("ok");
        assert_eq!(
            keys.link(&slashed, &sample()).as_str(),
            format!("https://pay.example.com/u/{written}")
        );
    }

    #[test]
    fn base_url_is_https_unless_loopback() {
        for good in [
            BASE,
            "https://10.0.0.5/unsubscribe",
            "http://127.0.0.1:8080/unsubscribe",
            "http://localhost:3000",
            "http://[::1]/u",
        ] {
            assert!(UnsubscribeBase::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "http://pay.example.com/unsubscribe",
            "ftp://pay.example.com/unsubscribe",
            "mailto:unsubscribe@example.com",
            "https://user:pw@pay.example.com/u",
            "https://pay.example.com/u#frag",
            "not a url",
        ] {
            assert!(
                matches!(
                    UnsubscribeBase::parse(bad),
                    Err(UnsubscribeError::BaseUrl(_))
                ),
                "{bad}"
            );
        }
        let err = UnsubscribeBase::parse("https://pay.example.com/u?tenant=\x1b[31m")
            .expect_err("a query");
        assert!(matches!(err, UnsubscribeError::BaseUrlQuery { .. }));
        assert!(!err.to_string().chars().any(is_control), "{err}");
    }

    #[test]
    fn key_parses_generates_and_is_never_printed() {
        let written = STANDARD.encode([7u8; 32]);
        let parsed = UnsubscribeKey::parse(&format!("{written}\n")).expect("32 bytes");
        assert_eq!(parsed, key(7));
        assert_eq!(parsed.expose_base64(), written);
        for edge in [MIN_KEY_BYTES, MAX_KEY_BYTES] {
            assert!(UnsubscribeKey::parse(&STANDARD.encode(vec![1u8; edge])).is_ok());
        }
        for bad in [
            STANDARD.encode([1u8; MIN_KEY_BYTES - 1]),
            STANDARD.encode([1u8; MAX_KEY_BYTES + 1]),
            "A".repeat(1 << 20),
        ] {
            assert!(matches!(
                UnsubscribeKey::parse(&bad),
                Err(UnsubscribeError::KeyLength { .. })
            ));
        }
        assert!(matches!(
            UnsubscribeKey::parse("not base64!"),
            Err(UnsubscribeError::KeyEncoding)
        ));

        let one = UnsubscribeKey::generate().expect("the OS has randomness");
        let two = UnsubscribeKey::generate().expect("the OS has randomness");
        assert_ne!(one, two);
        assert_eq!(
            STANDARD.decode(one.expose_base64()).expect("base64").len(),
            MIN_KEY_BYTES
        );
        let text = one.expose_base64();
        for shown in [
            format!("{one}"),
            format!("{one:?}"),
            format!("{:?}", UnsubscribeKeys::rotating(one.clone(), two, at(0))),
        ] {
            assert!(!shown.contains(&text), "{shown}");
            assert!(shown.contains("redacted"), "{shown}");
        }
    }

    /// SplitMix64: a deterministic generator, so a failure reproduces from its seed.
    struct SplitMix(u64);

    impl SplitMix {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % n as u64).expect("below a usize")
        }

        fn id(&mut self) -> String {
            const ALPHABET: &[char] = &[
                'a', 'z', '0', '9', '-', '_', '.', ' ', '"', '\\', '/', '?', '#', '%', 'ä', 'ж',
                '✓', '😀',
            ];
            let len = 1 + self.below(40);
            (0..len)
                .map(|_| ALPHABET[self.below(ALPHABET.len())])
                .collect()
        }
    }

    #[test]
    fn no_single_byte_change_of_any_token_verifies() {
        const CHANNELS: [Channel; 5] = [
            Channel::Email,
            Channel::Sms,
            Channel::Letter,
            Channel::Phone,
            Channel::InApp,
        ];
        let keys = UnsubscribeKeys::new(key(3));
        let mut rng = SplitMix(0x5EED_0018);
        let mut refusals = [0usize; 4];
        for _ in 0..64 {
            let expires = EXPIRES + i64::try_from(rng.below(1_000_000)).expect("small");
            let issued = UnsubscribeToken::new(
                &rng.id(),
                &rng.id(),
                CHANNELS[rng.below(CHANNELS.len())],
                at(expires),
            )
            .expect("the alphabet holds no control character");
            let written = keys.sign(&issued);
            let now = at(expires - 1);
            assert_eq!(keys.verify(&written, now).expect("authentic"), issued);
            let bytes = written.as_bytes();
            for i in 0..bytes.len() {
                let mut changed = bytes.to_vec();
                // Any other byte value, printable or not.
                let flip = u8::try_from(1 + rng.below(255)).expect("1..=255");
                changed[i] ^= flip;
                let changed = String::from_utf8_lossy(&changed);
                match keys.verify(&changed, now) {
                    Ok(token) => panic!("{written} with byte {i} ^ {flip:#x} verified: {token:?}"),
                    Err(UnsubscribeError::BadSignature) => refusals[0] += 1,
                    Err(UnsubscribeError::Malformed(_)) => refusals[1] += 1,
                    Err(UnsubscribeError::UnknownVersion { .. }) => refusals[2] += 1,
                    Err(other) => panic!("{written} with byte {i} changed: {other:?}"),
                }
                // The same position changed to another base64url character: still a
                // well-formed token, so the MAC is what refuses it (or, in the version,
                // the version check).
                let c = char::from(bytes[i]);
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    let (version, _, _) = parts(&written);
                    let swapped = replaced(&written, i, other_b64(c));
                    match keys.verify(&swapped, now) {
                        Err(UnsubscribeError::UnknownVersion { .. }) if i < version.len() => {
                            refusals[3] += 1
                        }
                        Err(UnsubscribeError::BadSignature | UnsubscribeError::Malformed(_))
                            if i > version.len() =>
                        {
                            refusals[3] += 1
                        }
                        other => panic!("{written} with char {i} swapped: {other:?}"),
                    }
                }
            }
        }
        // Every kind of refusal was exercised, and most changes reached the MAC.
        assert!(refusals.iter().all(|&n| n > 0), "{refusals:?}");
        assert!(refusals[0] > refusals[1] + refusals[2], "{refusals:?}");
    }
}
