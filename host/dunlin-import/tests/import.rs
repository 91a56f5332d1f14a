//! Imports into a fresh SQLite store: every kind in both formats, re-imports, bad rows.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dunlin_import::{import_file, import_reader, Format, ImportError, ImportReport, Kind, Options};
use dunlin_store::{connect, Db, InvoiceStatus, TenantId, TenantSettings};

struct Fixture {
    db: Arc<dyn Db>,
    tenant: TenantId,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("dunlin.db").display());
    let db = connect(&url).await.expect("open sqlite");
    let tenant = TenantId::new("acme").expect("valid id");
    db.create_tenant(&tenant, &TenantSettings::default())
        .await
        .expect("create tenant");
    Fixture {
        db,
        tenant,
        _dir: dir,
    }
}

impl Fixture {
    async fn load(&self, kind: Kind, format: Format, text: &str) -> ImportReport {
        self.try_load(kind, format, text, 1000)
            .await
            .expect("import runs")
    }

    async fn try_load(
        &self,
        kind: Kind,
        format: Format,
        text: &str,
        batch_size: usize,
    ) -> Result<ImportReport, ImportError> {
        import_reader(
            self.db.as_ref(),
            &self.tenant,
            kind,
            format,
            text.as_bytes(),
            &Options { batch_size },
            &mut |_| {},
        )
        .await
    }

    async fn load_clean(&self, kind: Kind, format: Format, text: &str) {
        let report = self.load(kind, format, text).await;
        assert_eq!(report.errors, vec![], "{kind}: {report:?}");
        assert_eq!(report.loaded, report.read);
    }

    /// Loads the customers and invoices the payment and dispute tests name.
    async fn load_ledger(&self) {
        self.load_clean(Kind::Customers, Format::Csv, CUSTOMERS_CSV)
            .await;
        self.load_clean(Kind::Invoices, Format::Csv, INVOICES_CSV)
            .await;
    }

    async fn status(&self, invoice: &str) -> InvoiceStatus {
        self.db
            .invoice(&self.tenant, invoice)
            .await
            .expect("read invoice")
            .expect("invoice exists")
            .status
    }
}

const CUSTOMERS_CSV: &str = "\
id,name,email,currency,customer-since,lifetime-value-minor,tags,reachable-on,time-zone
c1,Aalto Oy,a@example.com,EUR,2021-03-01,480000,smb;nordics,email;sms,Europe/Helsinki
c2,Brightwave,b@example.com,EUR,2018-06-15,,,,
";

const INVOICES_CSV: &str = "\
id,customer-id,issued-on,due-on,amount-minor,currency,payment-method,meta.plan
i1,c1,2026-01-05,2026-02-04,39000,EUR,card,team
i2,c2,2026-01-05,2026-02-04,187500,EUR,bank-transfer,
i3,c2,2026-01-10,2026-01-24,8000,EUR,direct-debit,
";

fn lines(report: &ImportReport) -> Vec<u64> {
    report.errors.iter().map(|e| e.line).collect()
}

fn has_error(report: &ImportReport, line: u64, needle: &str) -> bool {
    report
        .errors
        .iter()
        .any(|e| e.line == line && e.message.contains(needle))
}

#[tokio::test]
async fn every_kind_loads_from_csv() {
    let f = fixture().await;
    f.load_clean(Kind::Customers, Format::Csv, CUSTOMERS_CSV)
        .await;
    f.load_clean(Kind::Invoices, Format::Csv, INVOICES_CSV)
        .await;
    f.load_clean(
        Kind::Payments,
        Format::Csv,
        "id,invoice-id,amount-minor,currency,paid-on\np1,i1,1000,EUR,2026-02-10\n",
    )
    .await;
    f.load_clean(
        Kind::Disputes,
        Format::Csv,
        "id,invoice-id,opened-on,reason\nd1,i2,2026-02-06,never received the goods\n",
    )
    .await;
    f.load_clean(
        Kind::Plans,
        Format::Csv,
        "id,invoice-id,kind,agreed-on,expires-on\npl1,i3,promise,2026-02-01,2026-02-15\n",
    )
    .await;

    let c1 = f.db.customer(&f.tenant, "c1").await.unwrap().unwrap();
    assert_eq!(c1.profile.tags, vec!["smb", "nordics"]);
    assert_eq!(c1.profile.time_zone, "Europe/Helsinki");
    assert_eq!(c1.contact["name"], "Aalto Oy");
    let c2 = f.db.customer(&f.tenant, "c2").await.unwrap().unwrap();
    assert_eq!(c2.profile.lifetime_value.minor, 0);
    assert_eq!(c2.profile.locale, "en");
    let i1 = f.db.invoice(&f.tenant, "i1").await.unwrap().unwrap();
    assert_eq!(i1.number, "i1", "the number defaults to the id");
    assert_eq!(i1.metadata["plan"], "team");
    assert_eq!(i1.open_balance.minor, 38000);
    let i2 = f.db.invoice(&f.tenant, "i2").await.unwrap().unwrap();
    assert!(i2.disputed);
}

