//! The contract checks the host applies to every decision before acting on it, repeated here
//! so that native tests catch an invalid decision before the component ever runs.
//!
//! Mirrors the host's validation (`Decision::validate` in the host's core crate). The host
//! remains the authority: when the two disagree, the host's answer counts and this copy
//! should be fixed.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::{Action, Context, Date, Decision};

/// The highest notice level.
const MAX_LEVEL: u8 = 9;
/// The most actions one decision may carry.
const MAX_ACTIONS: usize = 16;
/// The longest segment label, template id or variable name, in bytes.
const MAX_LABEL: usize = 64;
/// The longest reason or variable value, in bytes.
const MAX_TEXT: usize = 2048;
/// The most template variables of one notice.
const MAX_VARS: usize = 32;

/// Why `decision` breaks the contract for `ctx`, or `None` if it keeps it: the host would
/// record the same decision as an `invalid-decision` failure.
pub fn contract_violation(ctx: &Context, decision: &Decision) -> Option<String> {
    check(ctx, decision).err()
}

fn check(ctx: &Context, d: &Decision) -> Result<(), String> {
    label("segment", &d.segment, true)?;
    text("reason", &d.reason)?;
    if let Some(review_on) = d.review_on {
        after("review-on", review_on, ctx.as_of)?;
    }
    if d.actions.len() > MAX_ACTIONS {
        return Err(format!(
            "actions: {} given, at most {MAX_ACTIONS} allowed",
            d.actions.len()
        ));
    }
    for (i, action) in d.actions.iter().enumerate() {
        match action {
            Action::Notify(n) => {
                if n.level == 0 || n.level > MAX_LEVEL {
                    return Err(format!(
                        "notice level {} is outside 1..={MAX_LEVEL}",
                        n.level
                    ));
                }
                let field = format!("actions[{i}].template");
                label(&field, &n.template, false)?;
                identifier(&field, &n.template)?;
                if n.vars.len() > MAX_VARS {
                    return Err(format!(
                        "actions[{i}].vars: {} given, at most {MAX_VARS} allowed",
                        n.vars.len()
                    ));
                }
                let mut seen = BTreeSet::new();
                for (name, value) in &n.vars {
                    let field = format!("actions[{i}].vars name");
                    label(&field, name, false)?;
                    identifier(&field, name)?;
                    let field = format!("actions[{i}].vars[{name}]");
                    bounded(&field, value, MAX_TEXT)?;
                    controls(&field, value, Allow::NewlineAndTab)?;
                    if !seen.insert(name) {
                        return Err(format!(
                            "template variable \"{}\" is given twice",
                            escaped(name)
                        ));
                    }
                }
            }
            Action::RetryPayment(r) => text(&format!("actions[{i}].reason"), &r.reason)?,
            Action::Pause(p) => {
                text(&format!("actions[{i}].reason"), &p.reason)?;
                after(&format!("actions[{i}].until"), p.until, ctx.as_of)?;
            }
            Action::Escalate(e) => text(&format!("actions[{i}].reason"), &e.reason)?,
            Action::Close(c) => text(&format!("actions[{i}].reason"), &c.reason)?,
        }
    }
    Ok(())
}

fn bounded(field: &str, value: &str, max: usize) -> Result<(), String> {
    if value.len() > max {
        return Err(format!(
            "{field} is {} bytes long; at most {max} allowed",
            value.len()
        ));
    }
    Ok(())
}

fn label(field: &str, value: &str, may_be_empty: bool) -> Result<(), String> {
    if !may_be_empty && value.is_empty() {
        return Err(format!("{field} is empty"));
    }
    bounded(field, value, MAX_LABEL)?;
    controls(field, value, Allow::Nothing)
}

fn text(field: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err(format!("{field} is empty"));
    }
    bounded(field, value, MAX_TEXT)?;
    controls(field, value, Allow::NewlineAndTab)
}

/// Which control characters a field may hold.
#[derive(Clone, Copy)]
enum Allow {
    /// None: labels and identifiers are one short line.
    Nothing,
    /// `\n` and `\t`: free text may have lines and columns (the host escapes them on display).
    NewlineAndTab,
}

/// A control character (C0, DEL, C1) or a bidirectional embedding, override or isolate
/// (U+202A..=U+202E, U+2066..=U+2069).
fn is_control(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Refuses [`is_control`] characters, which would forge or reorder what the host prints;
/// free text keeps its newlines and tabs.
fn controls(field: &str, value: &str, allow: Allow) -> Result<(), String> {
    let bad = |c: char| match (c, allow) {
        ('\n' | '\t', Allow::NewlineAndTab) => false,
        _ => is_control(c),
    };
    match value.char_indices().find(|&(_, c)| bad(c)) {
        None => Ok(()),
        Some((position, c)) => Err(format!(
            "{field} contains the control character U+{:04X} at byte {position}",
            u32::from(c)
        )),
    }
}

fn identifier(field: &str, value: &str) -> Result<(), String> {
    let ok = value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{field} \"{}\" may use only a-z, 0-9, '.', '_' and '-'",
            escaped(value)
        ))
    }
}

