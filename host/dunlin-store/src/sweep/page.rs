//! A page of invoices due for review, the part both backends share: the page query and its
//! side queries as text, the rows they return and how a page is put together. Each backend
//! runs the queries its own way (`sqlite/direct.rs`, `postgres.rs`).

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use chrono::Days;
use dunlin_core::{
    ActionKind, Channel, CollectionFailure, Context, Customer, Date, DeclineKind, Invoice, Money,
    OtherOverdue, PastAction, PaymentMethod, Tone,
};

use crate::codec::{self, from_json, narrow};
use crate::review::{ActionStatus, Contact, DueInvoice, DuePage, DunningState};
use crate::Result;

/// The page query's columns, in order: each field of [`DueRow`] with the expression that
/// selects it. This list is the one description of a due row: the page query selects these
/// expressions under these names, and each backend reads each field by its name's place here
/// ([`due_column`]).
///
/// `level` is NULL exactly when the invoice has no dunning state yet (the column is NOT NULL
/// in the table); the flags are 0/1 on both backends.
pub(crate) const DUE_COLUMNS: [(&str, &str); 33] = [
    ("id", "i.id"),
    ("customer_id", "i.customer_id"),
    ("number", "i.number"),
    ("issued_on", "i.issued_on"),
    ("due_on", "i.due_on"),
    ("amount_minor", "i.amount_minor"),
    ("currency", "i.currency"),
    ("open_balance_minor", "i.open_balance_minor"),
    ("payment_method", "i.payment_method"),
    ("failed_attempts", "i.failed_attempts"),
    ("last_failure_on", "i.last_failure_on"),
    ("last_failure_code", "i.last_failure_code"),
    ("last_failure_kind", "i.last_failure_kind"),
    ("metadata", "i.metadata"),
    ("tags", "c.tags"),
    ("lifetime_value_minor", "c.lifetime_value_minor"),
    ("lifetime_currency", "c.lifetime_currency"),
    ("customer_since", "c.customer_since"),
    ("on_time_12m", "c.on_time_12m"),
    ("late_12m", "c.late_12m"),
    ("locale", "c.locale"),
    ("time_zone", "c.time_zone"),
    ("reachable_on", "c.reachable_on"),
    ("opted_out", "c.opted_out"),
    ("level", "s.level"),
    ("last_action_on", "s.last_action_on"),
    ("next_review_on", "s.next_review_on"),
    ("policy_version", "s.policy_version"),
    ("paused_until", "s.paused_until"),
    ("paused_why", "s.paused_why"),
    ("ended", "CASE WHEN s.ended THEN 1 ELSE 0 END"),
    (
        "disputed",
        "CASE WHEN EXISTS (SELECT 1 FROM disputes d
               WHERE d.tenant_id = i.tenant_id AND d.invoice_id = i.id AND d.status = 'open')
           THEN 1 ELSE 0 END",
    ),
    (
        "on_plan",
        "CASE WHEN EXISTS (SELECT 1 FROM payment_plans p
               WHERE p.tenant_id = i.tenant_id AND p.invoice_id = i.id AND p.status = 'active'
                 AND p.expires_on >= $2)
           THEN 1 ELSE 0 END",
    ),
];

/// The place of column `name` in [`DUE_COLUMNS`]. Called in a `const` block, a name that is
/// not there fails the build.
pub(crate) const fn due_column(name: &str) -> usize {
    let name = name.as_bytes();
    let mut i = 0;
    'columns: while i < DUE_COLUMNS.len() {
        let column = DUE_COLUMNS[i].0.as_bytes();
        i += 1;
        if column.len() != name.len() {
            continue;
        }
        let mut j = 0;
        while j < name.len() {
            if column[j] != name[j] {
                continue 'columns;
            }
            j += 1;
        }
        return i - 1;
    }
    panic!("not a column of the page query")
}

