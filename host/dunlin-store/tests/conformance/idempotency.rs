//! The API's idempotency keys: one request takes a key, its repeats read its response, a
//! reused key is told apart, keys expire, concurrent claims have one winner, and keys are
//! each tenant's own.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use dunlin_store::testing::Fixture;
use dunlin_store::{IdempotencyClaim, IdempotentRequest};

use crate::data::{seed, tid};

dunlin_store::conformance!(
    a_key_is_taken_once_and_then_answers_with_its_response,
    an_expired_or_released_key_is_free_again,
    concurrent_claims_of_one_key_have_one_winner,
    keys_are_each_tenants_and_each_routes_own,
);

fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 2, 10, hour, 0, 0).unwrap()
}

fn request<'a>(
    route: &'a str,
    key: &'a str,
    sha: &'a str,
    now: DateTime<Utc>,
) -> IdempotentRequest<'a> {
    IdempotentRequest {
        route,
        key,
        request_sha256: sha,
        now,
        ttl: Duration::hours(24),
    }
}

async fn a_key_is_taken_once_and_then_answers_with_its_response(f: Fixture) {
    let t = tid("acme");
    seed(&f, &t).await;
    let route = "POST /v1/invoices:batch";
    let first = request(route, "k1", "aa", at(9));
    assert_eq!(
        f.db.claim_idempotency_key(&t, &first).await.unwrap(),
        IdempotencyClaim::Claimed
    );
    assert_eq!(
        f.db.claim_idempotency_key(&t, &first).await.unwrap(),
        IdempotencyClaim::InProgress { same_request: true }
    );
    f.db.finish_idempotency_key(&t, route, "k1", 200, "{\"stored\":3}")
        .await
        .unwrap();
    // Releasing a finished key keeps its response.
    f.db.release_idempotency_key(&t, route, "k1").await.unwrap();
    assert_eq!(
        f.db.claim_idempotency_key(&t, &request(route, "k1", "aa", at(10)))
            .await
            .unwrap(),
        IdempotencyClaim::Done {
            same_request: true,
            status: 200,
            body: "{\"stored\":3}".into()
        }
    );
    assert!(matches!(
        f.db.claim_idempotency_key(&t, &request(route, "k1", "bb", at(10)))
            .await
            .unwrap(),
        IdempotencyClaim::Done {
            same_request: false,
            ..
        }
    ));
    let long = "k".repeat(256);
    assert!(f
        .db
        .claim_idempotency_key(&t, &request(route, &long, "aa", at(10)))
        .await
        .is_err());
}

async fn an_expired_or_released_key_is_free_again(f: Fixture) {
    let t = tid("acme");
    seed(&f, &t).await;
    let route = "POST /v1/payments:batch";
    let claim = |now| {
        let db = f.db.clone();
        let t = t.clone();
        async move {
            db.claim_idempotency_key(&t, &request(route, "k1", "aa", now))
                .await
                .unwrap()
        }
    };
    assert_eq!(claim(at(9)).await, IdempotencyClaim::Claimed);
    f.db.release_idempotency_key(&t, route, "k1").await.unwrap();
    assert_eq!(claim(at(9)).await, IdempotencyClaim::Claimed);
    f.db.finish_idempotency_key(&t, route, "k1", 201, "{}")
        .await
        .unwrap();
    assert!(matches!(
        claim(at(9) + Duration::hours(23)).await,
        IdempotencyClaim::Done { .. }
    ));
    assert_eq!(
        claim(at(9) + Duration::hours(24)).await,
        IdempotencyClaim::Claimed
    );
}

async fn concurrent_claims_of_one_key_have_one_winner(f: Fixture) {
    let t = tid("acme");
    seed(&f, &t).await;
    let db: Arc<dyn dunlin_store::Db> = f.db.clone();
    let claims = (0..8).map(|_| {
        let db = db.clone();
        let t = t.clone();
        tokio::spawn(async move {
            db.claim_idempotency_key(&t, &request("POST /v1/x", "k", "aa", at(9)))
                .await
                .unwrap()
        })
    });
    let mut won = 0;
    for claim in claims.collect::<Vec<_>>() {
        match claim.await.unwrap() {
            IdempotencyClaim::Claimed => won += 1,
            other => assert_eq!(other, IdempotencyClaim::InProgress { same_request: true }),
        }
    }
    assert_eq!(won, 1);
}

async fn keys_are_each_tenants_and_each_routes_own(f: Fixture) {
    let (acme, beta) = (tid("acme"), tid("beta"));
    seed(&f, &acme).await;
    seed(&f, &beta).await;
    let route = "POST /v1/customers:batch";
    f.db.claim_idempotency_key(&acme, &request(route, "k", "aa", at(9)))
        .await
        .unwrap();
    f.db.finish_idempotency_key(&acme, route, "k", 200, "acme's")
        .await
        .unwrap();
    // Beta finishing or releasing its own "k" does not touch acme's.
    f.db.finish_idempotency_key(&beta, route, "k", 500, "beta's")
        .await
        .unwrap();
    assert_eq!(
        f.db.claim_idempotency_key(&beta, &request(route, "k", "aa", at(9)))
            .await
            .unwrap(),
        IdempotencyClaim::Claimed
    );
    assert_eq!(
        f.db.claim_idempotency_key(&acme, &request("POST /v1/invoices:batch", "k", "aa", at(9)))
            .await
            .unwrap(),
        IdempotencyClaim::Claimed
    );
    assert_eq!(
        f.db.claim_idempotency_key(&acme, &request(route, "k", "aa", at(9)))
            .await
            .unwrap(),
        IdempotencyClaim::Done {
            same_request: true,
            status: 200,
            body: "acme's".into()
        }
    );
}
