//! JavaScript policies in the sandbox: the reference port of `standard` passes the Rust
//! policy's cases in both modes with the same decisions, and a hostile JavaScript policy is
//! contained with the right failure code. The SDK's and the port's own tests (`node --test`)
//! run from here too, so CI runs them.

use dunlin_core::{Policy, PolicyFailure};
use dunlin_runtime::{Limits, Mode};
use dunlin_tests::js::{self, js_fixture, js_policy};
use dunlin_tests::{reference_policy, repo};

use crate::{assert_decides_as_the_rust_standard, assert_passes_the_standard_cases};

#[test]
fn standard_js_passes_the_standard_cases_in_both_modes() {
    assert_passes_the_standard_cases(&js::load(&js_policy("standard-js")));
}

#[test]
fn standard_js_decides_exactly_as_the_rust_standard() {
    assert_decides_as_the_rust_standard(
        &js::load(&reference_policy("standard")),
        &js::load(&js_policy("standard-js")),
    );
}

fn hostile(mode_param: &str, mode: Mode) -> PolicyFailure {
    let loaded = js::load(&js_fixture("js-hostile"));
    let mut ctx = crate::ctx();
    ctx.params.insert("hostile".into(), mode_param.into());
    loaded
        .handle(mode)
        .decide(&ctx)
        .expect_err("the hostile policy must fail")
}

#[test]
fn hostile_javascript_is_contained_with_the_right_failure_code() {
    for mode in [Mode::Strict, Mode::Batch] {
        assert_eq!(
            hostile("loop", mode),
            PolicyFailure::OutOfFuel {
                budget: Limits::default().fuel
            },
            "{mode:?}"
        );
        let memory = hostile("memory", mode);
        assert_eq!(memory.code(), "memory-limit", "{mode:?}: {memory}");
        let thrown = hostile("throw", mode);
        assert_eq!(thrown.code(), "trap", "{mode:?}: {thrown}");
    }
    // And the same component, told to behave, still decides in this process.
    let loaded = js::load(&js_fixture("js-hostile"));
    let decided = loaded.handle(Mode::Batch).decide(&crate::ctx()).unwrap();
    assert_eq!(decided.segment, "hostile");
}

#[test]
fn the_sdk_and_standard_js_pass_their_native_tests() {
    // Building installs the port's dependencies (the SDK) that its tests import.
    js_policy("standard-js");
    for dir in ["guest-sdk/js", "policies/standard-js"] {
        let out = std::process::Command::new("node")
            .args(["--test", "test/"])
            .current_dir(repo().join(dir))
            .output()
            .expect("node runs");
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{dir}:\n{report}");
        assert!(report.contains("# fail 0"), "{dir}:\n{report}");
    }
}