/// The policy's text as the host shows it in a message (its `text::Escaped`): one inert
/// line, with `\n`, `\t`, `\r`, backslashes and every [`is_control`] character escaped,
/// everything else (quotes included) as is.
fn escaped(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\\' => out.push_str("\\\\"),
            c if is_control(c) => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

fn after(field: &str, date: Date, as_of: Date) -> Result<(), String> {
    if !date.is_valid() {
        return Err(format!("{field} is not a calendar date: {date}"));
    }
    if date > as_of {
        Ok(())
    } else {
        Err(format!(
            "{field} {date} is not after the as-of date {as_of}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{context, date};
    use crate::{decision, notice};

    #[test]
    fn catches_each_kind_of_bad_decision() {
        let ctx = context().as_of("2026-03-01").build();
        let ok = || {
            decision("s")
                .act(notice(2).firm().template("firm-reminder"))
                .review_on(date("2026-03-05"))
                .because("because")
        };
        assert_eq!(contract_violation(&ctx, &ok()), None);
        let cases = [
            (ok().act(notice(0)), "level 0"),
            (ok().act(notice(10)), "level 10"),
            (ok().act(notice(1).template("")), "template is empty"),
            (ok().act(notice(1).template("Has Spaces")), "may use only"),
            (ok().act(notice(1).template("x".repeat(65))), "65 bytes"),
            (ok().review_on(ctx.as_of), "not after"),
            (ok().because("  "), "reason is empty"),
            (ok().in_segment("s".repeat(65)), "segment is 65 bytes"),
            (
                ok().act(Action::pause(date("2026-02-01"), "p")),
                "actions[1].until",
            ),
            (ok().act(Action::retry("")), "actions[1].reason is empty"),
            (ok().act(notice(1).var("Bad", "v")), "vars name"),
        ];
        for (d, expected) in cases {
            let err = contract_violation(&ctx, &d).unwrap();
            assert!(
                err.contains(expected),
                "{err:?} should mention {expected:?}"
            );
        }
        let mut twice = ok();
        twice.actions = vec![notice(1).into(); 17];
        assert!(contract_violation(&ctx, &twice)
            .unwrap()
            .contains("17 given"));
        let mut dup = notice(1);
        dup.vars = vec![("a".into(), "1".into()), ("a".into(), "2".into())];
        let err = contract_violation(&ctx, &ok().act(dup)).unwrap();
        assert!(err.contains("given twice"), "{err}");
    }

    #[test]
    fn refuses_control_characters_as_the_host_does() {
        let ctx = context().as_of("2026-03-01").build();
        let ok = || {
            decision("s")
                .act(notice(2).firm().template("firm-reminder"))
                .because("because")
        };
        // The host's table (`Decision::validate`'s tests): the same texts, the same verdicts.
        let cases = [
            (ok().in_segment("vip ünïcode"), None),
            (
                ok().in_segment("a\nb"),
                Some("segment contains the control character U+000A at byte 1"),
            ),
            (
                ok().in_segment("a\tb"),
                Some("segment contains the control character U+0009 at byte 1"),
            ),
            (
                ok().in_segment("\x1b[2J"),
                Some("segment contains the control character U+001B at byte 0"),
            ),
            (
                ok().in_segment("x\u{202e}y"),
                Some("segment contains the control character U+202E at byte 1"),
            ),
            (ok().because("line one\nline two\tcolumn"), None),
            (
                ok().because("ok\r\nforged"),
                Some("reason contains the control character U+000D at byte 2"),
            ),
            (
                ok().because("red \x1b[31m"),
                Some("reason contains the control character U+001B at byte 4"),
            ),
            (
                ok().because("nul\0"),
                Some("reason contains the control character U+0000 at byte 3"),
            ),
            (
                ok().because("del\x7f"),
                Some("reason contains the control character U+007F at byte 3"),
            ),
            (
                ok().because("é\u{85}"),
                Some("reason contains the control character U+0085 at byte 2"),
            ),
            (
                ok().because("\u{2066}x\u{2069}"),
                Some("reason contains the control character U+2066 at byte 0"),
            ),
            (
                ok().act(notice(1).template("t").var("name", "Dear\ncustomer")),
                None,
            ),
            (
                ok().act(notice(1).template("t").var("name", "\x1b]8;;evil")),
                Some("actions[1].vars[name] contains the control character U+001B at byte 0"),
            ),
            (ok().act(Action::collections("two\nlines")), None),
            (
                ok().act(Action::collections("x\u{202d}")),
                Some("actions[1].reason contains the control character U+202D at byte 1"),
            ),
        ];
        for (d, expected) in cases {
            assert_eq!(
                contract_violation(&ctx, &d).as_deref(),
                expected,
                "{:?}",
                d.reason
            );
        }
    }
}