#[tokio::test]
async fn every_kind_loads_from_json_lines() {
    let f = fixture().await;
    f.load_clean(
        Kind::Customers,
        Format::JsonLines,
        r#"{"id": "c1", "currency": "EUR", "customer-since": "2021-03-01", "tags": ["smb"], "reachable-on": "email;letter", "contact.email": "a@example.com"}

{"id": "c2", "currency": "usd", "customer-since": "2020-01-01", "lifetime-value-minor": 120000, "on-time-payments-12m": 4}
"#,
    )
    .await;
    f.load_clean(
        Kind::Invoices,
        Format::JsonLines,
        r#"{"id": "i1", "customer-id": "c1", "number": "2026-1", "issued-on": "2026-01-05", "due-on": "2026-02-04", "amount-minor": 39000, "currency": "EUR", "payment-method": "card", "failed-attempts": 1, "last-failure-on": "2026-02-04", "last-failure-code": "insufficient_funds", "last-failure-kind": "soft"}
{"id": "i2", "customer-id": "c2", "issued-on": "2026-01-05", "due-on": "2026-02-04", "amount-minor": "5000", "currency": "USD", "payment-method": "other", "status": "void", "meta.region": "us"}
"#,
    )
    .await;
    f.load_clean(
        Kind::Payments,
        Format::JsonLines,
        r#"{"id": "p1", "invoice-id": "i1", "amount-minor": 500, "currency": "EUR", "paid-on": "2026-02-10"}"#,
    )
    .await;
    f.load_clean(
        Kind::Disputes,
        Format::JsonLines,
        r#"{"id": "d1", "invoice-id": "i1", "opened-on": "2026-02-06", "status": "resolved", "resolved-on": "2026-02-08"}"#,
    )
    .await;
    f.load_clean(
        Kind::Plans,
        Format::JsonLines,
        r#"{"id": "pl1", "invoice-id": "i1", "kind": "plan", "agreed-on": "2026-02-01", "expires-on": "2026-04-01", "status": null}"#,
    )
    .await;

    let c1 = f.db.customer(&f.tenant, "c1").await.unwrap().unwrap();
    assert_eq!(c1.profile.reachable_on.len(), 2);
    assert_eq!(c1.contact["email"], "a@example.com");
    let c2 = f.db.customer(&f.tenant, "c2").await.unwrap().unwrap();
    assert_eq!(c2.profile.lifetime_value.currency.as_str(), "USD");
    let i1 = f.db.invoice(&f.tenant, "i1").await.unwrap().unwrap();
    assert_eq!(i1.last_failure.unwrap().code, "insufficient_funds");
    assert_eq!(i1.open_balance.minor, 38500);
    assert_eq!(f.status("i2").await, InvoiceStatus::Void);
}

#[tokio::test]
async fn importing_twice_changes_nothing() {
    let f = fixture().await;
    let payments = "id,invoice-id,amount-minor,currency,paid-on\n\
                    p1,i1,1000,EUR,2026-02-10\np2,i1,2000,EUR,2026-02-11\n";
    for _ in 0..2 {
        f.load_clean(Kind::Customers, Format::Csv, CUSTOMERS_CSV)
            .await;
        f.load_clean(Kind::Invoices, Format::Csv, INVOICES_CSV)
            .await;
        f.load_clean(Kind::Payments, Format::Csv, payments).await;
    }
    let i1 = f.db.invoice(&f.tenant, "i1").await.unwrap().unwrap();
    assert_eq!(i1.open_balance.minor, 39000 - 3000, "payments count once");
    assert_eq!(i1.status, InvoiceStatus::Open);
    let c1 = f.db.customer(&f.tenant, "c1").await.unwrap().unwrap();
    assert_eq!(c1.profile.lifetime_value.minor, 480000);
}