/// The page query without its order and limit: [`DUE_COLUMNS`] of the tenant's (`$1`) open
/// invoices due for review on `$2`, never-reviewed ones up to `$3` (the tenant's lead days
/// ahead).
///
/// An invoice decided on `$2` already is left out by its state alone: every recorded decision
/// writes the invoice's state in the same transaction, with a next review after its day (or
/// an ended ladder). The query does not look at `decisions`: on PostgreSQL an anti-join
/// against that table, planned on the statistics of a still empty log, scanned all of the
/// tenant's decisions for every invoice (2 s a page at 1M invoices).
///
/// The due test is one `CASE` rather than `(no state AND due) OR (state due)`: PostgreSQL
/// estimated the `OR` form (its `IS NULL` on the outer join's side read from the state
/// table's statistics) to keep 6 % of the rows, too few to fill a page, so it joined every
/// remaining invoice of the tenant by hash and sorted them for each page (258 ms for a page
/// of 4,000 with 50,000 invoices left). A `CASE` gets the default estimate of one half, and
/// the page becomes a walk of the primary key that stops at the limit (56 ms).
static DUE_SELECT: LazyLock<String> = LazyLock::new(|| {
    let columns: Vec<String> = DUE_COLUMNS
        .iter()
        .map(|(name, expr)| format!("{expr} AS {name}"))
        .collect();
    format!(
        "SELECT {}
FROM invoices i
JOIN customers c ON c.tenant_id = i.tenant_id AND c.id = i.customer_id
LEFT JOIN dunning_state s ON s.tenant_id = i.tenant_id AND s.invoice_id = i.id
WHERE i.tenant_id = $1 AND i.status = 'open' AND i.open_balance_minor > 0
  AND CASE WHEN s.invoice_id IS NULL THEN i.due_on <= $3
           ELSE NOT s.ended AND s.next_review_on <= $2
                AND (s.paused_until IS NULL OR s.paused_until <= $2) END",
        columns.join(",\n       ")
    )
});

/// One invoice of a page, as the page query returns it ([`DUE_COLUMNS`], in its order), read
/// column by column.
#[cfg_attr(test, derive(serde::Serialize, Debug, PartialEq))]
pub(crate) struct DueRow {
    pub(crate) id: String,
    pub(crate) customer_id: String,
    pub(crate) number: String,
    pub(crate) issued_on: Date,
    pub(crate) due_on: Date,
    pub(crate) amount_minor: i64,
    pub(crate) currency: String,
    pub(crate) open_balance_minor: i64,
    pub(crate) payment_method: String,
    pub(crate) failed_attempts: i64,
    pub(crate) last_failure_on: Option<Date>,
    pub(crate) last_failure_code: Option<String>,
    pub(crate) last_failure_kind: Option<String>,
    pub(crate) metadata: String,
    pub(crate) tags: String,
    pub(crate) lifetime_value_minor: i64,
    pub(crate) lifetime_currency: String,
    pub(crate) customer_since: Date,
    pub(crate) on_time_12m: i64,
    pub(crate) late_12m: i64,
    pub(crate) locale: String,
    pub(crate) time_zone: String,
    pub(crate) reachable_on: String,
    pub(crate) opted_out: String,
    pub(crate) level: Option<i64>,
    pub(crate) last_action_on: Option<Date>,
    pub(crate) next_review_on: Option<Date>,
    pub(crate) policy_version: Option<i64>,
    pub(crate) paused_until: Option<Date>,
    pub(crate) paused_why: Option<String>,
    pub(crate) ended: i64,
    pub(crate) disputed: i64,
    pub(crate) on_plan: i64,
}

impl DueRow {
    pub(crate) fn into_due(
        self,
        as_of: Date,
        params: &BTreeMap<String, String>,
    ) -> Result<DueInvoice> {
        let currency = codec::parse_name("currency", &self.currency)?;
        let last_failure = match (
            self.last_failure_on,
            self.last_failure_code,
            self.last_failure_kind,
        ) {
            (Some(on), Some(code), Some(kind)) => Some(CollectionFailure {
                on,
                code,
                kind: codec::parse_name::<DeclineKind>("decline kind", &kind)?,
            }),
            _ => None,
        };
        let invoice = Invoice {
            id: self.id,
            number: self.number,
            issued_on: self.issued_on,
            due_on: self.due_on,
            amount: Money::new(self.amount_minor, currency),
            open_balance: Money::new(self.open_balance_minor, currency),
            payment_method: codec::parse_name::<PaymentMethod>(
                "payment method",
                &self.payment_method,
            )?,
            failed_attempts: narrow("failed attempts", self.failed_attempts)?,
            last_failure,
            disputed: self.disputed != 0,
            on_payment_plan: self.on_plan != 0,
            metadata: from_json("invoice metadata", &self.metadata)?,
        };
        let customer = Customer {
            id: self.customer_id,
            tags: from_json("customer tags", &self.tags)?,
            lifetime_value: Money::new(
                self.lifetime_value_minor,
                codec::parse_name("currency", &self.lifetime_currency)?,
            ),
            customer_since: self.customer_since,
            on_time_payments_12m: narrow("on-time payments", self.on_time_12m)?,
            late_payments_12m: narrow("late payments", self.late_12m)?,
            locale: self.locale,
            time_zone: self.time_zone,
            reachable_on: from_json("reachable channels", &self.reachable_on)?,
            opted_out: from_json("opted-out channels", &self.opted_out)?,
        };
        let state = match self.level {
            None => None,
            Some(level) => Some(DunningState {
                level: narrow("dunning level", level)?,
                last_action_on: self.last_action_on,
                next_review_on: self.next_review_on,
                policy_version: self
                    .policy_version
                    .map(|v| narrow("pinned policy version", v))
                    .transpose()?,
                paused_until: self.paused_until,
                paused_why: self.paused_why,
                ended: self.ended != 0,
            }),
        };
        Ok(DueInvoice {
            context: Box::new(Context {
                as_of,
                invoice,
                customer,
                history: Vec::new(),
                other_overdue: OtherOverdue::default(),
                params: params.clone(),
            }),
            state,
            contacts: Vec::new(),
            receipt: None,
        })
    }
}

