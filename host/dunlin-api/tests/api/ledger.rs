//! Customers, invoices, payments, disputes and plans: single upserts, batches with per-row answers, bad bodies.

use crate::support::*;

dunlin_store::conformance!(
    customers_and_invoices_are_upserted_one_at_a_time,
    batches_answer_per_row,
    bad_bodies_are_4xx_in_the_error_shape,
    payments_disputes_and_plans_are_upserted_one_at_a_time,
    ndjson_batches_name_each_bad_line,
);

async fn customers_and_invoices_are_upserted_one_at_a_time(f: Fixture) {
    let api = Api::new(f).await;
    let acme = TenantId::new("acme").unwrap();
    let (s, v) = api
        .call(
            Method::PUT,
            "/v1/customers/c1",
            Some(&api.acme),
            Some(customer_row("c1")),
        )
        .await;
    assert_eq!((s, &v), (StatusCode::OK, &json!({"id": "c1"})));
    // The id may come from the path alone; the same row again changes nothing.
    let mut row = customer_row("c2");
    row.as_object_mut().unwrap().remove("id");
    let (s, _) = api
        .call(Method::PUT, "/v1/customers/c2", Some(&api.acme), Some(row))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        api.f
            .db
            .customer(&acme, "c2")
            .await
            .unwrap()
            .unwrap()
            .contact["email"],
        "c2@example.com"
    );
    let (s, v) = api
        .call(
            Method::PUT,
            "/v1/customers/c3",
            Some(&api.acme),
            Some(customer_row("c1")),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("id-mismatch"))
    );
    let mut bad = customer_row("c4");
    bad["currency"] = json!("EURO");
    let (s, v) = api
        .call(Method::PUT, "/v1/customers/c4", Some(&api.acme), Some(bad))
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid-row")),
        "{v}"
    );
    assert!(
        v["error"]["message"].as_str().unwrap().contains("currency"),
        "{v}"
    );
    assert!(api.f.db.customer(&acme, "c4").await.unwrap().is_none());

    let (s, v) = api
        .call(
            Method::PUT,
            "/v1/invoices/i1",
            Some(&api.acme),
            Some(invoice_row("i1", "c1")),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let stored = api.f.db.invoice(&acme, "i1").await.unwrap().unwrap();
    assert_eq!(stored.amount.minor, 10_000);
    // An invoice of a customer the tenant lacks is refused and names the customer.
    let (s, v) = api
        .call(
            Method::PUT,
            "/v1/invoices/i2",
            Some(&api.acme),
            Some(invoice_row("i2", "ghost")),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("ghost"),
        "{v}"
    );
    api.refuses_without_a_valid_key(Method::PUT, "/v1/customers/c1", Some(customer_row("c1")))
        .await;
    api.refuses_without_a_valid_key(
        Method::PUT,
        "/v1/invoices/i1",
        Some(invoice_row("i1", "c1")),
    )
    .await;
}

async fn batches_answer_per_row(f: Fixture) {
    let api = Api::new(f).await;
    let acme = TenantId::new("acme").unwrap();
    let customers = json!([customer_row("c1"), {"id": "c2"}, customer_row("c3"), 7]);
    let (s, v) = api
        .call(
            Method::POST,
            "/v1/customers:batch",
            Some(&api.acme),
            Some(customers),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["received"].as_u64(), v["stored"].as_u64()),
        (Some(4), Some(2)),
        "{v}"
    );
    let indexes: Vec<u64> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    // A row with several bad fields has one error per field.
    assert_eq!(indexes, [1, 1, 3], "{v}");
    assert!(api.f.db.customer(&acme, "c3").await.unwrap().is_some());

    let invoices = json!([
        invoice_row("i1", "c1"),
        invoice_row("i2", "c2"),
        invoice_row("i3", "c3")
    ]);
    let (s, v) = api
        .call(
            Method::POST,
            "/v1/invoices:batch",
            Some(&api.acme),
            Some(invoices),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["stored"], 2, "{v}");
    assert_eq!(v["errors"][0]["index"], 1, "c2 was refused: {v}");

    let payments = json!([
        {"id": "p1", "invoice-id": "i1", "amount-minor": 10_000, "currency": "EUR", "paid-on": "2026-02-01"},
        {"id": "p2", "invoice-id": "i3", "amount-minor": 1, "currency": "USD", "paid-on": "2026-02-01"},
    ]);
    let (s, v) = api
        .call(
            Method::POST,
            "/v1/payments:batch",
            Some(&api.acme),
            Some(payments),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (v["stored"].as_u64(), v["errors"][0]["index"].as_u64()),
        (Some(1), Some(1)),
        "{v}"
    );
    let paid = api.f.db.invoice(&acme, "i1").await.unwrap().unwrap();
    assert_eq!(paid.status.as_str(), "paid");

    let too_many = Value::Array((0..51).map(|i| customer_row(&format!("x{i}"))).collect());
    let (s, v) = api
        .call(
            Method::POST,
            "/v1/customers:batch",
            Some(&api.acme),
            Some(too_many),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("too-many-rows"))
    );
    for path in [
        "/v1/customers:batch",
        "/v1/invoices:batch",
        "/v1/payments:batch",
        "/v1/disputes:batch",
        "/v1/plans:batch",
    ] {
        let (s, v) = api
            .call(
                Method::POST,
                path,
                Some(&api.acme),
                Some(json!({"not": "an array"})),
            )
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid-body")),
            "{path}"
        );
        api.refuses_without_a_valid_key(Method::POST, path, Some(json!([])))
            .await;
    }
}

