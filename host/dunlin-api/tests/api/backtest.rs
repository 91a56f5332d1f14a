//! `POST /v1/policies/{version}/backtest`: the comparison over the tenant's recorded
//! decisions, as the CLI's `--json` gives it; bounded windows; another tenant's versions are
//! not found.

use dunlin_store::testing::{customer, invoice};
use dunlin_sweep::{sweep, SweepOptions};

use crate::support::*;

dunlin_store::conformance!(
    a_backtest_answers_the_known_difference_of_two_versions,
    backtest_refuses_bad_windows_and_other_tenants_versions,
    a_backtest_with_a_forward_look_plays_the_open_invoices_forward,
);

/// acme: fx-ladder active (version 1), fx-ladder-early stored (version 2); an `smb`
/// customer's invoice and a plain one, 30 days overdue on 2026-03-01, swept daily to
/// 2026-03-11 (40 days overdue: both go to collections).
async fn seeded(api: &Api) {
    let db = api.f.db.as_ref();
    let t = TenantId::new("acme").unwrap();
    for name in ["fx-ladder", "fx-ladder-early"] {
        let v = db
            .add_policy_version(&t, &dunlin_tests::fixture(name))
            .await
            .unwrap();
        if v.version == 1 {
            db.activate_policy_version(&t, 1).await.unwrap();
        }
    }
    db.upsert_customers(
        &t,
        &[customer("c-smb").with_tags(&["smb"]), customer("c-other")],
    )
    .await
    .unwrap();
    let due = date("2026-01-30");
    db.upsert_invoices(
        &t,
        &[
            invoice("inv-smb", "c-smb", due, 10_000),
            invoice("inv-other", "c-other", due, 4_000),
        ],
    )
    .await
    .unwrap();
    let mut day = date("2026-03-01");
    while day <= date("2026-03-11") {
        sweep(db, &api.state.runtime, &t, &SweepOptions::new(day))
            .await
            .unwrap();
        day = day.succ_opt().unwrap();
    }
}

const PATH: &str = "/v1/policies/2/backtest";