#[tokio::test]
async fn a_payment_that_clears_an_invoice_makes_it_paid() {
    let f = fixture().await;
    f.load_clean(Kind::Customers, Format::Csv, CUSTOMERS_CSV)
        .await;
    f.load_clean(Kind::Invoices, Format::Csv, INVOICES_CSV)
        .await;
    f.load_clean(
        Kind::Payments,
        Format::JsonLines,
        "{\"id\": \"p1\", \"invoice-id\": \"i3\", \"amount-minor\": 3000, \"currency\": \"EUR\", \"paid-on\": \"2026-01-30\"}\n\
         {\"id\": \"p2\", \"invoice-id\": \"i3\", \"amount-minor\": 5000, \"currency\": \"EUR\", \"paid-on\": \"2026-02-02\"}\n",
    )
    .await;
    assert_eq!(f.status("i3").await, InvoiceStatus::Paid);
    assert_eq!(f.status("i1").await, InvoiceStatus::Open);
    // Re-importing the invoices (without a status) does not reopen it.
    f.load_clean(Kind::Invoices, Format::Csv, INVOICES_CSV)
        .await;
    assert_eq!(f.status("i3").await, InvoiceStatus::Paid);
}

#[tokio::test]
async fn bad_rows_are_reported_by_line_while_good_rows_load() {
    let f = fixture().await;
    f.load_clean(Kind::Customers, Format::Csv, CUSTOMERS_CSV)
        .await;
    let csv = "\
id,customer-id,issued-on,due-on,amount-minor,currency,payment-method
g1,c1,2026-01-05,2026-02-04,100,EUR,card
b3,c1,2026-01-05,2026-02-04,-5,EUR,card
b4,c1,2026-01-05,2026-02-04,99999999999999999999,EUR,card
b5,c1,2026-01-05,2026-02-04,100,XYZ,card
b6,c1,2026-13-05,2026-02-04,100,EUR,card
b7,c1,2026-01-05,2026-02-04,100,EUR,cash
b8,c1,2026-01-05
g9,c2,2026-01-05,2026-02-04,100,EUR,card
b10,c-nobody,2026-01-05,2026-02-04,100,EUR,card
b11,c1,1850-01-05,2026-02-04,100,EUR,card
b12,c1,2026-03-05,2026-02-04,100,EUR,card
g13,c1,2026-01-05,2026-02-04,0,eur,other
";
    // A small batch size so that store rejections land in different batches.
    let report = f
        .try_load(Kind::Invoices, Format::Csv, csv, 4)
        .await
        .unwrap();
    assert_eq!(report.read, 12);
    assert_eq!(report.loaded, 3, "{report:#?}");
    assert_eq!(
        lines(&report),
        vec![3, 4, 5, 6, 7, 8, 10, 11, 12],
        "{report:#?}"
    );
    assert!(has_error(&report, 3, "amount-minor -5 is negative"));
    assert!(has_error(
        &report,
        4,
        "amount-minor 99999999999999999999 is too large"
    ));
    assert!(has_error(
        &report,
        5,
        "currency \"XYZ\" is not a known ISO 4217 code"
    ));
    assert!(has_error(
        &report,
        6,
        "issued-on \"2026-13-05\" is not a date"
    ));
    assert!(has_error(&report, 7, "payment-method \"cash\" is unknown"));
    assert!(has_error(&report, 8, "malformed CSV"));
    assert!(has_error(&report, 10, "names customer \"c-nobody\""));
    assert!(has_error(&report, 11, "outside the years 1900 to 9999"));
    assert!(has_error(&report, 12, "before the issue date"));
    for good in ["g1", "g9", "g13"] {
        assert!(f.db.invoice(&f.tenant, good).await.unwrap().is_some());
    }
    for bad in ["b3", "b10", "b11", "b12"] {
        assert!(f.db.invoice(&f.tenant, bad).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn malformed_json_lines_are_reported_by_line() {
    let f = fixture().await;
    let jsonl = r#"{"id": "c1", "currency": "EUR", "customer-since": "2021-03-01"}
{"id": "c2", "currency": "EUR", "customer-since": "2021-03-01"
[1, 2]

{"id": "c3", "currency": "EUR", "customer-since": "2021-03-01", "shoe-size": 44}
{"id": "c4", "currency": "EUR"}
{"id": "c5", "currency": "EUR", "customer-since": "2021-03-01", "lifetime-value-minor": 1e30}
{"id": "c6", "currency": "EUR", "customer-since": "2021-03-01", "time-zone": "Mars/Olympus"}
{"id": "c7", "currency": "EUR", "customer-since": "2021-03-01", "reachable-on": ["email", "pigeon"]}
{"id": "c8", "currency": "EUR", "customer-since": "2021-03-01", "lifetime-value-minor": 12.5}
{"id": "c9", "currency": "EUR", "customer-since": "2021-03-01"}
"#;
    let report = f.load(Kind::Customers, Format::JsonLines, jsonl).await;
    assert_eq!(report.read, 10, "the blank line is not a row");
    assert_eq!(report.loaded, 2);
    assert_eq!(lines(&report), vec![2, 3, 5, 6, 7, 8, 9, 10], "{report:#?}");
    assert!(has_error(&report, 2, "malformed JSON"));
    assert!(has_error(
        &report,
        3,
        "expected a JSON object, found an array"
    ));
    assert!(has_error(&report, 5, "unknown field \"shoe-size\""));
    assert!(has_error(&report, 6, "customer-since is missing"));
    assert!(has_error(&report, 7, "is too large"));
    assert!(has_error(&report, 8, "not an IANA time zone"));
    assert!(has_error(&report, 9, "\"pigeon\" is unknown"));
    assert!(has_error(&report, 10, "not a whole number of minor units"));
    assert!(f.db.customer(&f.tenant, "c9").await.unwrap().is_some());
}

#[tokio::test]
async fn a_rejected_payment_does_not_half_write_its_batch() {
    let f = fixture().await;
    f.load_clean(Kind::Customers, Format::Csv, CUSTOMERS_CSV)
        .await;
    f.load_clean(Kind::Invoices, Format::Csv, INVOICES_CSV)
        .await;
    let csv = "id,invoice-id,amount-minor,currency,paid-on\n\
               p1,i1,1000,EUR,2026-02-10\n\
               p2,i-missing,1000,EUR,2026-02-10\n\
               p3,i1,1000,USD,2026-02-10\n\
               p4,i1,1000,EUR,2026-02-12\n";
    let report = f.load(Kind::Payments, Format::Csv, csv).await;
    assert_eq!(report.loaded, 2);
    assert_eq!(lines(&report), vec![3, 4]);
    assert!(has_error(&report, 3, "names invoice \"i-missing\""));
    assert!(has_error(
        &report,
        4,
        "paid in USD but invoice i1 is in EUR"
    ));
    let i1 = f.db.invoice(&f.tenant, "i1").await.unwrap().unwrap();
    assert_eq!(i1.open_balance.minor, 39000 - 2000, "p1 and p4, each once");
}

#[tokio::test]
async fn a_header_that_does_not_fit_the_kind_is_an_error() {
    let f = fixture().await;
    let err = f
        .try_load(Kind::Invoices, Format::Csv, CUSTOMERS_CSV, 1000)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unknown column \"name\""), "{err}");
    let err = f
        .try_load(Kind::Payments, Format::Csv, "id,invoice-id,paid-on\n", 1000)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("need the columns amount-minor, currency"),
        "{err}"
    );
}

#[tokio::test]
async fn unknown_tenant_is_an_error() {
    let f = fixture().await;
    let nobody = TenantId::new("nobody").unwrap();
    let err = import_reader(
        f.db.as_ref(),
        &nobody,
        Kind::Customers,
        Format::Csv,
        CUSTOMERS_CSV.as_bytes(),
        &Options::default(),
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ImportError::UnknownTenant(_)), "{err}");
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/import")
        .join(name)
}

