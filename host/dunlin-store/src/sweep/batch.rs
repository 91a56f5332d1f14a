//! Which rows a batch of outcomes writes, the same on both backends: each backend binds them
//! its own way (`sqlite/direct.rs`, `postgres.rs`).

use std::collections::{BTreeMap, HashMap, HashSet};

use dunlin_core::{Action, Notice};

use super::EncodedOutcome;
use crate::codec;
use crate::review::{action_kind, ActionStatus, Outcome};

/// How a recorded state replaces the one before.
pub(crate) const STATE_CONFLICT: &str = " ON CONFLICT (tenant_id, invoice_id) DO UPDATE SET \
    level = excluded.level, last_action_on = excluded.last_action_on, \
    next_review_on = excluded.next_review_on, policy_version = excluded.policy_version, \
    paused_until = excluded.paused_until, paused_why = excluded.paused_why, \
    ended = excluded.ended, updated_at = excluded.updated_at";

/// One row for the outbox, ready to bind.
pub(crate) struct NewAction<'a> {
    pub(crate) ordinal: i64,
    pub(crate) outcome: &'a Outcome,
    pub(crate) action: &'a Action,
    pub(crate) status: ActionStatus,
    pub(crate) payload: &'a str,
}

impl NewAction<'_> {
    pub(crate) fn notice(&self) -> Option<&Notice> {
        match self.action {
            Action::Notify(n) => Some(n),
            _ => None,
        }
    }

    pub(crate) fn kind(&self) -> String {
        codec::name(&action_kind(self.action))
    }
}

/// The ids of a batch's chunks of contexts (by [`EncodedOutcome::chunk_key`]) that no
/// decision of `recorded` names, because every decision of theirs was recorded before: the
/// batch deletes them again before it commits.
pub(crate) fn unnamed_chunks(
    chunks: &HashMap<usize, i64>,
    recorded: &[&EncodedOutcome],
) -> Vec<i64> {
    let named: HashSet<usize> = recorded.iter().map(|e| e.chunk_key()).collect();
    chunks
        .iter()
        .filter(|(key, _)| !named.contains(key))
        .map(|(_, id)| *id)
        .collect()
}

/// The outbox rows of the outcomes a batch records, in order.
pub(crate) fn new_actions<'a>(recorded: &[&'a EncodedOutcome]) -> Vec<NewAction<'a>> {
    recorded
        .iter()
        .flat_map(|e| {
            let o = &e.outcome;
            o.actions
                .iter()
                .zip(&e.payloads)
                .enumerate()
                .map(move |(i, (a, payload))| NewAction {
                    ordinal: i as i64,
                    outcome: o,
                    action: &a.action,
                    status: a.status,
                    payload,
                })
        })
        .collect()
}

/// The ladder states a batch leaves behind: with several days of one invoice in a batch, the
/// latest day's state wins.
pub(crate) fn latest_states<'a>(recorded: &[&'a EncodedOutcome]) -> Vec<&'a Outcome> {
    let mut states: BTreeMap<&str, &Outcome> = BTreeMap::new();
    for e in recorded {
        let o = &e.outcome;
        let slot = states.entry(o.context.invoice.id.as_str()).or_insert(o);
        if o.context.as_of > slot.context.as_of {
            *slot = o;
        }
    }
    states.into_values().collect()
}