/// One past action of an invoice, as the history query returns it (one JSON array per page).
#[derive(serde::Deserialize)]
pub(crate) struct HistoryRow {
    pub(crate) invoice_id: String,
    pub(crate) as_of: Date,
    pub(crate) kind: String,
    pub(crate) level: Option<i64>,
    pub(crate) channel: Option<String>,
    pub(crate) tone: Option<String>,
    pub(crate) status: String,
}

pub(crate) const HISTORY_FIELDS: &str = "invoice_id, as_of, kind, level, channel, tone, status";

impl HistoryRow {
    /// The invoice this past action belongs to, and the action as a policy sees it.
    pub(crate) fn into_past(self) -> Result<(String, PastAction)> {
        let status = ActionStatus::parse(&self.status)?;
        let past = PastAction {
            on: self.as_of,
            kind: codec::parse_name::<ActionKind>("action kind", &self.kind)?,
            level: self.level.map(|l| narrow("action level", l)).transpose()?,
            channel: self
                .channel
                .map(|c| codec::parse_name::<Channel>("channel", &c))
                .transpose()?,
            tone: self
                .tone
                .map(|t| codec::parse_name::<Tone>("tone", &t))
                .transpose()?,
            outcome: status.outcome(),
        };
        Ok((self.invoice_id, past))
    }
}

/// The page query: [`DUE_SELECT`] from the cursor on, in invoice order, at most `$4` rows.
pub(crate) fn page_sql(after_cursor: bool) -> String {
    let select = &*DUE_SELECT;
    match after_cursor {
        true => format!("{select}\n  AND i.id > $5\nORDER BY i.id\nLIMIT $4"),
        false => format!("{select}\nORDER BY i.id\nLIMIT $4"),
    }
}

/// The tenant's row as a page needs it: its params (given to every context) and the day up
/// to which never-reviewed invoices count (its lead days widen the window).
pub(crate) fn page_tenant(
    params: &str,
    lead_days: i64,
    as_of: Date,
) -> Result<(BTreeMap<String, String>, Date)> {
    let params: BTreeMap<String, String> = from_json("tenant params", params)?;
    let lead_days: u64 = narrow("tenant lead days", lead_days)?;
    let horizon = as_of
        .checked_add_days(Days::new(lead_days))
        .unwrap_or(as_of);
    Ok((params, horizon))
}

/// The page's history: its invoices' past actions, oldest first. `columns` is
/// [`HISTORY_FIELDS`] or an aggregate of them; `invoices` lists the page's invoices after
/// `$1` (the tenant), in the backend's way.
pub(crate) fn history_sql(columns: &str, invoices: &str) -> String {
    format!("SELECT {columns} FROM actions WHERE tenant_id = $1 AND invoice_id IN ({invoices})")
}

/// The page's customers' open overdue invoices, counted and summed per currency; `$1` is
/// the tenant, `$2` the as-of day, `customers` lists the customers after them.
pub(crate) fn overdue_sql(customers: &str) -> String {
    format!(
        "SELECT customer_id, currency, CAST(COUNT(*) AS BIGINT) AS n, \
         CAST(SUM(open_balance_minor) AS BIGINT) AS total FROM invoices WHERE tenant_id = $1 \
         AND status = 'open' AND open_balance_minor > 0 AND due_on < $2 \
         AND customer_id IN ({customers}) GROUP BY customer_id, currency"
    )
}

