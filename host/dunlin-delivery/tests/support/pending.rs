//! Pending actions in a store, for the delivery crash test and the outbox bench: a tenant
//! whose customers each have one overdue invoice with one recorded decision of one action,
//! written through the store's API (`record_batch`, as a sweep would), the tenant's example
//! English templates stored, and a time zone in which it is mid-day now.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::Timelike;
use dunlin_core::{Action, Channel, Decision, Notice, Tone};
use dunlin_store::testing::{customer, date as d, invoice};
use dunlin_store::{
    Db, DueQuery, DunningState, Outcome, PlannedAction, TemplateRow, TenantId, TenantSettings,
};

/// The template every seeded notice names (one of `examples/templates/en`).
pub const TEMPLATE: &str = "reminder-friendly";

/// The day every seeded decision is for.
const AS_OF: &str = "2026-02-10";

/// A fixed-offset zone in which the wall clock reads between 12:00 and 13:00 now, so that
/// a run of a few minutes stays inside the default contact window (08:00–21:00) whenever it
/// starts. `Etc/GMT-N` is UTC+N (POSIX's inverted sign); the zones run from UTC−12 to
/// UTC+14, which covers 12 − h for every UTC hour h.
pub fn midday_zone() -> String {
    let offset = 12 - i32::try_from(chrono::Utc::now().hour()).expect("an hour fits");
    match offset {
        0 => "Etc/GMT".to_owned(),
        n if n > 0 => format!("Etc/GMT-{n}"),
        n => format!("Etc/GMT+{}", -n),
    }
}

/// An email notice of [`TEMPLATE`].
pub fn email_notice() -> Action {
    notice(Channel::Email)
}

/// An SMS notice of [`TEMPLATE`]: the tenant's systems send it, so it goes as a webhook.
pub fn sms_notice() -> Action {
    notice(Channel::Sms)
}

fn notice(channel: Channel) -> Action {
    Action::Notify(Notice {
        level: 1,
        channel,
        tone: Tone::Friendly,
        template: TEMPLATE.into(),
        vars: BTreeMap::new(),
    })
}

/// Creates `tenant` in `zone` with the English example templates and `n` customers in that
/// zone, `c000000` …, each with one overdue invoice and a recorded decision whose one
/// pending action is `action(i)` for customer `i`.
pub async fn seed_pending(
    db: &dyn Db,
    tenant: &TenantId,
    zone: &str,
    n: usize,
    action: impl Fn(usize) -> Action,
) {
    let settings = TenantSettings {
        name: format!("Tenant {tenant}"),
        time_zone: zone.to_owned(),
        ..TenantSettings::default()
    };
    db.create_tenant(tenant, &settings).await.expect("tenant");
    db.put_templates(tenant, &example_templates())
        .await
        .expect("templates");
    let ids: Vec<String> = (0..n).map(|i| format!("c{i:06}")).collect();
    let customers: Vec<_> = ids
        .iter()
        .map(|id| {
            customer(id)
                .with_time_zone(zone)
                .with_contact("email", &format!("{id}@example.com"))
                .with_contact("phone", "+358401234567")
        })
        .collect();
    for chunk in customers.chunks(5000) {
        db.upsert_customers(tenant, chunk).await.expect("customers");
    }
    let invoices: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, c)| {
            invoice(&format!("i{i:06}"), c, d("2026-01-20"), 10_000 + i as i64)
                .with_number(&format!("N{i}"))
        })
        .collect();
    for chunk in invoices.chunks(5000) {
        db.upsert_invoices(tenant, chunk).await.expect("invoices");
    }
    let mut query = DueQuery::new(d(AS_OF));
    query.limit = 5000;
    let mut recorded = 0;
    // A recorded decision moves its invoice's next review a week on, so each page is new.
    while recorded < n {
        let page = db.due_for_review(tenant, &query).await.expect("due page");
        assert!(!page.invoices.is_empty(), "{recorded} of {n} recorded");
        let outcomes: Vec<Outcome> = page
            .invoices
            .into_iter()
            .map(|due| {
                let i: usize = due.context.invoice.id[1..].parse().expect("i{n}");
                outcome(due.context, action(i))
            })
            .collect();
        recorded += db
            .record_batch(tenant, &outcomes)
            .await
            .expect("record")
            .recorded;
    }
}

fn outcome(context: Box<dunlin_core::Context>, action: Action) -> Outcome {
    let review_on = context.as_of + chrono::Days::new(7);
    Outcome {
        context,
        policy: None,
        decision: Some(Decision {
            segment: "all".into(),
            actions: vec![action.clone()],
            review_on: Some(review_on),
            reason: "first reminder".into(),
        }),
        reason: "first reminder".into(),
        interventions: Vec::new(),
        actions: vec![PlannedAction {
            action,
            status: dunlin_store::ActionStatus::Pending,
        }],
        fuel_used: None,
        duration_us: None,
        failure: None,
        state: DunningState {
            level: 1,
            last_action_on: Some(d(AS_OF)),
            next_review_on: Some(review_on),
            ..DunningState::default()
        },
        receipt: None,
    }
}

/// The English example templates (`examples/templates/en`).
fn example_templates() -> Vec<TemplateRow> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/templates/en");
    let part = |id: &str, ext: &str| {
        std::fs::read_to_string(folder.join(format!("{id}.{ext}"))).expect("an example template")
    };
    let mut ids: Vec<String> = std::fs::read_dir(&folder)
        .expect("the example templates")
        .filter_map(|e| {
            let path = e.expect("a folder entry").path();
            (path.extension()? == "subject")
                .then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    ids.sort();
    ids.iter()
        .map(|id| TemplateRow {
            id: id.clone(),
            locale: "en".into(),
            subject: part(id, "subject"),
            text: part(id, "txt"),
            html: part(id, "html"),
            updated_at: None,
        })
        .collect()
}
