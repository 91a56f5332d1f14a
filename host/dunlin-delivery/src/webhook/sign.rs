//! Signatures per the Standard Webhooks specification, so that tenants verify deliveries with
//! the specification's published libraries in any language.
//!
//! Every delivery carries `webhook-id` (the action's idempotency key, the same on every
//! attempt), `webhook-timestamp` (Unix seconds of the attempt) and `webhook-signature`: one
//! `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` per live secret, space-separated.
//! During a rotation an endpoint holds its new secret and the previous one until the previous
//! one expires, so a receiver that still knows only one of them verifies either way.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use dunlin_core::text::{truncate, Escaped};
use dunlin_store::EndpointRow;

type HmacSha256 = Hmac<Sha256>;

/// The prefix of a secret's written form.
pub const SECRET_PREFIX: &str = "whsec_";
/// The shortest key the specification allows, in bytes (192 bits).
pub const MIN_KEY_BYTES: usize = 24;
/// The longest key the specification allows, in bytes (512 bits).
pub const MAX_KEY_BYTES: usize = 64;
/// The header carrying the message id.
pub const HEADER_ID: &str = "webhook-id";
/// The header carrying the attempt's Unix timestamp.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// The header carrying the signatures.
pub const HEADER_SIGNATURE: &str = "webhook-signature";
/// The tolerance the official libraries enforce: five minutes either way.
pub const DEFAULT_TOLERANCE_SECS: u64 = 5 * 60;
/// The longest message id accepted, in bytes. Ids are ours (idempotency keys), but `verify`
/// also reads headers a caller received.
pub const MAX_ID_BYTES: usize = 256;
/// The most signatures `verify` reads from one header: a rotation needs two, and a header of
/// thousands would make a receiver compute thousands of comparisons.
pub const MAX_SIGNATURES: usize = 8;

/// The longest text of a received header quoted in an error.
const QUOTED_BYTES: usize = 64;

/// An endpoint's signing key. Never printed: `Debug` and `Display` redact it, and the only
/// way to read it back is [`WebhookSecret::expose_whsec`], for storing it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret {
    key: Vec<u8>,
}

impl WebhookSecret {
    /// Parses the written form `whsec_<base64 of 24 to 64 bytes>`.
    ///
    /// Errors never quote the text: it is a secret, or a typo of one.
    pub fn parse(written: &str) -> Result<WebhookSecret, SignError> {
        let encoded = written
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SignError::SecretPrefix)?;
        // A bound before decoding: a huge value is refused without allocating for it.
        if encoded.len() > MAX_KEY_BYTES.div_ceil(3) * 4 {
            return Err(SignError::SecretLength {
                max: MAX_KEY_BYTES,
                min: MIN_KEY_BYTES,
            });
        }
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| SignError::SecretEncoding)?;
        WebhookSecret::from_key(key)
    }

    /// A secret from its raw key bytes (24 to 64 of them).
    pub fn from_key(key: Vec<u8>) -> Result<WebhookSecret, SignError> {
        if !(MIN_KEY_BYTES..=MAX_KEY_BYTES).contains(&key.len()) {
            return Err(SignError::SecretLength {
                max: MAX_KEY_BYTES,
                min: MIN_KEY_BYTES,
            });
        }
        Ok(WebhookSecret { key })
    }

    /// A new random secret of 32 bytes from the operating system's random source, for a new
    /// endpoint or a rotation.
    pub fn generate() -> Result<WebhookSecret, SignError> {
        let mut key = vec![0u8; 32];
        getrandom::fill(&mut key).map_err(SignError::Random)?;
        WebhookSecret::from_key(key)
    }

    /// The written form `whsec_<base64>`, for storing the secret and showing it once to the
    /// tenant who owns it; never for logs.
    pub fn expose_whsec(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.key))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
        let mut mac =
            HmacSha256::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// One `v1,<base64>` signature of `{id}.{timestamp}.{body}`.
    pub fn signature(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = self.mac(id, timestamp, body).finalize().into_bytes();
        format!("v1,{}", STANDARD.encode(tag))
    }

    /// Whether `tag` (decoded) is this secret's signature, compared in constant time.
    fn matches(&self, id: &str, timestamp: i64, body: &[u8], tag: &[u8]) -> bool {
        self.mac(id, timestamp, body).verify_slice(tag).is_ok()
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(\"whsec_[redacted]\")")
    }
}

