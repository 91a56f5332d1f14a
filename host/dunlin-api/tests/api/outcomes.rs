//! Outcomes of actions the tenant executed: stored with the action, shown in the next
//! decision's history, a successful retry settling the invoice, reports that do not fit
//! refused, and no reach into another tenant's actions.

use dunlin_core::{ActionKind, ActionOutcome, CollectionFailure, DeclineKind, Retry};

use crate::support::*;

dunlin_store::conformance!(
    reported_outcomes_show_in_the_next_decisions_history,
    a_successful_retry_settles_the_invoice_as_a_payment,
);

fn notice(level: u8, channel: Channel) -> Action {
    Action::Notify(Notice {
        level,
        channel,
        tone: Tone::Neutral,
        template: "reminder".into(),
        vars: Default::default(),
    })
}

fn retry() -> Action {
    Action::RetryPayment(Retry {
        reason: "card on file".into(),
    })
}

/// The ids of acme's actions, in the decision's order.
async fn action_ids(api: &Api) -> Vec<i64> {
    let acme = TenantId::new("acme").unwrap();
    let outbox = api.f.db.outbox(&acme, &Default::default()).await.unwrap();
    outbox.iter().map(|e| e.id).collect()
}

async fn report(
    api: &Api,
    key: &str,
    id: impl std::fmt::Display,
    body: Value,
) -> (StatusCode, Value) {
    api.call(
        Method::POST,
        &format!("/v1/actions/{id}/outcome"),
        Some(key),
        Some(body),
    )
    .await
}

/// Acme's report for action `id` answers 409 with `why` in its message.
async fn refused(api: &Api, id: i64, body: Value, why: &str) {
    let (s, v) = report(api, &api.acme, id, body).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("outcome-does-not-fit")),
        "{v}"
    );
    assert!(v["error"]["message"].as_str().unwrap().contains(why), "{v}");
}

