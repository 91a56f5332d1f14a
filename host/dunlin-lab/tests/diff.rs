//! The offline diff of fx-ladder and fx-ladder-early: no database, contexts from a file.

use dunlin_lab::candidate::Rules;
use dunlin_lab::compare::Direction;
use dunlin_lab::diff::{diff, read_jsonl};
use dunlin_tests::{fixture, runtime};

/// A context for `invoice` of a customer with `tags`, `overdue` days after 2026-02-01.
fn line(invoice: &str, tags: &str, overdue: u64) -> String {
    let as_of = dunlin_core::Date::from_ymd_opt(2026, 2, 1)
        .and_then(|d| d.checked_add_days(chrono::Days::new(overdue)))
        .expect("a day");
    format!(
        r#"{{"as-of":"{as_of}","invoice":{{"id":"{invoice}","number":"N","issued-on":"2026-01-01","due-on":"2026-02-01","amount":{{"minor":900,"currency":"SEK"}},"open-balance":{{"minor":900,"currency":"SEK"}},"payment-method":"card"}},"customer":{{"id":"c-{invoice}","tags":[{tags}],"lifetime-value":{{"minor":0,"currency":"SEK"}},"customer-since":"2025-01-01"}}}}"#
    )
}

#[test]
fn the_diff_of_two_components_states_the_smb_week() {
    let text = [
        line("a", r#""smb""#, 35),
        line("b", r#""smb""#, 20),
        line("c", "", 35),
        line("d", r#""smb""#, 41),
    ]
    .join("\n");
    let items = read_jsonl(&text).expect("contexts");
    let load = |name| runtime().load(&fixture(name)).expect("loads");
    let (old, new) = (load("fx-ladder"), load("fx-ladder-early"));
    let r = diff(&old, &new, &items, &Rules::default(), 2, 10);
    assert_eq!((r.total, r.agreed, r.disagreed), (4, 3, 1));
    assert_eq!(r.disagreements[0].invoice_id, "a");
    assert_eq!(r.disagreements[0].direction, Direction::EarlierEscalation);
    assert_eq!(r.money.len(), 1);
    assert_eq!(
        (r.money[0].currency.as_str(), r.money[0].open_balance_minor),
        ("SEK", 900)
    );
    assert_eq!((r.baseline.escalations, r.candidate.escalations), (1, 2));
}
