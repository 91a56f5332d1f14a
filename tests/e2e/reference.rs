//! The reference policies in the real sandbox: their cases files pass, and 90 days of the
//! example book play out with no policy failure and plausible outcomes.

use dunlin_core::cases::CasesFile;
use dunlin_core::simulate::{simulate, Book, Status};
use dunlin_runtime::Mode;
use dunlin_tests::{reference_policy, repo, runtime, REFERENCE_POLICIES};

#[test]
fn reference_cases_pass_in_the_sandbox() {
    for name in REFERENCE_POLICIES {
        let text =
            std::fs::read_to_string(repo().join("policies").join(name).join("cases.json")).unwrap();
        let cases = CasesFile::parse(&text).unwrap();
        let loaded = runtime().load(&reference_policy(name)).unwrap();
        let failed: Vec<_> = cases
            .run(&mut loaded.handle(Mode::Strict))
            .into_iter()
            .filter_map(|r| r.problem.map(|p| format!("{}: {p}", r.name)))
            .collect();
        assert!(failed.is_empty(), "{name}:\n{}", failed.join("\n"));
    }
}

fn book() -> Book {
    let text = std::fs::read_to_string(repo().join("examples").join("book.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn example_book_plays_through_every_reference_policy() {
    let book = book();
    for name in REFERENCE_POLICIES {
        let loaded = runtime().load(&reference_policy(name)).unwrap();
        let outcome = simulate(&book, &mut loaded.handle(Mode::Batch), 90).unwrap();
        assert_eq!(outcome.failures, 0, "{name}: {:#?}", outcome.timelines);
        let paid = outcome
            .timelines
            .iter()
            .filter(|t| matches!(t.status, Status::Paid(_)))
            .count();
        assert!(paid >= 3, "{name}: only {paid} paid");
        // Harbour disputes its invoice on 2026-01-20: no policy acts on it after that.
        let harbour = outcome
            .timelines
            .iter()
            .find(|t| t.invoice == "inv-1009")
            .unwrap();
        let after_dispute = harbour
            .events
            .iter()
            .filter(|e| e.on >= "2026-01-20".parse().unwrap())
            .filter(|e| e.what.contains("notify") || e.what.contains("escalate"));
        assert_eq!(after_dispute.count(), 0, "{name}: {harbour:#?}");
    }
}

#[test]
fn standard_ladder_reaches_collections_for_a_silent_customer() {
    let loaded = runtime().load(&reference_policy("standard")).unwrap();
    let outcome = simulate(&book(), &mut loaded.handle(Mode::Strict), 90).unwrap();
    let cobalt = outcome
        .timelines
        .iter()
        .find(|t| t.invoice == "inv-1003")
        .unwrap();
    assert!(
        matches!(cobalt.status, Status::Escalated(_)),
        "{:#?}",
        cobalt
    );
    let levels: Vec<_> = cobalt
        .events
        .iter()
        .filter(|e| !e.what.contains("pre-due"))
        .filter_map(|e| e.what.split("notify L").nth(1)?.chars().next())
        .collect();
    assert_eq!(levels, vec!['1', '2', '3'], "{cobalt:#?}");
}