async fn bad_bodies_are_4xx_in_the_error_shape(f: Fixture) {
    let api = Api::new(f).await;
    let put = |body: Body, content_type: &'static str| {
        Request::builder()
            .method(Method::POST)
            .uri("/v1/customers:batch")
            .header("authorization", format!("Bearer {}", api.acme))
            .header("content-type", content_type)
            .body(body)
            .unwrap()
    };
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let cases: Vec<(Body, &str, StatusCode, &str)> = vec![
        (
            Body::from("{not json"),
            "application/json",
            StatusCode::BAD_REQUEST,
            "invalid-body",
        ),
        (
            Body::from(deep),
            "application/json",
            StatusCode::BAD_REQUEST,
            "invalid-body",
        ),
        (
            Body::from("[]"),
            "text/plain",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
        ),
        (
            Body::from(vec![b' '; 65 * 1024]),
            "application/json",
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
        ),
    ];
    for (body, content_type, status, code) in cases {
        let (s, text) = api.raw(put(body, content_type)).await;
        assert_eq!(s, status, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"]["code"], code, "{text}");
        assert!(v["error"]["message"].is_string() && v["error"].get("details").is_some());
    }
    let (s, v) = api
        .call(Method::GET, "/v1/decisions?limit=0", Some(&api.acme), None)
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid-query"))
    );
    let (s, v) = api.get("/v1/decisions?from=yesterday", &api.acme).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid-query"))
    );
}

