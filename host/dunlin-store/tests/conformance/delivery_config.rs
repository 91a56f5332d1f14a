//! What tenants configure for delivery: settings stored with the tenant, email templates and
//! webhook endpoints, each only ever the tenant's own.

use chrono::{Duration, SubsecRound, Utc};
use dunlin_store::testing::Fixture;
use dunlin_store::{
    DeliverySettings, NewEndpoint, StoreError, TemplateRow, TenantSettings, Weekday,
};

use crate::data::{settings, tid};

dunlin_store::conformance!(
    delivery_settings_round_trip_and_bad_ones_are_refused_by_key,
    templates_are_stored_listed_replaced_and_deleted,
    a_batch_of_templates_is_stored_whole_or_not_at_all,
    endpoints_are_added_listed_rotated_and_removed,
    another_tenant_never_sees_templates_or_endpoints,
    an_opt_out_is_recorded_once_for_the_tenants_own_customer_only,
    an_unsubscribe_outlasts_the_tenants_next_customer_upsert,
);

fn delivery() -> DeliverySettings {
    DeliverySettings {
        sender_name: "Acme Billing".into(),
        sender_address: "billing@acme.example".into(),
        reply_to: Some("ar@acme.example".into()),
        default_locale: "fi-FI".into(),
        payment_link: "https://pay.acme.example/{customer}/{invoice}".into(),
        consolidate: false,
        max_attempts: 12,
        quiet_days: vec![Weekday::Sat, Weekday::Sun],
    }
}

async fn delivery_settings_round_trip_and_bad_ones_are_refused_by_key(f: Fixture) {
    let acme = tid("acme");
    let plain = f.db.create_tenant(&acme, &settings()).await.unwrap();
    assert_eq!(plain.settings.delivery, DeliverySettings::default());
    assert_eq!(
        f.db.tenant(&acme).await.unwrap().unwrap().settings.delivery,
        DeliverySettings::default()
    );

    let with_delivery = TenantSettings {
        delivery: delivery(),
        ..settings()
    };
    f.db.update_tenant(&acme, &with_delivery).await.unwrap();
    let stored = f.db.tenant(&acme).await.unwrap().unwrap();
    assert_eq!(stored.settings.delivery, delivery());
    let beta = tid("beta");
    f.db.create_tenant(&beta, &with_delivery).await.unwrap();
    assert_eq!(
        f.db.tenant(&beta).await.unwrap().unwrap().settings,
        with_delivery
    );

    let bad = [
        (
            DeliverySettings {
                max_attempts: 0,
                ..delivery()
            },
            "delivery.max-attempts 0 is out of range",
        ),
        (
            DeliverySettings {
                default_locale: "not a locale".into(),
                ..delivery()
            },
            "delivery.default-locale",
        ),
        (
            DeliverySettings {
                payment_link: "ftp://pay.example/{invoice}".into(),
                ..delivery()
            },
            "delivery.payment-link",
        ),
        (
            DeliverySettings {
                sender_name: "Acme\r\nBcc: all@example.com".into(),
                ..delivery()
            },
            "delivery.sender-name",
        ),
    ];
    for (i, (value, says)) in bad.into_iter().enumerate() {
        let s = TenantSettings {
            delivery: value,
            ..settings()
        };
        let err = f.db.update_tenant(&acme, &s).await.unwrap_err().to_string();
        assert!(err.contains(says), "{says:?} in {err:?}");
        let err =
            f.db.create_tenant(&tid(&format!("bad-{i}")), &s)
                .await
                .unwrap_err()
                .to_string();
        assert!(err.contains(says), "{says:?} in {err:?}");
    }
    assert_eq!(
        f.db.tenant(&acme).await.unwrap().unwrap().settings.delivery,
        delivery(),
        "unchanged by the refused updates"
    );
    assert_eq!(f.db.tenants().await.unwrap().len(), 2);
}

