//! Outcomes the tenant reports for actions its systems executed (see `crate::outcome`).

use dunlin_core::Action;

use super::ledger::{ledger_write, stamp_invoices};
use super::{get, Row, This};
use crate::codec::{self, from_json, now};
use crate::error::QueryContext;
use crate::outcome::{OutcomeReport, ReportResult, ReportedAction, ReportedOutcome};
use crate::review::ActionStatus;
use crate::tenant::TenantId;
use crate::Result;

/// The outcome columns of an `actions` row, if an outcome was reported.
pub(super) fn reported_from_row(row: &Row) -> Result<Option<ReportedOutcome>> {
    let Some(outcome) = get::<Option<String>>(row, "outcome")? else {
        return Ok(None);
    };
    Ok(Some(ReportedOutcome {
        outcome: codec::parse_name("reported outcome", &outcome)?,
        on: get(row, "outcome_on")?,
        code: get(row, "outcome_code")?,
        kind: get::<Option<String>>(row, "outcome_kind")?
            .map(|k| codec::parse_name("decline kind", &k))
            .transpose()?,
        note: get(row, "outcome_note")?,
        reported_at: get(row, "outcome_reported_at")?,
    }))
}

/// The columns [`reported_from_row`] reads.
pub(super) const OUTCOME_COLUMNS: &str =
    "outcome, outcome_on, outcome_code, outcome_kind, outcome_note, outcome_reported_at";

pub(super) async fn report(
    db: &This,
    tenant: &TenantId,
    id: i64,
    report: &OutcomeReport,
) -> Result<ReportResult> {
    if let Err(why) = report.check() {
        return Ok(ReportResult::Refused(why));
    }
    let mut tx = db.begin_write().await?;
    // A ledger write: the invoice's history (and, for a decline, its failures) changes, so a
    // decision being made on the old ones is stale.
    let seq = ledger_write(&mut tx, tenant).await?;
    let select = format!(
        "SELECT invoice_id, payload, status, {OUTCOME_COLUMNS} FROM actions \
         WHERE tenant_id = $1 AND id = $2"
    );
    let Some(row) = sqlx::query(&select)
        .bind(tenant.as_str())
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .ctx("read an action")?
    else {
        return Ok(ReportResult::NotFound);
    };
    let invoice_id: String = get(&row, "invoice_id")?;
    let action: Action = from_json("action", &get::<String>(&row, "payload")?)?;
    if let Err(why) = report.outcome.fits(&action) {
        return Ok(ReportResult::Refused(why));
    }
    if let Some(before) = reported_from_row(&row)? {
        let same = (
            before.outcome,
            before.on,
            &before.code,
            before.kind,
            &before.note,
        ) == (
            report.outcome,
            report.on,
            &report.code,
            report.kind,
            &report.note,
        );
        return Ok(if same {
            ReportResult::Recorded(ReportedAction {
                id,
                invoice_id,
                action,
                status: ActionStatus::parse(&get::<String>(&row, "status")?)?,
                reported: before,
            })
        } else {
            ReportResult::Refused(format!(
                "its outcome was reported already ({} on {})",
                codec::name(&before.outcome),
                before.on
            ))
        });
    }
    let status = ActionStatus::parse(&get::<String>(&row, "status")?)?;
    if !matches!(status, ActionStatus::Pending | ActionStatus::Delivered) {
        return Ok(ReportResult::Refused(format!(
            "it is {}; only a pending or delivered action has an outcome to report",
            status.as_str()
        )));
    }
    let at = now();
    let kind = report.kind.map(|k| codec::name(&k));
    // Delivery stops: a pending action the tenant executed is not sent again.
    sqlx::query(
        "UPDATE actions SET status = $3, outcome = $4, outcome_on = $5, outcome_code = $6, \
         outcome_kind = $7, outcome_note = $8, outcome_reported_at = $9, updated_at = $9, \
         next_attempt_at = NULL, lease_owner = NULL, lease_until = NULL \
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant.as_str())
    .bind(id)
    .bind(report.outcome.status().as_str())
    .bind(codec::name(&report.outcome))
    .bind(report.on)
    .bind(report.code.as_deref())
    .bind(kind.as_deref())
    .bind(report.note.as_deref())
    .bind(at)
    .execute(&mut *tx)
    .await
    .ctx("record an action's outcome")?;
    if let (Some(code), Some(kind)) = (&report.code, &kind) {
        sqlx::query(
            "UPDATE invoices SET failed_attempts = failed_attempts + 1, last_failure_on = $3, \
             last_failure_code = $4, last_failure_kind = $5, updated_at = $6 \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.as_str())
        .bind(invoice_id.as_str())
        .bind(report.on)
        .bind(code.as_str())
        .bind(kind.as_str())
        .bind(at)
        .execute(&mut *tx)
        .await
        .ctx("record a declined collection")?;
    }
    stamp_invoices(&mut tx, tenant, seq, std::iter::once(invoice_id.as_str())).await?;
    tx.commit().await.ctx("commit an action's outcome")?;
    Ok(ReportResult::Recorded(ReportedAction {
        id,
        invoice_id,
        action,
        status: report.outcome.status(),
        reported: ReportedOutcome {
            outcome: report.outcome,
            on: report.on,
            code: report.code.clone(),
            kind: report.kind,
            note: report.note.clone(),
            reported_at: at,
        },
    }))
}