async fn payments_disputes_and_plans_are_upserted_one_at_a_time(f: Fixture) {
    let api = Api::new(f).await;
    let acme = TenantId::new("acme").unwrap();
    seed_decision(&api).await;
    let put = |path: &'static str, key: &str, body: Value| {
        let key = key.to_owned();
        let api = &api;
        async move { api.call(Method::PUT, path, Some(&key), Some(body)).await }
    };
    // Customer profiles carry locale, time zone, opt-outs and free-form contact addresses.
    let mut c2 = customer_row("c2");
    c2["locale"] = json!("fi-FI");
    c2["time-zone"] = json!("Europe/Helsinki");
    c2["opted-out"] = json!(["sms"]);
    c2["contact.postal-address"] = json!("Mannerheimintie 1\nHelsinki");
    let (s, v) = put("/v1/customers/c2", &api.acme, c2).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let c2 = api.f.db.customer(&acme, "c2").await.unwrap().unwrap();
    assert_eq!(
        (c2.profile.locale.as_str(), c2.profile.time_zone.as_str()),
        ("fi-FI", "Europe/Helsinki")
    );
    assert_eq!(c2.profile.opted_out, [dunlin_core::Channel::Sms]);
    assert_eq!(c2.contact["postal-address"], "Mannerheimintie 1\nHelsinki");

    let i1 = || async { api.f.db.invoice(&acme, "i1").await.unwrap().unwrap() };
    let dispute = json!({"invoice-id": "i1", "opened-on": "2026-02-11", "reason": "wrong amount"});
    let (s, v) = put("/v1/disputes/d1", &api.acme, dispute.clone()).await;
    assert_eq!((s, &v), (StatusCode::OK, &json!({"id": "d1"})));
    assert!(i1().await.disputed);
    // Opening the dispute withdrew the pending reminder.
    let outbox = api.f.db.outbox(&acme, &Default::default()).await.unwrap();
    assert_eq!(outbox[0].status, ActionStatus::Cancelled);
    let mut resolved = dispute.clone();
    resolved["status"] = json!("resolved");
    resolved["resolved-on"] = json!("2026-02-12");
    let (s, v) = put("/v1/disputes/d1", &api.acme, resolved).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(!i1().await.disputed);
    let mut bad = dispute.clone();
    bad["status"] = json!("closed");
    let (s, v) = put("/v1/disputes/d2", &api.acme, bad).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid-row")),
        "{v}"
    );

    let promise = json!({"invoice-id": "i1", "kind": "promise", "agreed-on": "2026-02-12",
                         "expires-on": "2026-02-20"});
    let (s, v) = put("/v1/plans/pp1", &api.acme, promise.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let due = api
        .f
        .db
        .due_for_review(&acme, &DueQuery::new(date("2026-02-17")))
        .await
        .unwrap();
    assert_eq!(due.invoices.len(), 1);
    assert!(due.invoices[0].context.invoice.on_payment_plan);
    let mut bad = promise.clone();
    bad["kind"] = json!("hope");
    let (s, _) = put("/v1/plans/pp2", &api.acme, bad).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let mut again = promise.clone();
    again["id"] = json!("pp1");
    let (s, v) = api
        .call(
            Method::POST,
            "/v1/plans:batch",
            Some(&api.acme),
            Some(json!([again, {"id": "pp3"}])),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["stored"].as_u64(), v["errors"][0]["index"].as_u64()),
        (Some(1), Some(1))
    );

    let payment = json!({"invoice-id": "i1", "amount-minor": 10_000, "currency": "EUR",
                         "paid-on": "2026-02-13"});
    let (s, v) = put("/v1/payments/p1", &api.acme, payment.clone()).await;
    assert_eq!((s, &v), (StatusCode::OK, &json!({"id": "p1"})));
    let (s, _) = put("/v1/payments/p1", &api.acme, payment.clone()).await;
    assert_eq!(s, StatusCode::OK);
    let paid = i1().await;
    assert_eq!((paid.status.as_str(), paid.open_balance.minor), ("paid", 0));

    // Beta cannot reach acme's invoice: its rows name an invoice it does not have.
    for (path, body) in [
        ("/v1/payments/p9", payment.clone()),
        ("/v1/disputes/d9", dispute.clone()),
    ] {
        let (s, v) = put(path, &api.beta, body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {v}");
        assert!(!v.to_string().contains("c1"), "{v}");
    }
    let (s, v) = put(
        "/v1/plans/pp9",
        &api.beta,
        json!({"invoice-id": "i1", "kind": "plan",
        "agreed-on": "2026-02-12", "expires-on": "2026-03-12"}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(i1().await.open_balance.minor, 0);
    for path in ["/v1/payments/p1", "/v1/disputes/d1", "/v1/plans/pp1"] {
        api.refuses_without_a_valid_key(Method::PUT, path, Some(json!({})))
            .await;
    }
}

async fn ndjson_batches_name_each_bad_line(f: Fixture) {
    let api = Api::new(f).await;
    let acme = TenantId::new("acme").unwrap();
    let body = format!(
        "{}\n\n{{not json\n{}\n{}\n",
        customer_row("c1"),
        json!({"id": "c2"}),
        customer_row("c3")
    );
    let ndjson = |body: String| {
        Request::builder()
            .method(Method::POST)
            .uri("/v1/customers:batch")
            .header("authorization", format!("Bearer {}", api.acme))
            .header("content-type", "application/x-ndjson")
            .body(Body::from(body))
            .unwrap()
    };
    let (s, text) = api.raw(ndjson(body)).await;
    assert_eq!(s, StatusCode::OK, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (v["received"].as_u64(), v["stored"].as_u64()),
        (Some(4), Some(2)),
        "{v}"
    );
    let errors = v["errors"].as_array().unwrap();
    // The blank line 2 is not a row; line 3 is not JSON; line 4 lacks fields.
    assert_eq!(
        (errors[0]["index"].as_u64(), errors[0]["line"].as_u64()),
        (Some(1), Some(3)),
        "{v}"
    );
    assert!(
        errors[0]["message"].as_str().unwrap().contains("not JSON"),
        "{v}"
    );
    assert!(
        errors[1..]
            .iter()
            .all(|e| e["index"] == 2 && e["line"] == 4),
        "{v}"
    );
    assert!(api.f.db.customer(&acme, "c3").await.unwrap().is_some());
    assert!(api.f.db.customer(&acme, "c2").await.unwrap().is_none());
    // Over the row cap, NDJSON is refused whole like an array.
    let many: String = (0..51)
        .map(|i| format!("{}\n", customer_row(&format!("x{i}"))))
        .collect();
    let (s, text) = api.raw(ndjson(many)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("too-many-rows"), "{text}");
}
