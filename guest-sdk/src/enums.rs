//! The contract's enums by name: `as_str`, `Display` and `FromStr` using the kebab-case names
//! of the WIT file and the host's JSON (`"in-app"`, `"bank-transfer"`).
//!
//! `FromStr` lets a tenant parameter name a channel or tone:
//! `ctx.param_or("final-channel", Channel::Letter)?`.

use std::fmt;
use std::str::FromStr;

use crate::{ActionKind, ActionOutcome, Channel, DeclineKind, EscalationKind, PaymentMethod, Tone};

/// A name that is not one of an enum's kebab-case names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownName {
    what: &'static str,
    name: String,
    expected: &'static [&'static str],
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a {}; expected one of {}",
            self.name,
            self.what,
            self.expected.join(", ")
        )
    }
}

impl std::error::Error for UnknownName {}

macro_rules! names {
    ($ty:ident, $what:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in the contract's order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The kebab-case name used by the contract and the host's JSON.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = UnknownName;

            /// Parses the kebab-case name, ignoring ASCII case.
            fn from_str(name: &str) -> Result<$ty, UnknownName> {
                $(
                    if name.eq_ignore_ascii_case($name) {
                        return Ok($ty::$variant);
                    }
                )+
                Err(UnknownName { what: $what, name: name.to_owned(), expected: &[$($name),+] })
            }
        }
    };
}

names!(PaymentMethod, "payment method", {
    Card => "card",
    DirectDebit => "direct-debit",
    BankTransfer => "bank-transfer",
    Other => "other",
});

names!(DeclineKind, "decline kind", { Soft => "soft", Hard => "hard" });

names!(Channel, "channel", {
    Email => "email",
    Sms => "sms",
    Letter => "letter",
    Phone => "phone",
    InApp => "in-app",
});

names!(Tone, "tone", {
    Friendly => "friendly",
    Neutral => "neutral",
    Firm => "firm",
    Final => "final",
});

names!(ActionOutcome, "action outcome", {
    Pending => "pending",
    Delivered => "delivered",
    Failed => "failed",
    Opened => "opened",
    Succeeded => "succeeded",
    Declined => "declined",
    Blocked => "blocked",
});

names!(ActionKind, "action kind", {
    Notify => "notify",
    RetryPayment => "retry-payment",
    Pause => "pause",
    Escalate => "escalate",
    Close => "close",
});

names!(EscalationKind, "escalation kind", {
    AccountManager => "account-manager",
    SuspendService => "suspend-service",
    Collections => "collections",
    Legal => "legal",
});

impl PaymentMethod {
    /// Whether the tenant collects automatically (card, direct debit), so a failed
    /// collection can be retried.
    pub fn is_automatic(&self) -> bool {
        matches!(self, PaymentMethod::Card | PaymentMethod::DirectDebit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_in_kebab_case() {
        for channel in Channel::ALL {
            assert_eq!(channel.as_str().parse::<Channel>(), Ok(*channel));
        }
        assert_eq!(Channel::InApp.to_string(), "in-app");
        assert_eq!("Bank-Transfer".parse(), Ok(PaymentMethod::BankTransfer));
        assert_eq!(EscalationKind::SuspendService.as_str(), "suspend-service");
    }

    #[test]
    fn unknown_names_list_the_choices() {
        let err = "fax".parse::<Channel>().unwrap_err().to_string();
        assert_eq!(
            err,
            "\"fax\" is not a channel; expected one of email, sms, letter, phone, in-app"
        );
    }
}