impl fmt::Display for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("whsec_[redacted]")
    }
}

/// An endpoint's live secrets: the current one, and during a rotation the previous one
/// until it expires.
#[derive(Clone, Debug)]
pub struct SigningKeys {
    current: WebhookSecret,
    previous: Option<(WebhookSecret, i64)>,
}

impl SigningKeys {
    /// Keys with one secret.
    pub fn new(current: WebhookSecret) -> SigningKeys {
        SigningKeys {
            current,
            previous: None,
        }
    }

    /// Keys in rotation: `current` signs from now on, and `previous` also signs every
    /// delivery whose timestamp is before `previous_expires_at` (Unix seconds), so that a
    /// receiver has until then to switch.
    pub fn rotating(
        current: WebhookSecret,
        previous: WebhookSecret,
        previous_expires_at: i64,
    ) -> SigningKeys {
        SigningKeys {
            current,
            previous: Some((previous, previous_expires_at)),
        }
    }

    /// The keys of a stored endpoint: its secret, and its previous one until
    /// `previous_until` if it was rotated.
    pub fn stored(row: &EndpointRow) -> Result<SigningKeys, SignError> {
        let current = WebhookSecret::parse(&row.secret)?;
        Ok(match (&row.previous_secret, row.previous_until) {
            (Some(previous), Some(until)) => {
                SigningKeys::rotating(current, WebhookSecret::parse(previous)?, until.timestamp())
            }
            _ => SigningKeys::new(current),
        })
    }

    /// The secrets that sign a delivery stamped `timestamp`, current first.
    pub fn live(&self, timestamp: i64) -> impl Iterator<Item = &WebhookSecret> {
        let previous = self
            .previous
            .as_ref()
            .filter(|(_, expires_at)| timestamp < *expires_at)
            .map(|(secret, _)| secret);
        std::iter::once(&self.current).chain(previous)
    }

    /// The three headers of a delivery of `body` with message id `id`, stamped `timestamp`
    /// (Unix seconds): one signature per live secret.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> SignedHeaders {
        let signature = self
            .live(timestamp)
            .map(|secret| secret.signature(id, timestamp, body))
            .collect::<Vec<_>>()
            .join(" ");
        SignedHeaders {
            id: id.to_owned(),
            timestamp,
            signature,
        }
    }
}

/// The values of `webhook-id`, `webhook-timestamp` and `webhook-signature`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedHeaders {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`, Unix seconds.
    pub timestamp: i64,
    /// `webhook-signature`: space-separated `v1,<base64>` entries.
    pub signature: String,
}

impl SignedHeaders {
    /// The headers as (name, value) pairs, in the specification's names.
    pub fn pairs(&self) -> [(&'static str, String); 3] {
        [
            (HEADER_ID, self.id.clone()),
            (HEADER_TIMESTAMP, self.timestamp.to_string()),
            (HEADER_SIGNATURE, self.signature.clone()),
        ]
    }
}

/// Checks a received delivery as a receiver does: the timestamp within `tolerance_secs` of
/// `now` (Unix seconds) either way, and at least one `v1` signature in `signature` made by
/// one of `secrets` over `{id}.{timestamp}.{body}`. Entries of other versions are skipped, as
/// the specification asks, so a future scheme beside `v1` does not break receivers.
///
/// `id`, `timestamp` and `signature` are the raw header values; nothing in them panics.
pub fn verify(
    secrets: &[&WebhookSecret],
    id: &str,
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: u64,
) -> Result<(), VerifyError> {
    if id.is_empty() || id.len() > MAX_ID_BYTES {
        return Err(VerifyError::BadId {
            max: MAX_ID_BYTES,
            len: id.len(),
        });
    }
    let stamped: i64 = match timestamp.parse() {
        Ok(stamped) if !timestamp.starts_with('+') => stamped,
        _ => {
            return Err(VerifyError::BadTimestamp {
                value: quoted(timestamp),
            })
        }
    };
    let skew = now.abs_diff(stamped);
    if skew > tolerance_secs {
        return Err(VerifyError::OutsideTolerance {
            skew_secs: skew,
            tolerance_secs,
        });
    }
    let verified = signature
        .split(' ')
        .filter(|entry| !entry.is_empty())
        .take(MAX_SIGNATURES)
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|encoded| STANDARD.decode(encoded).ok())
        .any(|tag| {
            secrets
                .iter()
                .any(|secret| secret.matches(id, stamped, body, &tag))
        });
    if verified {
        Ok(())
    } else {
        Err(VerifyError::NoMatchingSignature)
    }
}

