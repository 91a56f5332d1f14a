//! Tenants' API keys: how one is made, the id it is known by, and what the store keeps of it.
//!
//! A key is shown once, when it is made; the store keeps only its sha256, so a copy of the
//! database lets nobody in. Its public id is the first [`ID_LEN`] hex digits of that hash: a
//! handle to list and revoke it by that says nothing usable about the key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// What every key starts with, so that one pasted where it does not belong (a log, a
/// repository) is recognisable to people and secret scanners.
pub const PREFIX: &str = "dk_";

/// Random bytes in a key: 256 bits, beyond guessing.
const RANDOM_BYTES: usize = 32;

/// Hex digits of the sha256 that make a key's public id.
pub const ID_LEN: usize = 12;

/// A new key: `dk_` and 32 bytes from the operating system's random source, base64url.
pub fn generate() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; RANDOM_BYTES];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// The hex sha256 of a key: what the store keeps and looks keys up by.
pub(crate) fn digest(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The public id of the key whose hex sha256 is `digest`.
pub(crate) fn id_of_digest(digest: &str) -> String {
    digest[..ID_LEN].to_owned()
}

/// The public id of a key.
pub fn id_of(key: &str) -> String {
    id_of_digest(&digest(key))
}

/// A key as the store lists it: never the key itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ApiKeyRow {
    /// Its public id ([`id_of`]).
    pub id: String,
    /// What the operator called it.
    pub label: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When a request last presented it (updated at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked; a revoked key finds no tenant.
    pub revoked_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_prefixed() {
        let (a, b) = (generate().unwrap(), generate().unwrap());
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX));
        // 32 bytes in unpadded base64 are 43 characters.
        assert_eq!(a.len(), PREFIX.len() + 43);
        assert!(a[PREFIX.len()..]
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_eq!(id_of(&a).len(), ID_LEN);
        assert_ne!(id_of(&a), id_of(&b));
    }
}