#[tokio::test]
async fn the_bundled_examples_load_cleanly_with_progress() {
    let f = fixture().await;
    for (kind, file) in [
        (Kind::Customers, "customers.csv"),
        (Kind::Invoices, "invoices.csv"),
        (Kind::Payments, "payments.jsonl"),
    ] {
        let path = example(file);
        let size = std::fs::metadata(&path).unwrap().len();
        let mut last = None;
        let report = import_file(
            f.db.as_ref(),
            &f.tenant,
            kind,
            &path,
            None,
            &Options::default(),
            &mut |p| last = Some(p),
        )
        .await
        .unwrap();
        assert_eq!(report.errors, vec![], "{file}");
        assert!(report.loaded > 0);
        let last = last.expect("progress reported");
        assert_eq!(last.bytes_read, size, "{file}");
        assert_eq!(last.rows_read, report.read);
    }
    assert_eq!(f.status("inv-1002").await, InvoiceStatus::Paid);
    assert_eq!(f.status("inv-1004").await, InvoiceStatus::Open);
    let err = import_file(
        f.db.as_ref(),
        &f.tenant,
        Kind::Customers,
        Path::new("customers.txt"),
        None,
        &Options::default(),
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ImportError::FormatNotImplied { .. }));
}

#[tokio::test]
async fn a_byte_order_mark_does_not_cost_the_first_row() {
    let f = fixture().await;
    let jsonl =
        "\u{feff}{\"id\": \"c1\", \"currency\": \"EUR\", \"customer-since\": \"2021-03-01\"}\n\
                 {\"id\": \"c2\", \"currency\": \"EUR\", \"customer-since\": \"2021-03-01\"}\n";
    f.load_clean(Kind::Customers, Format::JsonLines, jsonl)
        .await;
    let csv = format!("\u{feff}{INVOICES_CSV}");
    f.load_clean(Kind::Customers, Format::Csv, CUSTOMERS_CSV)
        .await;
    let report = f.load(Kind::Invoices, Format::Csv, &csv).await;
    assert_eq!((report.read, report.loaded), (3, 3), "{report:#?}");
    assert!(f.db.customer(&f.tenant, "c1").await.unwrap().is_some());
    assert!(f.db.invoice(&f.tenant, "i1").await.unwrap().is_some());
}