fn template(id: &str, locale: &str, subject: &str) -> TemplateRow {
    TemplateRow {
        id: id.into(),
        locale: locale.into(),
        subject: subject.into(),
        text: format!("Hello {{{{ customer.name }}}} ({id}, {locale})"),
        html: format!("<p>Hello {{{{ customer.name }}}} ({id}, {locale})</p>"),
        updated_at: None,
    }
}

fn keys(rows: &[TemplateRow]) -> Vec<(String, String)> {
    rows.iter()
        .map(|t| (t.id.clone(), t.locale.clone()))
        .collect()
}

async fn templates_are_stored_listed_replaced_and_deleted(f: Fixture) {
    let acme = tid("acme");
    f.db.create_tenant(&acme, &settings()).await.unwrap();
    assert!(f.db.templates(&acme).await.unwrap().is_empty());
    for (id, locale) in [("reminder", "fi"), ("final", "en"), ("reminder", "de")] {
        f.db.put_template(&acme, &template(id, locale, "Subject"))
            .await
            .unwrap();
    }
    let listed = f.db.templates(&acme).await.unwrap();
    assert_eq!(
        keys(&listed),
        [("final", "en"), ("reminder", "de"), ("reminder", "fi")]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    assert!(listed.iter().all(|t| t.updated_at.is_some()));

    let replacement = template("reminder", "fi", "Muistutus");
    f.db.put_template(&acme, &replacement).await.unwrap();
    let read =
        f.db.template(&acme, "reminder", "fi")
            .await
            .unwrap()
            .expect("stored");
    assert_eq!(
        TemplateRow {
            updated_at: None,
            ..read
        },
        replacement
    );
    assert_eq!(f.db.templates(&acme).await.unwrap().len(), 3);
    assert!(f
        .db
        .template(&acme, "reminder", "sv")
        .await
        .unwrap()
        .is_none());

    assert!(f.db.delete_template(&acme, "reminder", "fi").await.unwrap());
    assert!(!f.db.delete_template(&acme, "reminder", "fi").await.unwrap());
    assert!(f
        .db
        .template(&acme, "reminder", "fi")
        .await
        .unwrap()
        .is_none());
    assert_eq!(f.db.templates(&acme).await.unwrap().len(), 2);
}

async fn a_batch_of_templates_is_stored_whole_or_not_at_all(f: Fixture) {
    let acme = tid("acme");
    f.db.create_tenant(&acme, &settings()).await.unwrap();
    let batch = [
        template("reminder", "en", "Reminder"),
        template("final", "en", "Final notice"),
    ];
    assert_eq!(f.db.put_templates(&acme, &batch).await.unwrap(), 2);
    let bad_batch = [
        template("reminder", "en", "Changed"),
        template("", "en", "No id"),
    ];
    assert!(matches!(
        f.db.put_templates(&acme, &bad_batch).await,
        Err(StoreError::Invalid {
            what: "template",
            ..
        })
    ));
    let huge = TemplateRow {
        html: "x".repeat(dunlin_store::delivery::MAX_TEMPLATE_PART_LEN + 1),
        ..template("final", "en", "Huge")
    };
    assert!(f.db.put_template(&acme, &huge).await.is_err());
    let stored = f.db.templates(&acme).await.unwrap();
    let subjects: Vec<&str> = stored.iter().map(|t| t.subject.as_str()).collect();
    assert_eq!(subjects, ["Final notice", "Reminder"], "nothing changed");
    assert!(matches!(
        f.db.put_templates(&tid("nobody"), &batch).await,
        Err(StoreError::UnknownTenant(_))
    ));
}

const SECRET_1: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SECRET_2: &str = "whsec_c2Vjb25kLXNlY3JldC1vZi10aGUtdGVuYW50";

fn endpoint(id: &str, events: &[&str]) -> NewEndpoint {
    NewEndpoint {
        id: id.into(),
        url: format!("https://{id}.acme.example/hooks"),
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        secret: SECRET_1.into(),
    }
}

async fn endpoints_are_added_listed_rotated_and_removed(f: Fixture) {
    let acme = tid("acme");
    f.db.create_tenant(&acme, &settings()).await.unwrap();
    let erp =
        f.db.add_endpoint(&acme, &endpoint("erp", &[]))
            .await
            .unwrap();
    let sms =
        f.db.add_endpoint(&acme, &endpoint("sms", &["notice.requested"]))
            .await
            .unwrap();
    assert!(matches!(
        f.db.add_endpoint(&acme, &endpoint("erp", &[])).await,
        Err(StoreError::EndpointExists { .. })
    ));
    for bad in [
        endpoint("Bad Id", &[]),
        endpoint("ok", &["Notice Requested"]),
        NewEndpoint {
            secret: "hunter2".into(),
            ..endpoint("nosecret", &[])
        },
        NewEndpoint {
            url: "https://x.example/a b".into(),
            ..endpoint("space", &[])
        },
    ] {
        let err = f.db.add_endpoint(&acme, &bad).await.unwrap_err();
        assert!(matches!(err, StoreError::Invalid { .. }), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
    assert!(matches!(
        f.db.add_endpoint(&tid("nobody"), &endpoint("erp", &[]))
            .await,
        Err(StoreError::UnknownTenant(_))
    ));
    let listed = f.db.endpoints(&acme).await.unwrap();
    assert_eq!(listed, [erp.clone(), sms.clone()]);
    assert_eq!(listed[1].events, ["notice.requested"]);
    assert_eq!(f.db.endpoint(&acme, "sms").await.unwrap(), Some(sms));

    let until = (Utc::now() + Duration::hours(24)).trunc_subsecs(0);
    let rotated =
        f.db.rotate_endpoint_secret(&acme, "erp", SECRET_2, until)
            .await
            .unwrap()
            .expect("erp exists");
    assert_eq!(rotated.secret, SECRET_2);
    assert_eq!(rotated.previous_secret.as_deref(), Some(SECRET_1));
    assert_eq!(rotated.previous_until, Some(until));
    assert_eq!(f.db.endpoint(&acme, "erp").await.unwrap(), Some(rotated));
    assert!(f
        .db
        .rotate_endpoint_secret(&acme, "nope", SECRET_2, until)
        .await
        .unwrap()
        .is_none());
    assert!(f
        .db
        .rotate_endpoint_secret(&acme, "erp", "not-a-secret", until)
        .await
        .is_err());

    assert!(f.db.remove_endpoint(&acme, "erp").await.unwrap());
    assert!(!f.db.remove_endpoint(&acme, "erp").await.unwrap());
    let ids: Vec<String> =
        f.db.endpoints(&acme)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect();
    assert_eq!(ids, ["sms"]);
}

async fn another_tenant_never_sees_templates_or_endpoints(f: Fixture) {
    let (a, b) = (tid("tenant-a"), tid("tenant-b"));
    f.db.create_tenant(&a, &settings()).await.unwrap();
    f.db.create_tenant(&b, &settings()).await.unwrap();
    f.db.put_template(&a, &template("reminder", "en", "A's"))
        .await
        .unwrap();
    f.db.add_endpoint(&a, &endpoint("erp", &[])).await.unwrap();

    assert!(f.db.templates(&b).await.unwrap().is_empty());
    assert!(f.db.template(&b, "reminder", "en").await.unwrap().is_none());
    assert!(!f.db.delete_template(&b, "reminder", "en").await.unwrap());
    assert!(f.db.endpoints(&b).await.unwrap().is_empty());
    assert!(f.db.endpoint(&b, "erp").await.unwrap().is_none());
    assert!(!f.db.remove_endpoint(&b, "erp").await.unwrap());
    assert!(f
        .db
        .rotate_endpoint_secret(&b, "erp", SECRET_2, Utc::now())
        .await
        .unwrap()
        .is_none());

    // B may use the same id and locale for its own; A's stay as they were.
    f.db.put_template(&b, &template("reminder", "en", "B's"))
        .await
        .unwrap();
    f.db.add_endpoint(
        &b,
        &NewEndpoint {
            secret: SECRET_2.into(),
            ..endpoint("erp", &[])
        },
    )
    .await
    .unwrap();
    let a_template = f.db.template(&a, "reminder", "en").await.unwrap().unwrap();
    assert_eq!(a_template.subject, "A's");
    let a_endpoint = f.db.endpoint(&a, "erp").await.unwrap().unwrap();
    assert_eq!(a_endpoint.secret, SECRET_1);
    assert_eq!(a_endpoint.previous_secret, None);
    assert_eq!(
        f.db.endpoint(&b, "erp").await.unwrap().unwrap().secret,
        SECRET_2
    );
}

async fn an_opt_out_is_recorded_once_for_the_tenants_own_customer_only(f: Fixture) {
    use dunlin_core::Channel;
    use dunlin_store::testing::customer;
    let (a, b) = (tid("tenant-a"), tid("tenant-b"));
    f.db.create_tenant(&a, &settings()).await.unwrap();
    f.db.create_tenant(&b, &settings()).await.unwrap();
    let c = customer("c1").with_opted_out(&[Channel::Sms]);
    f.db.upsert_customers(&a, &[c]).await.unwrap();
    f.db.upsert_customers(&b, &[customer("c1")]).await.unwrap();
    let opted = |t| {
        let db = f.db.clone();
        async move {
            db.customer(&t, "c1")
                .await
                .unwrap()
                .unwrap()
                .profile
                .opted_out
        }
    };

    assert!(f.db.opt_out(&a, "c1", Channel::Email).await.unwrap());
    assert!(
        f.db.opt_out(&a, "c1", Channel::Email).await.unwrap(),
        "again: no change"
    );
    assert_eq!(opted(a.clone()).await, vec![Channel::Sms, Channel::Email]);
    assert!(
        opted(b.clone()).await.is_empty(),
        "the other tenant's c1 is untouched"
    );
    assert!(!f.db.opt_out(&a, "nobody", Channel::Email).await.unwrap());
    assert!(!f
        .db
        .opt_out(&tid("tenant-c"), "c1", Channel::Email)
        .await
        .unwrap());
}

/// A customer who unsubscribed by an email's link stays unsubscribed when the tenant's
/// billing system upserts the customer again with its own opt-outs; the tenant's own
/// opt-outs still change with its upserts.
async fn an_unsubscribe_outlasts_the_tenants_next_customer_upsert(f: Fixture) {
    use dunlin_core::Channel;
    use dunlin_store::testing::customer;
    let a = tid("tenant-a");
    f.db.create_tenant(&a, &settings()).await.unwrap();
    let upsert = |opted_out: &'static [Channel]| {
        let db = f.db.clone();
        let a = a.clone();
        async move {
            let rows = [
                customer("c1").with_opted_out(opted_out),
                customer("c2").with_opted_out(opted_out),
            ];
            db.upsert_customers(&a, &rows).await.unwrap();
        }
    };
    let opted = |id: &'static str| {
        let db = f.db.clone();
        let a = a.clone();
        async move {
            db.customer(&a, id)
                .await
                .unwrap()
                .unwrap()
                .profile
                .opted_out
        }
    };
    upsert(&[Channel::Sms]).await;
    assert!(f.db.opt_out(&a, "c1", Channel::Email).await.unwrap());

    upsert(&[]).await;
    assert_eq!(opted("c1").await, vec![Channel::Email]);
    assert!(opted("c2").await.is_empty(), "c2 never unsubscribed");
    upsert(&[Channel::Letter]).await;
    assert_eq!(opted("c1").await, vec![Channel::Letter, Channel::Email]);
    assert_eq!(opted("c2").await, vec![Channel::Letter]);
}
