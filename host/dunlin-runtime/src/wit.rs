//! The contract versions this host supports, and how a component's version is read.
//!
//! A component names its contract version in its export (`dunlin:policy/decider@0.1.0`),
//! so no custom section is needed. Each supported version has its own bindings module that
//! converts to and from the core types; once a version has shipped, it stays supported.
//!
//! This file is the one place that dispatches on the version: [`contract_versions!`] lists
//! every supported version with its bindings, and makes from that one list the public
//! [`WitVersion`], the pre-instantiated [`Bindings`], the live [`Instance`] and the `match`
//! of each call. Adding `dunlin:policy@0.2.0` is a `wit/policy@0.2.0/` folder, a `v0_2.rs`
//! implementing [`ContractBindings`], and one line in that list; nothing else in the
//! runtime names a version (`every_contract_folder_has_bindings_and_only_those` holds the
//! list and `wit/` to each other).

pub(crate) mod v0_1;

use dunlin_core::{Context, Decision, PolicyFailure};
use wasmtime::component::InstancePre;
use wasmtime::Store;

use crate::sandbox::Host;
use crate::LoadError;

/// The export every policy must have, without its version.
const EXPORT: &str = "dunlin:policy/decider";

/// What one contract version's bindings module provides. The runtime calls a policy only
/// through these, so a version's types never leave its module.
pub(crate) trait ContractBindings {
    /// The version's semver text, as in its WIT folder's name and its package line.
    const VERSION: &'static str;
    /// The component pre-instantiated with the linker, its exports looked up.
    type Pre;
    /// A live instance.
    type Instance;

    /// Looks up the version's exports in a pre-instantiated component.
    fn prepare(pre: InstancePre<Host>) -> wasmtime::Result<Self::Pre>;

    /// Instantiates in `store`, which checks the exports' types and runs the start code.
    fn instantiate(pre: &Self::Pre, store: &mut Store<Host>) -> wasmtime::Result<Self::Instance>;

    /// Calls `decide` with `ctx` in this version's types and converts the answer. The outer
    /// error is a sandbox failure (trap, fuel, deadline); the inner one is the policy's
    /// refusal or a decision the host cannot accept.
    fn decide(
        instance: &Self::Instance,
        store: &mut Store<Host>,
        ctx: &Context,
        output_limit: usize,
    ) -> wasmtime::Result<Result<Decision, PolicyFailure>>;
}