fn quoted(text: &str) -> String {
    Escaped(&truncate(text, QUOTED_BYTES)).to_string()
}

/// A secret that cannot be used. Never quotes the secret.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The written form does not start with `whsec_`.
    #[error("a webhook secret is written whsec_<base64>")]
    SecretPrefix,
    /// What follows `whsec_` is not standard base64 (with padding).
    #[error("the part of a webhook secret after whsec_ is not standard base64")]
    SecretEncoding,
    /// The key is shorter or longer than the specification allows.
    #[error("a webhook secret's key is {min} to {max} bytes long")]
    SecretLength {
        /// The shortest key.
        min: usize,
        /// The longest key.
        max: usize,
    },
    /// The operating system's random source failed while making a secret.
    #[error("the system's random source failed: {0}")]
    Random(getrandom::Error),
}

/// A fresh id for an endpoint its tenant did not name: `ep-` and 12 random hex digits.
pub fn random_endpoint_id() -> Result<String, SignError> {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).map_err(SignError::Random)?;
    Ok(format!(
        "ep-{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

/// Why a received delivery does not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// `webhook-id` is empty or too long.
    #[error("webhook-id is {len} bytes long; 1 to {max} expected")]
    BadId {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// `webhook-timestamp` is not an integer of Unix seconds.
    #[error("webhook-timestamp \"{value}\" is not Unix seconds")]
    BadTimestamp {
        /// The value, bounded and escaped.
        value: String,
    },
    /// The timestamp is too far from the receiver's clock: a replay, or a clock off.
    #[error("webhook-timestamp is {skew_secs} s from now; at most {tolerance_secs} s allowed")]
    OutsideTolerance {
        /// How far from now.
        skew_secs: u64,
        /// The tolerance.
        tolerance_secs: u64,
    },
    /// No `v1` signature matches any of the secrets.
    #[error("no webhook-signature entry matches the endpoint's secrets")]
    NoMatchingSignature,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference libraries' test vector (standard-webhooks, `libraries/rust/src/lib.rs`,
    /// `test_sign`), recomputed independently before it was written here:
    /// `python3 -c 'import hmac,hashlib,base64; k=base64.b64decode("C2FVsBQIhrscChlQIMV+b5sSYspob7oD");
    /// print(base64.b64encode(hmac.new(k, b"msg_27UH4WbU6Z5A5EzD8u03UvzRbpk.1649367553." + BODY,
    /// hashlib.sha256).digest()))'` printed the same value.
    const VECTOR_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const VECTOR_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const VECTOR_TIMESTAMP: i64 = 1649367553;
    const VECTOR_BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const VECTOR_SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    fn vector_secret() -> WebhookSecret {
        WebhookSecret::parse(VECTOR_SECRET).expect("the vector's secret parses")
    }

    fn other_secret() -> WebhookSecret {
        WebhookSecret::from_key(vec![7; 32]).expect("32 bytes is a valid key")
    }

    #[test]
    fn signature_matches_the_specification_test_vector() {
        let secret = vector_secret();
        assert_eq!(
            secret.signature(VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY),
            VECTOR_SIGNATURE
        );
        let headers = SigningKeys::new(secret).sign(VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY);
        assert_eq!(
            headers.pairs(),
            [
                ("webhook-id", VECTOR_ID.to_owned()),
                ("webhook-timestamp", "1649367553".to_owned()),
                ("webhook-signature", VECTOR_SIGNATURE.to_owned()),
            ]
        );
    }

    #[test]
    fn verify_accepts_the_vector_and_refuses_any_change() {
        let secret = vector_secret();
        let ts = VECTOR_TIMESTAMP.to_string();
        let ok = |id: &str, ts: &str, sig: &str, body: &[u8]| {
            verify(&[&secret], id, ts, sig, body, VECTOR_TIMESTAMP, 300)
        };
        assert_eq!(ok(VECTOR_ID, &ts, VECTOR_SIGNATURE, VECTOR_BODY), Ok(()));
        let no = Err(VerifyError::NoMatchingSignature);
        assert_eq!(
            ok("msg_other", &ts, VECTOR_SIGNATURE, VECTOR_BODY),
            no.clone()
        );
        assert_eq!(
            ok(VECTOR_ID, "1649367554", VECTOR_SIGNATURE, VECTOR_BODY),
            no.clone()
        );
        assert_eq!(
            ok(VECTOR_ID, &ts, VECTOR_SIGNATURE, b"{\"email\":\"x\"}"),
            no.clone()
        );
        assert_eq!(
            verify(
                &[&other_secret()],
                VECTOR_ID,
                &ts,
                VECTOR_SIGNATURE,
                VECTOR_BODY,
                VECTOR_TIMESTAMP,
                300
            ),
            no.clone()
        );
        // A signature under another version tag is not a v1 signature.
        let v2 = VECTOR_SIGNATURE.replacen("v1,", "v2,", 1);
        assert_eq!(ok(VECTOR_ID, &ts, &v2, VECTOR_BODY), no.clone());
        // Garbage entries around the good one do not hide it.
        let crowded = format!("v1,!!! v1a,x  {VECTOR_SIGNATURE} v1,");
        assert_eq!(ok(VECTOR_ID, &ts, &crowded, VECTOR_BODY), Ok(()));
    }

    #[test]
    fn verify_enforces_the_timestamp_tolerance_both_ways() {
        let secret = vector_secret();
        let ts = VECTOR_TIMESTAMP.to_string();
        let at = |now: i64| {
            verify(
                &[&secret],
                VECTOR_ID,
                &ts,
                VECTOR_SIGNATURE,
                VECTOR_BODY,
                now,
                DEFAULT_TOLERANCE_SECS,
            )
        };
        assert_eq!(at(VECTOR_TIMESTAMP + 300), Ok(()));
        assert_eq!(at(VECTOR_TIMESTAMP - 300), Ok(()));
        assert_eq!(
            at(VECTOR_TIMESTAMP + 301),
            Err(VerifyError::OutsideTolerance {
                skew_secs: 301,
                tolerance_secs: 300
            })
        );
        assert_eq!(
            at(VECTOR_TIMESTAMP - 301),
            Err(VerifyError::OutsideTolerance {
                skew_secs: 301,
                tolerance_secs: 300
            })
        );
    }

    #[test]
    fn verify_refuses_malformed_headers_without_panicking() {
        let secret = vector_secret();
        let check = |id: &str, ts: &str, sig: &str| {
            verify(&[&secret], id, ts, sig, VECTOR_BODY, VECTOR_TIMESTAMP, 300)
        };
        assert!(matches!(
            check("", "1649367553", VECTOR_SIGNATURE),
            Err(VerifyError::BadId { len: 0, .. })
        ));
        assert!(matches!(
            check(
                &"m".repeat(MAX_ID_BYTES + 1),
                "1649367553",
                VECTOR_SIGNATURE
            ),
            Err(VerifyError::BadId { .. })
        ));
        for bad in [
            "",
            "+1649367553",
            "1649367553.0",
            "99999999999999999999",
            " 1",
        ] {
            assert!(
                matches!(
                    check(VECTOR_ID, bad, VECTOR_SIGNATURE),
                    Err(VerifyError::BadTimestamp { .. })
                ),
                "{bad:?}"
            );
        }
        // A hostile timestamp is quoted escaped and bounded.
        let err = check(VECTOR_ID, &format!("1\n\x1b[31m{}", "9".repeat(500)), "")
            .expect_err("not a timestamp");
        let message = err.to_string();
        assert!(message.contains(r"1\n\u{1b}[31m"), "{message}");
        assert!(message.len() < 200, "{message}");
        assert_eq!(
            check(VECTOR_ID, "1649367553", ""),
            Err(VerifyError::NoMatchingSignature)
        );
        // Only the first MAX_SIGNATURES entries are read.
        let padded = format!("{}{VECTOR_SIGNATURE}", "v1,AAAA ".repeat(MAX_SIGNATURES));
        assert_eq!(
            check(VECTOR_ID, "1649367553", &padded),
            Err(VerifyError::NoMatchingSignature)
        );
    }

    #[test]
    fn secret_parses_only_its_written_form_and_round_trips() {
        let secret = vector_secret();
        assert_eq!(secret.expose_whsec(), VECTOR_SECRET);
        assert_eq!(
            WebhookSecret::parse("C2FVsBQIhrscChlQIMV+b5sSYspob7oD"),
            Err(SignError::SecretPrefix)
        );
        assert_eq!(
            WebhookSecret::parse("whsec_not base64!"),
            Err(SignError::SecretEncoding)
        );
        let short = format!("whsec_{}", STANDARD.encode([1u8; MIN_KEY_BYTES - 1]));
        let long = format!("whsec_{}", STANDARD.encode([1u8; MAX_KEY_BYTES + 1]));
        let huge = format!("whsec_{}", "A".repeat(1 << 20));
        for bad in [short, long, huge] {
            assert!(matches!(
                WebhookSecret::parse(&bad),
                Err(SignError::SecretLength { .. })
            ));
        }
        for edge in [MIN_KEY_BYTES, MAX_KEY_BYTES] {
            let written = format!("whsec_{}", STANDARD.encode(vec![9u8; edge]));
            let parsed = WebhookSecret::parse(&written).expect("a key at the edge parses");
            assert_eq!(parsed.expose_whsec(), written);
        }
    }

    #[test]
    fn secret_is_never_printed() {
        let secret = vector_secret();
        let key_text = VECTOR_SECRET.trim_start_matches(SECRET_PREFIX);
        for shown in [
            format!("{secret}"),
            format!("{secret:?}"),
            format!(
                "{:?}",
                SigningKeys::rotating(secret.clone(), other_secret(), 1)
            ),
        ] {
            assert!(!shown.contains(key_text), "{shown}");
            assert!(shown.contains("redacted"), "{shown}");
        }
    }

    #[test]
    fn rotation_signs_with_both_secrets_until_the_previous_expires() {
        let new = other_secret();
        let old = vector_secret();
        let expires_at = VECTOR_TIMESTAMP + 3600;
        let keys = SigningKeys::rotating(new.clone(), old.clone(), expires_at);

        let during = keys.sign(VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY);
        let entries: Vec<&str> = during.signature.split(' ').collect();
        assert_eq!(
            entries,
            [
                new.signature(VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY)
                    .as_str(),
                VECTOR_SIGNATURE
            ]
        );
        // A receiver that knows only one of the two secrets verifies either way.
        for receiver in [&new, &old] {
            assert_eq!(
                verify(
                    &[receiver],
                    &during.id,
                    &during.timestamp.to_string(),
                    &during.signature,
                    VECTOR_BODY,
                    VECTOR_TIMESTAMP,
                    300
                ),
                Ok(())
            );
        }

        // From the expiry on, only the new secret signs.
        let after = keys.sign(VECTOR_ID, expires_at, VECTOR_BODY);
        assert_eq!(
            after.signature,
            new.signature(VECTOR_ID, expires_at, VECTOR_BODY)
        );
        assert_eq!(
            verify(
                &[&old],
                &after.id,
                &after.timestamp.to_string(),
                &after.signature,
                VECTOR_BODY,
                expires_at,
                300
            ),
            Err(VerifyError::NoMatchingSignature)
        );
        assert_eq!(keys.live(expires_at - 1).count(), 2);
        assert_eq!(keys.live(expires_at).count(), 1);
    }

    #[test]
    fn generated_secrets_are_fresh_and_stored_rows_sign_with_both_during_rotation() {
        let (a, b) = (
            WebhookSecret::generate().unwrap(),
            WebhookSecret::generate().unwrap(),
        );
        assert_ne!(a, b);
        assert_eq!(WebhookSecret::parse(&a.expose_whsec()).unwrap(), a);
        let id = random_endpoint_id().unwrap();
        assert!(id.starts_with("ep-") && id.len() == 15, "{id}");
        assert_ne!(id, random_endpoint_id().unwrap());

        let until = chrono::DateTime::from_timestamp(2_000, 0).unwrap();
        let mut row = EndpointRow {
            id: "erp".into(),
            url: "https://erp.example/hooks".into(),
            events: vec![],
            secret: b.expose_whsec(),
            previous_secret: None,
            previous_until: None,
            created_at: until,
        };
        assert_eq!(SigningKeys::stored(&row).unwrap().live(1_000).count(), 1);
        row.previous_secret = Some(a.expose_whsec());
        row.previous_until = Some(until);
        let keys = SigningKeys::stored(&row).unwrap();
        assert_eq!(keys.live(1_999).collect::<Vec<_>>(), [&b, &a]);
        assert_eq!(keys.live(2_000).collect::<Vec<_>>(), [&b]);
        row.secret = "whsec_!!".into();
        assert_eq!(
            SigningKeys::stored(&row).unwrap_err(),
            SignError::SecretEncoding
        );
    }
}