async fn reported_outcomes_show_in_the_next_decisions_history(f: Fixture) {
    let api = Api::new(f).await;
    let acme = TenantId::new("acme").unwrap();
    seed_decision_with(
        &api,
        vec![
            retry(),
            notice(2, Channel::Letter),
            notice(2, Channel::Phone),
            notice(1, Channel::Email),
            notice(1, Channel::Sms),
        ],
    )
    .await;
    let ids = action_ids(&api).await;
    let declined = json!({"outcome": "declined", "on": "2026-02-11",
                          "code": "insufficient_funds", "kind": "soft"});
    let (s, v) = report(&api, &api.acme, ids[0], declined.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["action"]["status"].as_str(), v["action"]["code"].as_str()),
        (Some("declined"), Some("insufficient_funds")),
        "{v}"
    );
    // The same report again changes nothing; another one for the same action is refused.
    let (s, again) = report(&api, &api.acme, ids[0], declined.clone()).await;
    assert_eq!(
        (s, &again["action"]["reported-at"]),
        (StatusCode::OK, &v["action"]["reported-at"])
    );
    refused(
        &api,
        ids[0],
        json!({"outcome": "succeeded", "on": "2026-02-12"}),
        "reported already",
    )
    .await;
    let (s, v) = report(
        &api,
        &api.acme,
        ids[1],
        json!({"outcome": "delivered", "on": "2026-02-12",
        "note": "posted first class"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = report(
        &api,
        &api.acme,
        ids[2],
        json!({"outcome": "reached", "on": "2026-02-13"}),
    )
    .await;
    assert_eq!(
        (s, v["action"]["status"].as_str()),
        (StatusCode::OK, Some("opened")),
        "{v}"
    );
    // Email is the host's to deliver; a retry is not "delivered".
    let delivered = json!({"outcome": "delivered", "on": "2026-02-12"});
    refused(&api, ids[3], delivered, "delivers email itself").await;
    let succeeded = json!({"outcome": "succeeded", "on": "2026-02-12"});
    refused(&api, ids[1], succeeded, "cannot be reported succeeded").await;
    // Bad reports are 400, an unknown action 404.
    for body in [
        json!({"outcome": "declined", "on": "2026-02-11"}),
        json!({"outcome": "delivered", "on": "2026-02-11", "code": "x", "kind": "hard"}),
        json!({"outcome": "exploded", "on": "2026-02-11"}),
        json!({"outcome": "delivered", "on": "yesterday"}),
        json!({"outcome": "delivered", "on": "2026-02-11", "amount-minor": 5}),
        json!({"outcome": "delivered", "on": "2026-02-11", "note": "x".repeat(501)}),
    ] {
        let (s, v) = report(&api, &api.acme, ids[3], body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
    }
    let (s, v) = report(&api, &api.acme, "x", declined.clone()).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid-path"))
    );
    let (s, _) = report(&api, &api.acme, 999_999, declined.clone()).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Beta's key finds none of acme's actions, and hears nothing of them.
    let (s, v) = report(
        &api,
        &api.beta,
        ids[3],
        json!({"outcome": "failed", "on": "2026-02-12"}),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert!(
        !v.to_string().contains("i1") && !v.to_string().contains("c1"),
        "{v}"
    );
    api.refuses_without_a_valid_key(
        Method::POST,
        &format!("/v1/actions/{}/outcome", ids[3]),
        Some(declined),
    )
    .await;

    // `explain` shows each report with its action.
    let (s, v) = api.get("/v1/invoices/i1/explain", &api.acme).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let reported: Vec<&Value> = v["decisions"][0]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["reported"])
        .collect();
    assert_eq!(
        (
            reported[0]["outcome"].as_str(),
            reported[0]["code"].as_str(),
            reported[0]["kind"].as_str()
        ),
        (Some("declined"), Some("insufficient_funds"), Some("soft")),
        "{v}"
    );
    assert_eq!(reported[1]["note"].as_str(), Some("posted first class"));
    assert_eq!(reported[2]["outcome"].as_str(), Some("reached"));
    assert!(reported[3].is_null(), "nothing reported for the email: {v}");
    // A failure the tenant's systems report is theirs to redo: the outbox does not send
    // the action again.
    let (s, v) = report(
        &api,
        &api.acme,
        ids[4],
        json!({"outcome": "failed", "on": "2026-02-13", "note": "address unknown"}),
    )
    .await;
    assert_eq!(
        (s, v["action"]["status"].as_str()),
        (StatusCode::OK, Some("failed")),
        "{v}"
    );
    let (s, v) = api
        .call(
            Method::POST,
            &format!("/v1/outbox/{}/retry", ids[4]),
            Some(&api.acme),
            None,
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("not-retryable")),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("your systems reported"),
        "{v}"
    );

    // The next decision sees each report in its history, and the decline on the invoice.
    let page = api
        .f
        .db
        .due_for_review(&acme, &DueQuery::new(date("2026-02-17")))
        .await
        .unwrap();
    let ctx = &page.invoices[0].context;
    let history: Vec<(ActionKind, Option<Channel>, ActionOutcome)> = ctx
        .history
        .iter()
        .map(|p| (p.kind, p.channel, p.outcome))
        .collect();
    assert_eq!(
        history,
        [
            (ActionKind::RetryPayment, None, ActionOutcome::Declined),
            (
                ActionKind::Notify,
                Some(Channel::Letter),
                ActionOutcome::Delivered
            ),
            (
                ActionKind::Notify,
                Some(Channel::Phone),
                ActionOutcome::Opened
            ),
            (
                ActionKind::Notify,
                Some(Channel::Email),
                ActionOutcome::Pending
            ),
            (
                ActionKind::Notify,
                Some(Channel::Sms),
                ActionOutcome::Failed
            ),
        ]
    );
    assert_eq!(ctx.invoice.failed_attempts, 1);
    assert_eq!(
        ctx.invoice.last_failure,
        Some(CollectionFailure {
            on: date("2026-02-11"),
            code: "insufficient_funds".into(),
            kind: DeclineKind::Soft,
        })
    );
}

async fn a_successful_retry_settles_the_invoice_as_a_payment(f: Fixture) {
    let api = Api::new(f).await;
    let acme = TenantId::new("acme").unwrap();
    seed_decision_with(&api, vec![retry(), notice(2, Channel::Letter)]).await;
    let ids = action_ids(&api).await;
    let succeeded = json!({"outcome": "succeeded", "on": "2026-02-12"});
    let (s, v) = report(&api, &api.acme, ids[0], succeeded.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let payment = format!("action-{}", ids[0]);
    assert_eq!(v["payment-id"].as_str(), Some(payment.as_str()), "{v}");
    let invoice = api.f.db.invoice(&acme, "i1").await.unwrap().unwrap();
    assert_eq!(
        (invoice.status.as_str(), invoice.open_balance.minor),
        ("paid", 0)
    );
    // Paid, the invoice is out of the ladder and its pending letter withdrawn: too late to
    // report it posted.
    let due = api
        .f
        .db
        .due_for_review(&acme, &DueQuery::new(date("2026-02-17")))
        .await
        .unwrap();
    assert!(due.invoices.is_empty());
    refused(
        &api,
        ids[1],
        json!({"outcome": "delivered", "on": "2026-02-12"}),
        "cancelled",
    )
    .await;
    // The repeat records no second payment.
    let (s, v) = report(&api, &api.acme, ids[0], succeeded).await;
    assert_eq!((s, &v["payment-id"]), (StatusCode::OK, &Value::Null), "{v}");
    let invoice = api.f.db.invoice(&acme, "i1").await.unwrap().unwrap();
    assert_eq!(invoice.open_balance.minor, 0);
}
