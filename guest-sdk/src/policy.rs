//! The [`Policy`] trait and the [`export_policy!`](crate::export_policy) macro that turns an
//! implementation into the component's `decide` export.

use crate::{Context, Decision, PolicyError};

/// A dunning policy: decides what to do about one invoice.
///
/// Implementations are pure: everything they may use is in the [`Context`]. There is no
/// clock (use [`Context::as_of`]), no randomness and no I/O, so the same context always gives
/// the same decision and the host can replay any decision.
///
/// Return `Err` only to refuse, e.g. [`PolicyError::bad_param`] for a malformed tenant
/// parameter; the host records a refusal as a policy failure for the invoice. A business
/// answer such as "wait, the invoice is disputed" is an `Ok` [`Decision`].
pub trait Policy {
    /// Decide what to do about the invoice in `ctx`.
    fn decide(ctx: &Context) -> Result<Decision, PolicyError>;
}

/// Exports a [`Policy`] implementation as the component's `dunlin:policy/decider` export.
///
/// Invoke it once per policy crate, at the crate root, with the type implementing
/// [`Policy`]:
///
/// ```
/// # use dunlin_guest_sdk::{decision, Context, Decision, Policy, PolicyError};
/// pub struct Noop;
///
/// impl Policy for Noop {
///     fn decide(_ctx: &Context) -> Result<Decision, PolicyError> {
///         Ok(decision("all").because("this policy never acts"))
///     }
/// }
///
/// dunlin_guest_sdk::export_policy!(Noop);
/// ```
///
/// On `wasm32` targets it implements the generated `Guest` trait for a hidden type and emits
/// the component exports. On every other target it expands to nothing: native linkers reject
/// export names containing `:`, and native builds are for unit tests, which call
/// [`Policy::decide`] directly. The target check happens in the policy crate, not here.
#[macro_export]
macro_rules! export_policy {
    ($policy:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct DunlinPolicyExport;

            impl $crate::bindings::exports::dunlin::policy::decider::Guest for DunlinPolicyExport {
                fn decide(
                    ctx: $crate::Context,
                ) -> ::core::result::Result<$crate::Decision, $crate::PolicyError> {
                    <$policy as $crate::Policy>::decide(&ctx)
                }
            }

    $crate::bindings::export!(DunlinPolicyExport with_types_in $crate::bindings);
        };
    };
}
