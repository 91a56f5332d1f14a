//! The operator routes.

use crate::support::*;

dunlin_store::conformance!(operator_routes_make_list_and_revoke_keys);

async fn operator_routes_make_list_and_revoke_keys(f: Fixture) {
    let api = Api::new(f).await;
    let path = "/v1/admin/tenants/acme/keys";
    let (s, v) = api
        .call(
            Method::POST,
            path,
            Some(OPERATOR),
            Some(json!({"label": "sync"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let key = v["key"].as_str().unwrap().to_owned();
    let id = v["id"].as_str().unwrap().to_owned();
    let (s, _) = api
        .call(Method::GET, "/v1/decisions", Some(&key), None)
        .await;
    assert_eq!(s, StatusCode::OK, "the new key works");
    let (s, v) = api.call(Method::GET, path, Some(OPERATOR), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert!(
        !v.to_string().contains(&key[3..]),
        "a list never shows a key"
    );
    // A tenant's key is not the operator's.
    let (s, _) = api.call(Method::GET, path, Some(&api.acme), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, v) = api
        .call(
            Method::POST,
            path,
            Some(OPERATOR),
            Some(json!({"label": "a\u{1b}b"})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid-body"))
    );
    // Revoking by beta's path does not reach acme's key.
    let (s, _) = api
        .call(
            Method::DELETE,
            &format!("/v1/admin/tenants/beta/keys/{id}"),
            Some(OPERATOR),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api
        .call(
            Method::DELETE,
            &format!("{path}/{id}"),
            Some(OPERATOR),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = api
        .call(Method::GET, "/v1/decisions", Some(&key), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a revoked key finds no tenant");
    let (s, _) = api
        .call(
            Method::GET,
            "/v1/admin/tenants/nobody/keys",
            Some(OPERATOR),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    api.refuses_admin(path).await;
}

impl Api {
    async fn refuses_admin(&self, path: &str) {
        for key in [None, Some("wrong"), Some(self.acme.as_str())] {
            let (s, _) = self.call(Method::GET, path, key, None).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{key:?}");
        }
    }
}
