//! Imports that must behave the same on SQLite and PostgreSQL, through the store's
//! conformance harness (`DUNLIN_TEST_POSTGRES_URL` for the PostgreSQL leg).

use dunlin_import::{import_reader, Format, Kind, Options};
use dunlin_store::testing::Fixture;
use dunlin_store::{TenantId, TenantSettings};

dunlin_store::conformance!(a_nul_byte_costs_its_own_row_only);

/// 2,500 customers, the 1,250th with a NUL byte in its id: SQLite would store it and
/// PostgreSQL would refuse its whole batch without a line; both reject that row alone.
async fn a_nul_byte_costs_its_own_row_only(f: Fixture) {
    let tenant = TenantId::new("acme").unwrap();
    f.db.create_tenant(&tenant, &TenantSettings::default())
        .await
        .unwrap();
    let mut csv = String::from("id,currency,customer-since,name\n");
    for i in 1..=2500 {
        let id = if i == 1250 {
            "c-12\u{0}50".to_owned()
        } else {
            format!("c-{i}")
        };
        csv.push_str(&format!("{id},EUR,2021-03-01,Customer {i}\n"));
    }
    let report = import_reader(
        f.db.as_ref(),
        &tenant,
        Kind::Customers,
        Format::Csv,
        csv.as_bytes(),
        &Options::default(),
        &mut |_| {},
    )
    .await
    .expect("the import runs");
    assert_eq!((report.read, report.loaded), (2500, 2499), "{report:#?}");
    assert_eq!(report.errors.len(), 1, "{report:#?}");
    // The header is line 1, so the 1,250th row is line 1,251.
    assert_eq!(report.errors[0].line, 1251);
    assert_eq!(
        report.errors[0].message,
        "id holds the control character U+0000"
    );
    let stored = dunlin_store::testing::scalar(
        &f,
        "SELECT COUNT(*) FROM customers WHERE tenant_id = 'acme'",
    )
    .await;
    assert_eq!(stored, Some(2499));
    assert!(f.db.customer(&tenant, "c-1249").await.unwrap().is_some());
    assert!(f.db.customer(&tenant, "c-1251").await.unwrap().is_some());
}
