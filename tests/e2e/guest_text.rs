//! Text a policy writes is untrusted: the contract refuses control characters where a label
//! is expected and all but newlines and tabs in free text, refusals keep what the policy said
//! (escaped only where printed), and the guest SDK's copy of the contract agrees with the
//! host's.

use dunlin_core::text::Escaped;
use dunlin_core::{Context, Decision, InvalidDecision, PolicyFailure, Refusal};
use dunlin_guest_sdk::testing::{context_from_json, contract_violation, decision_to_json};
use dunlin_guest_sdk::{decision, notice, Action};
use dunlin_runtime::Mode;
use dunlin_tests::{fixture, runtime};

use crate::ctx;

/// What fx-forge answers for `forge` = `mode`, in both modes (the same either way).
fn forge(mode: &str) -> Result<Decision, PolicyFailure> {
    let loaded = runtime().load(&fixture("fx-forge")).unwrap();
    let mut ctx = ctx();
    ctx.params.insert("forge".into(), mode.into());
    let strict = loaded.handle(Mode::Strict).decide_with_report(&ctx).outcome;
    let batch = loaded.handle(Mode::Batch).decide_with_report(&ctx).outcome;
    assert_eq!(strict, batch, "forge={mode}: strict vs batch");
    strict
}

#[test]
fn a_refusal_keeps_the_policys_text_and_is_shown_inert() {
    let failure = forge("refusal").unwrap_err();
    let PolicyFailure::Refused(Refusal::BadParam(text)) = &failure else {
        panic!("expected a bad-param refusal, got {failure:?}");
    };
    assert!(text.contains("\nforged row\x1b[31m red"), "{text:?}");
    let shown = Escaped(&failure.to_string()).to_string();
    assert!(
        shown.contains(r"\nforged row\u{1b}[31m red\r\u{202e}"),
        "{shown}"
    );
    assert!(!shown.chars().any(char::is_control), "{shown:?}");
}

#[test]
fn a_reason_of_several_lines_is_allowed() {
    let decision = forge("reason").unwrap();
    assert_eq!(decision.reason, "line one\nline two");
    assert_eq!(Escaped(&decision.reason).to_string(), r"line one\nline two");
}

#[test]
fn an_escape_sequence_in_the_segment_is_an_invalid_decision() {
    assert_eq!(
        forge("segment"),
        Err(PolicyFailure::InvalidDecision(
            InvalidDecision::ControlCharacter {
                field: "segment".into(),
                character: '\x1b',
                position: 5,
            }
        ))
    );
    // Without the parameter it decides plainly: the failure was the text, nothing else.
    assert_eq!(forge("none").unwrap().segment, "forge");
}

#[test]
fn the_sdk_and_the_host_agree_on_control_characters() {
    let host_ctx: Context = ctx();
    let guest_ctx = context_from_json(&serde_json::to_value(&host_ctx).unwrap()).unwrap();
    let texts = [
        "plain",
        "ünïcode ✓",
        "two\nlines",
        "a\ttab",
        "ok\r\nforged",
        "red \x1b[31m",
        "nul\0",
        "del\x7f",
        "c1 \u{9b}2J",
        "next line \u{85}",
        "\u{202a}embedding",
        "\u{202e}override",
        "\u{2066}isolate\u{2069}",
        "no-break\u{a0}space",
    ];
    for text in texts {
        let decisions = [
            decision(text).because("why"),
            decision("s").because(text),
            decision("s")
                .because("why")
                .act(notice(1).template("t").var("v", text)),
            decision("s").because("why").act(Action::collections(text)),
        ];
        for d in decisions {
            let sdk = contract_violation(&guest_ctx, &d);
            let host: Decision = serde_json::from_value(decision_to_json(&d)).unwrap();
            let host = host.validate(&host_ctx).err().map(|e| e.to_string());
            assert_eq!(sdk, host, "{text:?} in {:?}", decision_to_json(&d));
        }
    }
}