async fn a_backtest_answers_the_known_difference_of_two_versions(f: Fixture) {
    let api = Api::new(f).await;
    seeded(&api).await;
    let (s, v) = api
        .call(
            Method::POST,
            PATH,
            Some(&api.acme),
            Some(json!({"from": "2026-03-01", "to": "2026-03-31", "listed": 2})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((&v["version"], &v["truncated"]), (&json!(2), &json!(false)));
    let r = &v["comparison"];
    assert_eq!(
        (&r["total"], &r["agreed"], &r["disagreed"]),
        (&json!(22), &json!(15), &json!(7)),
        "{r}"
    );
    assert_eq!(r["segments"]["smb"], json!({"total": 11, "agreed": 4}));
    assert_eq!(r["directions"], json!({"earlier-escalation": 7}));
    assert_eq!(
        (
            &r["baseline"]["escalations"],
            &r["candidate"]["escalations"]
        ),
        (&json!(2), &json!(9))
    );
    assert_eq!(
        r["money"],
        json!([{"direction": "earlier-escalation", "currency": "EUR", "invoices": 1,
                "open-balance-minor": 10_000}])
    );
    assert_eq!(r["disagreements"].as_array().unwrap().len(), 2);
    assert_eq!(r["disagreements-not-listed"], 5);
    assert_eq!(
        r["disagreements"][0]["candidate-reason"],
        "smb: to collections at day 33"
    );

    // A window after the history compares nothing.
    let (s, v) = api
        .call(
            Method::POST,
            PATH,
            Some(&api.acme),
            Some(json!({"from": "2026-04-01", "to": "2026-04-30"})),
        )
        .await;
    assert_eq!((s, &v["comparison"]["total"]), (StatusCode::OK, &json!(0)));
}

async fn backtest_refuses_bad_windows_and_other_tenants_versions(f: Fixture) {
    let api = Api::new(f).await;
    seeded(&api).await;
    let window = json!({"from": "2026-03-01", "to": "2026-03-31"});
    // beta has no versions of its own; acme's version 2 is not found for it.
    for path in [PATH, "/v1/policies/1/backtest"] {
        let (s, v) = api
            .call(Method::POST, path, Some(&api.beta), Some(window.clone()))
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {v}");
        assert_eq!(v["error"]["code"], "not-found", "{v}");
    }
    let (s, _) = api
        .call(
            Method::POST,
            "/v1/policies/9/backtest",
            Some(&api.acme),
            Some(window.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // 92 days, both ends included, is the longest window; one more day is refused.
    let (s, v) = api
        .call(
            Method::POST,
            PATH,
            Some(&api.acme),
            Some(json!({"from": "2026-01-01", "to": "2026-04-02"})),
        )
        .await;
    assert_eq!(
        (s, &v["comparison"]["total"]),
        (StatusCode::OK, &json!(22)),
        "{v}"
    );
    for (body, code) in [
        (
            json!({"from": "2026-03-31", "to": "2026-03-01"}),
            "bad-window",
        ),
        (
            json!({"from": "2026-01-01", "to": "2026-04-03"}),
            "bad-window",
        ),
        (
            json!({"from": "2026-03-01", "to": "2026-03-31", "listed": 101}),
            "bad-listed",
        ),
    ] {
        let (s, v) = api
            .call(Method::POST, PATH, Some(&api.acme), Some(body.clone()))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert_eq!(v["error"]["code"], code, "{body}: {v}");
    }
    for body in [
        json!({"from": "2026-03-01"}),
        json!({"from": "2026-03-01", "to": "March"}),
        json!({"from": "2026-03-01", "to": "2026-03-02", "forward": 3}),
    ] {
        let (s, v) = api
            .call(Method::POST, PATH, Some(&api.acme), Some(body.clone()))
            .await;
        assert!(s.is_client_error(), "{body}: {s} {v}");
        assert!(v["error"]["code"].is_string(), "{v}");
    }
    let (s, _) = api
        .call(
            Method::POST,
            "/v1/policies/two/backtest",
            Some(&api.acme),
            Some(window.clone()),
        )
        .await;
    assert!(s.is_client_error(), "{s}");
    api.refuses_without_a_valid_key(Method::POST, PATH, Some(window))
        .await;
}

async fn a_backtest_with_a_forward_look_plays_the_open_invoices_forward(f: Fixture) {
    let api = Api::new(f).await;
    seeded(&api).await;
    let db = api.f.db.as_ref();
    let t = TenantId::new("acme").unwrap();
    // Due 2026-03-01 and never reviewed: the only open ladder after the seeded sweeps.
    db.upsert_invoices(
        &t,
        &[invoice("inv-late", "c-smb", date("2026-03-01"), 6_000)],
    )
    .await
    .unwrap();
    let body = json!({"from": "2026-03-01", "to": "2026-03-31",
                      "forward": {"start": "2026-03-12", "days": 30}});
    let (s, v) = api
        .call(Method::POST, PATH, Some(&api.acme), Some(body.clone()))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["comparison"]["total"], 22,
        "the backtest is still there: {v}"
    );
    let r = &v["forward"];
    assert_eq!(
        (&r["baseline-version"], &r["version"]),
        (&json!(1), &json!(2))
    );
    // Day 11 to day 40 overdue: fx-ladder escalates on 2026-04-10, fx-ladder-early (smb) on
    // 2026-04-03.
    assert_eq!(
        (&r["invoices"], &r["invoices-differing"]),
        (&json!(1), &json!(1)),
        "{r}"
    );
    assert_eq!(r["decisions"], json!([30, 23]));
    assert_eq!(
        r["money"],
        json!([{"direction": "earlier-escalation", "currency": "EUR", "invoices": 1,
                "open-balance-minor": 6_000}])
    );
    let ladder = &r["ladders"][0];
    assert_eq!(ladder["invoice-id"], "inv-late");
    assert_eq!(ladder["baseline"][0]["on"], "2026-04-10");
    assert_eq!(ladder["candidate"][0]["on"], "2026-04-03");
    assert_eq!(ladder["candidate"][0]["what"], "escalate collections");
    // Nothing was written: the invoice has no ladder yet.
    assert_eq!(db.dunning_state(&t, "inv-late").await.unwrap(), None);

    // Another tenant does not reach acme's versions or invoices; without an active version
    // of its own there is nothing to compare with.
    let beta = TenantId::new("beta").unwrap();
    let (s, _) = api
        .call(Method::POST, PATH, Some(&api.beta), Some(body.clone()))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    db.add_policy_version(&beta, &dunlin_tests::fixture("fx-ladder"))
        .await
        .unwrap();
    let own = "/v1/policies/1/backtest";
    let (s, v) = api
        .call(Method::POST, own, Some(&api.beta), Some(body.clone()))
        .await;
    assert_eq!(
        (s, &v["error"]["code"]),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!("no-active-version")
        ),
        "{v}"
    );
    db.activate_policy_version(&beta, 1).await.unwrap();
    let (s, v) = api
        .call(Method::POST, own, Some(&api.beta), Some(body))
        .await;
    assert_eq!(
        (s, &v["forward"]["invoices"]),
        (StatusCode::OK, &json!(0)),
        "{v}"
    );

    for days in [0, 93] {
        let body = json!({"from": "2026-03-01", "to": "2026-03-31",
                          "forward": {"start": "2026-03-12", "days": days}});
        let (s, v) = api
            .call(Method::POST, PATH, Some(&api.acme), Some(body))
            .await;
        assert_eq!(
            (s, &v["error"]["code"]),
            (StatusCode::BAD_REQUEST, &json!("bad-forward-days")),
            "{v}"
        );
    }
}
