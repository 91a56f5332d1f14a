//! Constructors and accessors for [`PolicyError`], a policy's explicit refusal to decide.

use std::fmt::Display;

use crate::PolicyError;

impl PolicyError {
    /// A tenant parameter is missing or malformed: `"<key>: <why>"`.
    pub fn bad_param(key: &str, why: impl Display) -> PolicyError {
        PolicyError::BadParam(format!("{key}: {why}"))
    }

    /// The policy does not handle this case; `what` says which.
    pub fn unsupported(what: impl Into<String>) -> PolicyError {
        PolicyError::Unsupported(what.into())
    }

    /// The host's code for the refusal: `"bad-param"` or `"unsupported"`.
    pub fn code(&self) -> &'static str {
        match self {
            PolicyError::BadParam(_) => "bad-param",
            PolicyError::Unsupported(_) => "unsupported",
        }
    }

    /// The human explanation carried by the refusal.
    pub fn detail(&self) -> &str {
        match self {
            PolicyError::BadParam(detail) | PolicyError::Unsupported(detail) => detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_param_names_the_parameter() {
        let err = PolicyError::bad_param("grace-days", "\"x\" is not a whole number");
        assert_eq!(err.code(), "bad-param");
        assert_eq!(err.detail(), "grace-days: \"x\" is not a whole number");
        assert_eq!(PolicyError::unsupported("cheques").code(), "unsupported");
    }
}