/// The page's customers' contacts (notices not blocked or cancelled) since `$2`, oldest
/// first; `$1` is the tenant, `customers` lists the customers after them.
pub(crate) fn contacts_sql(customers: &str) -> String {
    format!(
        "SELECT customer_id, invoice_id, as_of, channel FROM actions WHERE tenant_id = $1 \
         AND kind = 'notify' AND status NOT IN ('blocked', 'cancelled') \
         AND channel IS NOT NULL AND as_of >= $2 AND customer_id IN ({customers}) ORDER BY id"
    )
}

/// What a page's side queries found, keyed for [`complete_page`].
#[derive(Default)]
pub(crate) struct PageExtras {
    /// Past actions per invoice, oldest first.
    pub(crate) history: HashMap<String, Vec<PastAction>>,
    /// (count, total) of open overdue invoices per (customer, currency).
    pub(crate) overdue: HashMap<(String, String), (i64, i64)>,
    /// Recent contacts per customer, oldest first.
    pub(crate) contacts: HashMap<String, Vec<Contact>>,
}

/// The distinct customers of a page, sorted.
pub(crate) fn page_customers(due: &[DueInvoice]) -> Vec<&str> {
    let mut ids: Vec<&str> = due.iter().map(|d| d.context.customer.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Puts a page together: each context gets its invoice's history, its customer's other
/// overdue invoices and recent contacts; the cursor is the last invoice of a full page.
pub(crate) fn complete_page(
    mut due: Vec<DueInvoice>,
    mut extras: PageExtras,
    as_of: Date,
    limit: u32,
) -> Result<DuePage> {
    for d in &mut due {
        let ctx = &mut d.context;
        ctx.history = extras.history.remove(&ctx.invoice.id).unwrap_or_default();
        let key = (
            ctx.customer.id.clone(),
            ctx.invoice.amount.currency.as_str().to_owned(),
        );
        let (mut count, mut total) = extras.overdue.get(&key).copied().unwrap_or((0, 0));
        // The group counts this invoice too when it is itself overdue.
        if ctx.invoice.due_on < as_of {
            count -= 1;
            total -= ctx.invoice.open_balance.minor;
        }
        ctx.other_overdue = OtherOverdue {
            count: narrow("overdue count", count.max(0))?,
            total_minor: total.max(0),
        };
        d.contacts = extras
            .contacts
            .get(&ctx.customer.id)
            .cloned()
            .unwrap_or_default();
    }
    let next = (due.len() == limit as usize).then(|| {
        due.last()
            .map(|d| d.context.invoice.id.clone())
            .unwrap_or_default()
    });
    Ok(DuePage {
        invoices: due,
        next,
    })
}

/// A due row whose fields of one type all hold different values, so that two of them read
/// in each other's place show: for the tests of each backend's mapping.
#[cfg(test)]
pub(crate) fn distinct_due_row() -> DueRow {
    let day = |d: u32| Date::from_ymd_opt(2026, 1, d).expect("a day of January");
    let text = |s: &str| s.to_owned();
    DueRow {
        id: text("id"),
        customer_id: text("customer_id"),
        number: text("number"),
        issued_on: day(1),
        due_on: day(2),
        amount_minor: 1,
        currency: text("currency"),
        open_balance_minor: 2,
        payment_method: text("payment_method"),
        failed_attempts: 3,
        last_failure_on: Some(day(3)),
        last_failure_code: Some(text("last_failure_code")),
        last_failure_kind: Some(text("last_failure_kind")),
        metadata: text("metadata"),
        tags: text("tags"),
        lifetime_value_minor: 4,
        lifetime_currency: text("lifetime_currency"),
        customer_since: day(4),
        on_time_12m: 5,
        late_12m: 6,
        locale: text("locale"),
        time_zone: text("time_zone"),
        reachable_on: text("reachable_on"),
        opted_out: text("opted_out"),
        level: Some(7),
        last_action_on: Some(day(5)),
        next_review_on: Some(day(6)),
        policy_version: Some(8),
        paused_until: Some(day(7)),
        paused_why: Some(text("paused_why")),
        ended: 9,
        disputed: 10,
        on_plan: 11,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_column_has_a_name_of_its_own() {
        for (i, (name, _)) in DUE_COLUMNS.iter().enumerate() {
            assert_eq!(due_column(name), i, "{name} is named twice");
        }
    }
}