/// Makes every type and `match` that depends on the set of supported versions from one
/// list of `Variant => bindings type`, oldest first.
macro_rules! contract_versions {
    ($($(#[$doc:meta])* $version:ident => $bindings:ty),+ $(,)?) => {
        /// A contract version this host can run.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum WitVersion {
            $($(#[$doc])* $version,)+
        }

        impl WitVersion {
            /// Every supported version, oldest first.
            pub const SUPPORTED: &'static [WitVersion] = &[$(WitVersion::$version),+];

            /// The semver text, e.g. `"0.1.0"`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(WitVersion::$version => <$bindings as ContractBindings>::VERSION,)+
                }
            }
        }

        /// A component's pre-instantiated bindings, of the version it targets.
        pub(crate) enum Bindings {
            $($version(<$bindings as ContractBindings>::Pre),)+
        }

        /// A live instance of one contract version.
        pub(crate) enum Instance {
            $($version(<$bindings as ContractBindings>::Instance),)+
        }

        impl Bindings {
            /// The bindings of `version` for a pre-instantiated component.
            pub(crate) fn new(version: WitVersion, pre: InstancePre<Host>) -> wasmtime::Result<Self> {
                match version {
                    $(WitVersion::$version => <$bindings>::prepare(pre).map(Bindings::$version),)+
                }
            }

            /// A fresh instance in `store`.
            pub(crate) fn instantiate(&self, store: &mut Store<Host>) -> wasmtime::Result<Instance> {
                match self {
                    $(Bindings::$version(pre) => {
                        <$bindings>::instantiate(pre, store).map(Instance::$version)
                    })+
                }
            }
        }

        impl Instance {
            /// Decides for `ctx` ([`ContractBindings::decide`]).
            pub(crate) fn decide(
                &self,
                store: &mut Store<Host>,
                ctx: &Context,
                output_limit: usize,
            ) -> wasmtime::Result<Result<Decision, PolicyFailure>> {
                match self {
                    $(Instance::$version(instance) => {
                        <$bindings>::decide(instance, store, ctx, output_limit)
                    })+
                }
            }
        }
    };
}

contract_versions! {
    /// `dunlin:policy@0.1.0`.
    V0_1_0 => v0_1::V0_1,
}

impl WitVersion {
    /// The supported version that serves components built against `version`: the same
    /// major version and, below 1.0, the same minor one (semver's caret rule); any patch
    /// release of it.
    fn compatible(version: &str) -> Option<WitVersion> {
        let (major, minor) = major_minor(version)?;
        WitVersion::SUPPORTED.iter().copied().find(|v| {
            let (v_major, v_minor) = major_minor(v.as_str()).expect("our versions are semver");
            v_major == major && (major > 0 || v_minor == minor)
        })
    }
}

impl std::fmt::Display for WitVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Picks the contract version a component is run against, from its export names.
///
/// Contract versions follow semver: a release that keeps a version's types but adds nothing
/// a host must know (a patch release, `0.1.1` beside `0.1.0`) is served by the bindings of
/// the version it is compatible with, and when a component exports several versions the
/// newest one this host supports is used. Only when none is supported is it refused.
pub(crate) fn detect<'a>(
    exports: impl IntoIterator<Item = &'a str>,
) -> Result<WitVersion, LoadError> {
    let exports: Vec<&str> = exports.into_iter().collect();
    let offered: Vec<&str> = exports
        .iter()
        .filter_map(|name| name.strip_prefix(EXPORT)?.strip_prefix('@'))
        .collect();
    if offered.is_empty() {
        return Err(LoadError::WrongWorld {
            exports: if exports.is_empty() {
                "nothing".into()
            } else {
                exports.join(", ")
            },
        });
    }
    offered
        .iter()
        .filter_map(|found| WitVersion::compatible(found))
        .max_by_key(|v| WitVersion::SUPPORTED.iter().position(|s| s == v))
        .ok_or_else(|| LoadError::Incompatible {
            found: offered.join(", "),
            supported: WitVersion::SUPPORTED
                .iter()
                .map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// The interfaces a policy may import: the WASI 0.2 interfaces that language toolchains
/// pull in, all of which the sandbox provides locked down.
const ALLOWED_IMPORTS: &[&str] = &[
    "wasi:cli/",
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:filesystem/",
    "wasi:sockets/",
];

/// `MAJOR.MINOR` of a `MAJOR.MINOR.PATCH[-pre][+build]` version.
fn major_minor(version: &str) -> Option<(u64, u64)> {
    let core = version.split(['-', '+']).next()?;
    let mut parts = core.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let _patch: u64 = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((major, minor))
}

/// How to build a component without `import`, for the imports a known toolchain adds by
/// default.
fn build_hint(import: &str) -> Option<&'static str> {
    // componentize-js (StarlingMonkey) links outbound HTTP for `fetch` unless its `http`
    // feature is disabled, and from 0.18.4 the incoming handler under `fetch-event`.
    import.starts_with("wasi:http/").then_some(
        "componentize-js imports wasi:http with its default features: build with \
         `disableFeatures: ['http', 'fetch-event']` in componentize()'s options (a policy \
         needs none of the network; disabling 'stdio', 'random' and 'clocks' too leaves a \
         component with no WASI imports)",
    )
}

/// Every import of the component, checked against [`ALLOWED_IMPORTS`].
pub(crate) fn check_imports<'a>(
    imports: impl IntoIterator<Item = &'a str>,
) -> Result<(), LoadError> {
    for name in imports {
        let allowed = ALLOWED_IMPORTS
            .iter()
            .any(|prefix| name.starts_with(prefix) && name.contains("@0.2."));
        if !allowed {
            return Err(LoadError::ImportNotAllowed {
                import: name.to_owned(),
                allowed: "WASI 0.2 cli, io, clocks, random, filesystem, sockets (all locked down)"
                    .into(),
                hint: build_hint(name).map_or_else(String::new, |h| format!("; {h}")),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_matched_by_semver() {
        let pick = |exports: &[&str]| detect(exports.iter().copied());
        let decider = |v: &str| format!("{EXPORT}@{v}");
        for ok in ["0.1.0", "0.1.1", "0.1.17", "0.1.2-rc.1"] {
            assert_eq!(pick(&[&decider(ok)]).unwrap(), WitVersion::V0_1_0, "{ok}");
        }
        for refused in ["0.2.0", "1.0.0", "9.0.0", "0.0.9", "0.1", "x.y.z"] {
            assert!(
                matches!(
                    pick(&[&decider(refused)]),
                    Err(LoadError::Incompatible { .. })
                ),
                "{refused}"
            );
        }
        // The first export does not win: the supported one does, in either order.
        let (future, ours) = (decider("9.0.0"), decider("0.1.0"));
        assert_eq!(pick(&[&future, &ours]).unwrap(), WitVersion::V0_1_0);
        assert_eq!(pick(&[&ours, &future]).unwrap(), WitVersion::V0_1_0);
        assert!(matches!(
            pick(&["acme:greeter/greet@1.0.0"]),
            Err(LoadError::WrongWorld { .. })
        ));
    }

    /// `contract_versions!` and `wit/` describe the same versions: each supported version
    /// has its folder, whose package is that version, and each folder (a shipped contract
    /// stays supported) has its line in the list, hence its bindings. Each is picked by its
    /// own export name, and the next version after the newest is refused as incompatible.
    #[test]
    fn every_contract_folder_has_bindings_and_only_those() {
        let wit = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit");
        let mut folders: Vec<String> = std::fs::read_dir(&wit)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .filter_map(|name| name.strip_prefix("policy@").map(str::to_owned))
            .collect();
        folders.sort_by_key(|v| major_minor(v));
        let supported_list: Vec<&str> = WitVersion::SUPPORTED.iter().map(|v| v.as_str()).collect();
        assert_eq!(
            folders, supported_list,
            "wit/policy@*/ against contract_versions!"
        );
        for &version in WitVersion::SUPPORTED {
            let text =
                std::fs::read_to_string(wit.join(format!("policy@{version}/policy.wit"))).unwrap();
            assert!(
                text.lines()
                    .any(|line| line.trim() == format!("package dunlin:policy@{version};")),
                "wit/policy@{version}/policy.wit declares another package"
            );
            assert_eq!(
                detect([format!("{EXPORT}@{version}").as_str()]).unwrap(),
                version
            );
        }
        let newest = WitVersion::SUPPORTED.last().expect("at least one version");
        let (major, minor) = major_minor(newest.as_str()).unwrap();
        let next = if major == 0 {
            format!("0.{}.0", minor + 1)
        } else {
            format!("{}.0.0", major + 1)
        };
        match detect([format!("{EXPORT}@{next}").as_str()]) {
            Err(LoadError::Incompatible { found, supported }) => {
                assert_eq!(found, next);
                assert_eq!(supported, supported_list.join(", "));
            }
            other => panic!("{next}: {other:?}"),
        }
    }

    #[test]
    fn only_locked_down_wasi_may_be_imported() {
        assert!(check_imports(["wasi:cli/stdout@0.2.6", "wasi:io/poll@0.2.12"]).is_ok());
        for refused in [
            "wasi:http/outgoing-handler@0.2.6",
            "wasi:cli/stdout@0.3.0",
            "x:y/z",
        ] {
            assert!(
                matches!(
                    check_imports([refused]),
                    Err(LoadError::ImportNotAllowed { .. })
                ),
                "{refused}"
            );
        }
    }

    #[test]
    fn a_wasi_http_import_says_which_build_option_removes_it() {
        let import = "wasi:http/outgoing-handler@0.2.3";
        let message = check_imports([import]).unwrap_err().to_string();
        assert!(
            message.starts_with(&format!("the component imports {import}, which policies")),
            "{message}"
        );
        assert!(
            message.contains("disableFeatures: ['http', 'fetch-event']"),
            "{message}"
        );
        let other = check_imports(["x:y/z"]).unwrap_err().to_string();
        assert!(!other.contains("componentize-js"), "{other}");
    }
}