#[tokio::test]
async fn control_characters_are_refused_per_row_with_the_line() {
    let f = fixture().await;
    f.load_ledger().await;
    let jsonl = r#"{"id": "d1", "invoice-id": "i1", "opened-on": "2026-02-06", "reason": "goods\nnever\tarrived"}
{"id": "d\u0000x", "invoice-id": "i1", "opened-on": "2026-02-06"}
{"id": "d3", "invoice-id": "i2", "opened-on": "2026-02-06", "reason": "red \u001b[31m"}
{"id": "d4\n", "invoice-id": "i2", "opened-on": "2026-02-06"}
{"id": "d5", "invoice-id": "i2", "opened-on": "2026-02-06"}
"#;
    let report = f.load(Kind::Disputes, Format::JsonLines, jsonl).await;
    assert_eq!((report.read, report.loaded), (5, 2), "{report:#?}");
    assert_eq!(lines(&report), vec![2, 3, 4], "{report:#?}");
    assert!(has_error(
        &report,
        2,
        "id holds the control character U+0000"
    ));
    assert!(has_error(
        &report,
        3,
        "reason holds the control character U+001B"
    ));
    assert!(has_error(&report, 4, "id holds a line break"));
    let d1 = f.db.invoice(&f.tenant, "i1").await.unwrap().unwrap();
    assert!(d1.disputed, "free text keeps its line break and tab");

    // A key of free-form data is a field name: no control characters either.
    let csv = "id,customer-id,issued-on,due-on,amount-minor,currency,payment-method,meta.note\n\
               i9,c1,2026-01-05,2026-02-04,100,EUR,card,\"two\nlines\"\n\
               i8,c1\u{7},2026-01-05,2026-02-04,100,EUR,card,\n";
    let report = f.load(Kind::Invoices, Format::Csv, csv).await;
    assert_eq!(report.loaded, 1, "{report:#?}");
    assert!(has_error(
        &report,
        4,
        "customer-id holds the control character U+0007"
    ));
    let jsonl = "{\"id\": \"i7\", \"customer-id\": \"c1\", \"issued-on\": \"2026-01-05\", \
                 \"due-on\": \"2026-02-04\", \"amount-minor\": 1, \"currency\": \"EUR\", \
                 \"payment-method\": \"card\", \"meta.a\\u001bb\": \"x\"}\n";
    let report = f.load(Kind::Invoices, Format::JsonLines, jsonl).await;
    assert!(
        has_error(
            &report,
            1,
            r#"field name "meta.a\u{1b}b" holds the control character"#
        ),
        "{report:#?}"
    );
}

