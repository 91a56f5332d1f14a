//! The decision log's outcome and failure-code filters, and the action list with its filters
//! and pages.

use dunlin_core::Retry;

use crate::support::*;

dunlin_store::conformance!(
    decisions_are_filtered_by_outcome_and_failure_code,
    actions_are_listed_with_filters_and_pages,
);

async fn ids(api: &Api, key: &str, path: &str) -> (Vec<i64>, Option<String>) {
    let (s, v) = api.get(path, key).await;
    assert_eq!(s, StatusCode::OK, "{path}: {v}");
    let ids = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    (ids, v["next-cursor"].as_str().map(str::to_owned))
}

async fn decisions_are_filtered_by_outcome_and_failure_code(f: Fixture) {
    let api = Api::new(f).await;
    seed_decision(&api).await;
    let acme = api.acme.clone();
    assert_eq!(
        ids(&api, &acme, "/v1/decisions?outcome=decided")
            .await
            .0
            .len(),
        1
    );
    for path in [
        "/v1/decisions?outcome=failed",
        "/v1/decisions?outcome=no-policy",
        "/v1/decisions?failure-code=out-of-fuel",
        "/v1/decisions?outcome=decided&failure-code=trap",
    ] {
        assert!(ids(&api, &acme, path).await.0.is_empty(), "{path}");
    }
    let (s, v) = api
        .call(
            Method::GET,
            "/v1/decisions?outcome=maybe",
            Some(&acme),
            None,
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid-query"))
    );
    let beta = api.beta.clone();
    assert!(ids(&api, &beta, "/v1/decisions?outcome=decided")
        .await
        .0
        .is_empty());
}

async fn actions_are_listed_with_filters_and_pages(f: Fixture) {
    let api = Api::new(f).await;
    let letter = Action::Notify(Notice {
        level: 2,
        channel: Channel::Letter,
        tone: Tone::Firm,
        template: "letter".into(),
        vars: Default::default(),
    });
    let retry = Action::RetryPayment(Retry {
        reason: "card on file".into(),
    });
    seed_decision_with(&api, vec![retry, letter]).await;
    let acme = api.acme.clone();
    let (all, cursor) = ids(&api, &acme, "/v1/actions").await;
    assert_eq!((all.len(), cursor), (2, None));
    let cases: [(&str, &[i64]); 9] = [
        ("kind=retry-payment", &all[..1]),
        ("kind=notify&invoice=i1", &all[1..]),
        ("customer=c1", &all),
        ("customer=c2", &[]),
        ("status=pending", &all),
        ("status=delivered", &[]),
        ("from=2026-02-10&to=2026-02-10", &all),
        ("from=2026-02-11", &[]),
        ("to=2026-02-09", &[]),
    ];
    for (query, expected) in cases {
        let (found, _) = ids(&api, &acme, &format!("/v1/actions?{query}")).await;
        assert_eq!(found, expected, "{query}");
    }
    let (first, cursor) = ids(&api, &acme, "/v1/actions?limit=1").await;
    let cursor = cursor.expect("a second page");
    let (second, last) = ids(&api, &acme, &format!("/v1/actions?limit=1&cursor={cursor}")).await;
    assert_eq!(([first, second].concat(), last), (all.clone(), None));
    for query in [
        "kind=shout",
        "status=lost",
        "from=today",
        "cursor=abc",
        "limit=0",
        "colour=red",
    ] {
        let (s, v) = api
            .call(
                Method::GET,
                &format!("/v1/actions?{query}"),
                Some(&acme),
                None,
            )
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid-query")),
            "{query}: {v}"
        );
    }
    // Beta sees none of acme's actions, filtered or not.
    let (s, v) = api
        .call(Method::GET, "/v1/actions?invoice=i1", Some(&api.beta), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["items"], json!([]));
    assert!(!v.to_string().contains("c1"), "{v}");
    api.refuses_without_a_valid_key(Method::GET, "/v1/actions", None)
        .await;
}
