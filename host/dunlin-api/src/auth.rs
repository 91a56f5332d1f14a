//! Who a request is: a tenant by its API key, or the operator by the operator key.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use dunlin_store::TenantId;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{ApiError, AppState};

/// The longest `Authorization` value looked at: a key is 46 characters, so anything much
/// longer is not one and never reaches the database.
const MAX_KEY_BYTES: usize = 256;

/// The operator's key for the admin routes. Only its sha256 is kept in memory, and a
/// presented key is compared by hash in constant time, so the comparison's timing says
/// nothing about the key.
#[derive(Clone)]
pub struct OperatorKey([u8; 32]);

impl OperatorKey {
    /// The key `key`, trimmed of surrounding white space (a key file's final line break);
    /// `None` if nothing is left.
    pub fn new(key: &str) -> Option<Self> {
        let key = key.trim();
        (!key.is_empty()).then(|| OperatorKey(Sha256::digest(key.as_bytes()).into()))
    }

    fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        self.0.ct_eq(&digest).into()
    }
}

impl std::fmt::Debug for OperatorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OperatorKey(redacted)")
    }
}

/// The bearer token of a request, if it has one that could be a key.
fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or(ApiError::MissingKey)?;
    if value.len() > MAX_KEY_BYTES {
        return Err(ApiError::InvalidKey);
    }
    let value = value.to_str().map_err(|_| ApiError::InvalidKey)?;
    let (scheme, token) = value.split_once(' ').ok_or(ApiError::InvalidKey)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::InvalidKey);
    }
    Ok(token.trim())
}

/// The tenant whose key the request carries: every tenant route takes one, and every store
/// call it makes names this tenant.
#[derive(Clone, Debug)]
pub struct Tenant(pub TenantId);

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = bearer(parts)?;
        match state.db.tenant_for_api_key(key).await? {
            Some(tenant) => {
                state.rate_limits.check_key(key)?;
                Ok(Tenant(tenant))
            }
            None => Err(ApiError::InvalidKey),
        }
    }
}

/// A request made with the operator key.
#[derive(Clone, Copy, Debug)]
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = bearer(parts)?;
        match &state.operator {
            Some(operator) if operator.matches(key) => {
                state.rate_limits.check_operator()?;
                Ok(Operator)
            }
            _ => Err(ApiError::InvalidKey),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operator_key_matches_itself_only_and_hides_in_debug() {
        let key = OperatorKey::new("  s3cret-operator\n").unwrap();
        assert!(key.matches("s3cret-operator"));
        assert!(!key.matches("s3cret-operato"));
        assert!(!key.matches(""));
        assert!(!format!("{key:?}").contains("s3cret"));
        assert!(OperatorKey::new(" \n").is_none());
    }
}