#[tokio::test]
async fn dates_and_integers_are_exactly_as_documented() {
    let f = fixture().await;
    f.load_clean(Kind::Customers, Format::Csv, CUSTOMERS_CSV)
        .await;
    let csv = "\
id,customer-id,issued-on,due-on,amount-minor,currency,payment-method,failed-attempts
i1,c1,2026-1-1,2026-02-04,100,EUR,card,
i2,c1,2026-01-05,2026-02-04,+1000,EUR,card,
i3,c1,2026-01-05,2026-02-04,1000,EUR,card,+1
i4,c1,2026-01-05,2026-02-04,1000,EUR,card,1
";
    let report = f.load(Kind::Invoices, Format::Csv, csv).await;
    assert_eq!(report.loaded, 1, "{report:#?}");
    assert!(has_error(
        &report,
        2,
        "issued-on \"2026-1-1\" is not a date (expected YYYY-MM-DD)"
    ));
    assert!(has_error(
        &report,
        3,
        "amount-minor \"+1000\" is not a whole number"
    ));
    assert!(has_error(
        &report,
        4,
        "failed-attempts \"+1\" is not a count"
    ));
}

#[tokio::test]
async fn a_repeated_id_is_an_error_naming_its_first_line() {
    let f = fixture().await;
    f.load_ledger().await;
    let csv = "id,invoice-id,amount-minor,currency,paid-on\n\
               p1,i1,1000,EUR,2026-02-10\n\
               p2,i1,500,EUR,2026-02-10\n\
               p1,i1,9000,EUR,2026-02-11\n";
    // Batches of one: the first p1 is written before the second is read.
    let report = f
        .try_load(Kind::Payments, Format::Csv, csv, 1)
        .await
        .unwrap();
    assert_eq!((report.read, report.loaded), (3, 2), "{report:#?}");
    assert_eq!(lines(&report), vec![4]);
    assert!(has_error(
        &report,
        4,
        "id \"p1\" appears again: its first row is line 2"
    ));
    let i1 = f.db.invoice(&f.tenant, "i1").await.unwrap().unwrap();
    assert_eq!(i1.open_balance.minor, 39000 - 1500, "the first p1 stands");
}

#[tokio::test]
async fn an_unbalanced_quote_is_an_error_naming_the_lines_it_took() {
    let f = fixture().await;
    let csv = "\
id,currency,customer-since,name
c1,EUR,2021-03-01,\"Aalto Oy
c2,EUR,2021-03-01,Brightwave
c3,EUR,2021-03-01,Cedar
";
    let report = f.load(Kind::Customers, Format::Csv, csv).await;
    assert_eq!(report.loaded, 0, "{report:#?}");
    assert_eq!(lines(&report), vec![2], "{report:#?}");
    assert!(
        has_error(
            &report,
            2,
            "the row runs from line 2 to line 4: is a quote left open?"
        ),
        "{report:#?}"
    );

    // Closed again two rows later: the swallowed row is named, the rest loads.
    let csv = "\
id,currency,customer-since,tags
c1,EUR,2021-03-01,\"smb
c2,EUR,2021-03-01,smb\"
c3,EUR,2021-03-01,smb
";
    let report = f.load(Kind::Customers, Format::Csv, csv).await;
    assert_eq!(report.loaded, 1, "{report:#?}");
    assert!(
        has_error(&report, 2, "the row runs from line 2 to line 3"),
        "{report:#?}"
    );
    assert!(f.db.customer(&f.tenant, "c3").await.unwrap().is_some());
}
