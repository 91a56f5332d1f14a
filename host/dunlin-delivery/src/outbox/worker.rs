//! The outbox worker: claims a tenant's due actions, checks each again at send time, sends
//! emails and webhooks, and writes each result back under its lease.
//!
//! One task per tenant claims and delivers that tenant's actions, at most
//! [`WorkerConfig::per_tenant`] at once, and every send also takes one of
//! [`WorkerConfig::total`] permits shared by all tenants: a tenant whose endpoint hangs until
//! the timeout holds only its own slots, so no other tenant's mail waits for it.
//!
//! Nothing is lost on a crash: an action is `pending` until its result is written, and a
//! claim whose worker dies expires after [`WorkerConfig::lease`], when another claim takes
//! it. A send that happened just before a crash is repeated after the lease expires, with the
//! same key (the email's Message-ID, the webhook's `webhook-id`), so receivers can tell.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use dunlin_core::clock::Clock;
use dunlin_core::guardrails::{GuardrailSettings, OperatorLimits};
use dunlin_core::text::{quoted, truncate, Escaped};
use dunlin_core::{Action, Channel, Notice};
use dunlin_store::delivery::{DeliverySettings, EndpointRow};
use dunlin_store::outbox::{
    Attempt, AttemptChannel, AttemptOutcome, Claim, ClaimedAction, Finished, Next,
};
use dunlin_store::{Db, StoreError, TenantId};
use futures_util::stream::{self, StreamExt};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::checks::{self, SendCheck, Verdict};
use super::retry;
use crate::email::{Contact, Email, IdempotencyKey, Transport};
use crate::template::{
    self, CustomerInput, InvoiceInput, RenderInput, Template, TemplateSet, TemplateSource,
};
use crate::unsubscribe::{UnsubscribeBase, UnsubscribeKeys, UnsubscribeToken};
use crate::webhook::{
    Endpoint, EndpointPolicy, EventData, EventType, SigningKeys, WebhookEvent, WebhookSender,
};
use crate::Outcome;

/// How much of a receiver's or renderer's message a result keeps.
const DETAIL_BYTES: usize = 500;

/// How the worker runs.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Its name on leases and in the deliveries log (host and process id by default).
    pub name: String,
    /// How long a claim holds: longer than the slowest send (the SMTP and webhook timeouts),
    /// short enough that a killed worker's actions soon go to another.
    pub lease: chrono::Duration,
    /// The most actions one claim takes.
    pub claim_batch: u32,
    /// The most sends of one tenant at once.
    pub per_tenant: usize,
    /// The most sends at once, all tenants together.
    pub total: usize,
    /// How long a tenant's task waits when nothing was due.
    pub idle: Duration,
    /// How long a tenant's settings, templates and endpoints are used before being read again.
    pub refresh: Duration,
    /// The sender for tenants that set no `sender-address`.
    pub default_sender: String,
    /// Signs one-click unsubscribe links; without it emails carry none.
    pub unsubscribe: Option<UnsubscribeLinks>,
    /// The limits every tenant's templates render within.
    pub template_limits: template::Limits,
    /// Where webhooks may go (the operator's SSRF policy).
    pub endpoint_policy: EndpointPolicy,
    /// How long one webhook may take, connecting included.
    pub webhook_timeout: Duration,
}

impl WorkerConfig {
    /// The defaults, named `name`: 5-minute leases, claims of 64, 8 sends per tenant and 64
    /// in all, a second's wait when idle, settings read again every 30 seconds, 10-second
    /// webhook timeout, strict endpoint policy, no unsubscribe links.
    pub fn new(name: impl Into<String>, default_sender: impl Into<String>) -> WorkerConfig {
        WorkerConfig {
            name: name.into(),
            lease: chrono::Duration::minutes(5),
            claim_batch: 64,
            per_tenant: 8,
            total: 64,
            idle: Duration::from_secs(1),
            refresh: Duration::from_secs(30),
            default_sender: default_sender.into(),
            unsubscribe: None,
            template_limits: template::Limits::default(),
            endpoint_policy: EndpointPolicy::default(),
            webhook_timeout: Duration::from_secs(10),
        }
    }
}

/// What signs unsubscribe links and where they point.
#[derive(Clone, Debug)]
pub struct UnsubscribeLinks {
    /// The operator's keys.
    pub keys: UnsubscribeKeys,
    /// The public endpoint the links point at.
    pub base: UnsubscribeBase,
    /// How long a link works.
    pub valid_for: chrono::Duration,
}

/// Why the worker stopped: the store failed (in `--once` mode; the daemon's worker logs and
/// carries on).
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// A store call failed.
    #[error("tenant {tenant}: {source}")]
    Store {
        /// Whose work it was.
        tenant: TenantId,
        /// The store's error.
        #[source]
        source: StoreError,
    },
    /// The tenants could not be listed.
    #[error("listing tenants: {0}")]
    Tenants(#[source] StoreError),
    /// A tenant's delivery task ended abnormally (a bug).
    #[error("a tenant's delivery task ended abnormally: {0}")]
    Task(String),
    /// The webhook client could not be built.
    #[error("the webhook client: {0}")]
    Client(#[from] crate::webhook::ClientError),
}

/// What a run did, by result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Delivered to every target.
    pub delivered: u64,
    /// Failed for now, tried again later.
    pub retried: u64,
    /// Failed on their last allowed attempt.
    pub dead: u64,
    /// Failed for good.
    pub failed: u64,
    /// Not sent now (contact window, quiet day, contact cap).
    pub waiting: u64,
    /// Withdrawn at send time (the invoice paid, disputed, on a plan).
    pub cancelled: u64,
    /// Stopped at send time (an opt-out).
    pub blocked: u64,
    /// Handed back unattempted at shutdown.
    pub released: u64,
    /// Results not written: the lease had been lost.
    pub lost: u64,
}

impl Totals {
    fn count(&mut self, next: &Next) {
        let n = match next {
            Next::Delivered => &mut self.delivered,
            Next::Retry { .. } => &mut self.retried,
            Next::Dead { .. } => &mut self.dead,
            Next::Failed { .. } => &mut self.failed,
            Next::Wait { .. } => &mut self.waiting,
            Next::Cancelled { .. } => &mut self.cancelled,
            Next::Blocked { .. } => &mut self.blocked,
            Next::Release => &mut self.released,
        };
        *n += 1;
    }

    fn add(&mut self, other: &Totals) {
        self.delivered += other.delivered;
        self.retried += other.retried;
        self.dead += other.dead;
        self.failed += other.failed;
        self.waiting += other.waiting;
        self.cancelled += other.cancelled;
        self.blocked += other.blocked;
        self.released += other.released;
        self.lost += other.lost;
    }

    /// Actions that reached a result other than handing back.
    pub fn handled(&self) -> u64 {
        self.delivered
            + self.retried
            + self.dead
            + self.failed
            + self.waiting
            + self.cancelled
            + self.blocked
    }
}

/// Which tenants a run serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every tenant, the list read again as tenants are added.
    All,
    /// One tenant.
    One(TenantId),
}

/// The outbox worker over one store, one email transport and one webhook client.
pub struct Worker<T> {
    db: Arc<dyn Db>,
    email: T,
    /// Tenants' own relays, where the operator configured one; the rest use `email`.
    tenant_email: std::collections::HashMap<TenantId, T>,
    webhooks: WebhookSender,
    clock: Arc<dyn Clock>,
    config: WorkerConfig,
    permits: Semaphore,
}

/// A tenant's delivery configuration as the worker uses it.
struct TenantDelivery {
    tenant: TenantId,
    sender_name: String,
    settings: DeliverySettings,
    guardrails: GuardrailSettings,
    zone: Tz,
    templates: TemplateSet,
    endpoints: Vec<Target>,
    loaded: Instant,
}

impl TenantDelivery {
    /// Whether any of `claimed` names a template id or an event type this configuration
    /// has nothing for.
    fn misses(&self, claimed: &[ClaimedAction]) -> bool {
        claimed.iter().any(|c| match notice_of(&c.action) {
            Some(notice) if is_email(&c.action) => {
                !self.templates.ids().any(|id| id == notice.template)
            }
            _ => EventType::for_action(&c.action)
                .is_some_and(|kind| !self.endpoints.iter().any(|t| t.takes(kind))),
        })
    }
}

/// One of a tenant's webhook endpoints, ready to send to.
struct Target {
    id: String,
    endpoint: Result<Endpoint, String>,
    keys: Result<SigningKeys, String>,
    events: Vec<EventType>,
}

impl Target {
    fn from_row(row: &EndpointRow, policy: &EndpointPolicy) -> Target {
        Target {
            id: row.id.clone(),
            endpoint: Endpoint::parse(&row.url, policy).map_err(|e| e.to_string()),
            keys: SigningKeys::stored(row).map_err(|e| e.to_string()),
            // Names were checked when the endpoint was added; an unknown one matches nothing.
            events: row.events.iter().filter_map(|e| e.parse().ok()).collect(),
        }
    }

    fn takes(&self, event: EventType) -> bool {
        self.events.is_empty() || self.events.contains(&event)
    }
}

impl<T: Transport + 'static> Worker<T> {
    /// A worker over `db`, sending email through `email`.
    pub fn new(
        db: Arc<dyn Db>,
        email: T,
        clock: Arc<dyn Clock>,
        config: WorkerConfig,
    ) -> Result<Worker<T>, WorkerError> {
        let webhooks = WebhookSender::new(config.endpoint_policy, config.webhook_timeout)?;
        Ok(Worker {
            db,
            email,
            tenant_email: std::collections::HashMap::new(),
            webhooks,
            clock,
            permits: Semaphore::new(config.total.max(1)),
            config,
        })
    }

    /// Sends `tenant`'s email through `transport` (the tenant's own relay) instead of the
    /// operator's.
    pub fn with_tenant_transport(mut self, tenant: TenantId, transport: T) -> Worker<T> {
        self.tenant_email.insert(tenant, transport);
        self
    }

    /// Delivers until `stop` is cancelled, or with `once` until nothing more is due. Each
    /// tenant has its own task; in `once` mode the first store error ends the run, otherwise
    /// it is logged and the tenant's task tries again after a pause.
    pub async fn run(
        self: Arc<Self>,
        scope: Scope,
        once: bool,
        stop: CancellationToken,
    ) -> Result<Totals, WorkerError> {
        let mut tasks = tokio::task::JoinSet::new();
        let mut running: Vec<TenantId> = Vec::new();
        let mut totals = Totals::default();
        loop {
            let tenants = match &scope {
                Scope::One(tenant) => vec![tenant.clone()],
                Scope::All => match self.db.tenants().await {
                    Ok(tenants) => tenants.into_iter().map(|t| t.id).collect(),
                    Err(source) if once => return Err(WorkerError::Tenants(source)),
                    Err(err) => {
                        tracing::warn!(error = %err, "listing tenants for delivery failed; trying again");
                        Vec::new()
                    }
                },
            };
            for tenant in tenants {
                if !running.contains(&tenant) {
                    running.push(tenant.clone());
                    let worker = Arc::clone(&self);
                    let stop = stop.clone();
                    tasks.spawn(async move { worker.serve_tenant(tenant, once, stop).await });
                }
            }
            if once {
                break;
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(self.config.refresh) => {}
            }
        }
        let mut first_error = None;
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(t)) => totals.add(&t),
                Ok(Err(err)) => {
                    first_error.get_or_insert(err);
                }
                // A bug in one tenant's task ends that task, not the process; its claims
                // expire and are taken again.
                Err(panicked) => {
                    tracing::error!(error = %panicked, "a tenant's delivery task ended abnormally");
                    first_error.get_or_insert(WorkerError::Task(panicked.to_string()));
                }
            }
        }
        match first_error {
            Some(err) => Err(err),
            None => Ok(totals),
        }
    }

    /// One tenant's task: claim, deliver, write back, until stopped (or, with `once`,
    /// until a claim comes back empty).
    async fn serve_tenant(
        &self,
        tenant: TenantId,
        once: bool,
        stop: CancellationToken,
    ) -> Result<Totals, WorkerError> {
        let mut totals = Totals::default();
        let mut config: Option<TenantDelivery> = None;
        let mut pause = self.config.idle;
        while !stop.is_cancelled() {
            let round = self.round(&tenant, &mut config, &stop).await;
            match round {
                Ok(t) if t.handled() + t.released + t.lost == 0 => {
                    if once {
                        break;
                    }
                    pause = self.config.idle;
                    tokio::select! {
                        _ = stop.cancelled() => {}
                        _ = tokio::time::sleep(pause) => {}
                    }
                }
                Ok(t) => totals.add(&t),
                Err(source) if once => return Err(WorkerError::Store { tenant, source }),
                Err(err) => {
                    // The store is away (restarting, a network blip): back off, up to a minute.
                    tracing::warn!(tenant = %tenant, error = %err, "delivery round failed; trying again");
                    pause = (pause * 2).min(Duration::from_secs(60));
                    tokio::select! {
                        _ = stop.cancelled() => {}
                        _ = tokio::time::sleep(pause) => {}
                    }
                }
            }
        }
        Ok(totals)
    }

    /// Claims one batch of the tenant's due actions and delivers it.
    async fn round(
        &self,
        tenant: &TenantId,
        config: &mut Option<TenantDelivery>,
        stop: &CancellationToken,
    ) -> Result<Totals, StoreError> {
        let (current, fresh) = match config {
            Some(loaded) if loaded.loaded.elapsed() < self.config.refresh => (loaded, false),
            stale => (stale.insert(self.load(tenant).await?), true),
        };
        let claimed = self
            .db
            .claim_actions(
                tenant,
                &Claim {
                    worker: self.config.name.clone(),
                    now: self.clock.now(),
                    lease: self.config.lease,
                    limit: self.config.claim_batch,
                    consolidate: current.settings.consolidate,
                },
            )
            .await?;
        let mut totals = Totals::default();
        if claimed.is_empty() {
            return Ok(totals);
        }
        // A template or endpoint the tenant added since the settings were read (through the
        // API a moment before its sweep, say) must not fail a notice for good: a miss is
        // worth one fresh read before anything is sent.
        if !fresh && current.misses(&claimed) {
            *current = self.load(tenant).await?;
        }
        let config: &TenantDelivery = current;
        let units = units(claimed, config.settings.consolidate);
        let results: Vec<Finished> = stream::iter(units)
            .map(|unit| self.deliver_unit(config, unit, stop))
            .buffer_unordered(self.config.per_tenant.max(1))
            .collect::<Vec<Vec<Finished>>>()
            .await
            .into_iter()
            .flatten()
            .collect();
        for result in &results {
            totals.count(&result.next);
            // What an operator may have to act on: an action given up on after retries (the
            // receiver or relay has been away). The errors are bounded and escaped where they
            // were made.
            match &result.next {
                Next::Dead { error } => tracing::warn!(
                    tenant = %tenant,
                    action = result.lease.id,
                    attempts = result.attempt,
                    error = %error,
                    "delivery gave up after the last allowed attempt; `dunlin deliveries retry` requeues it"
                ),
                // A bounce or a channel the tenant has no endpoint for: the customer's or the
                // tenant's matter, shown in `deliveries` and `explain`, not the operator's.
                Next::Failed { error } => tracing::info!(
                    tenant = %tenant,
                    action = result.lease.id,
                    error = %error,
                    "delivery failed for good"
                ),
                _ => {}
            }
        }
        let written = self.write_back(tenant, &results).await?;
        super::figures::record(tenant, &results);
        totals.lost = written.lost as u64;
        tracing::info!(
            tenant = %tenant,
            delivered = totals.delivered,
            retried = totals.retried,
            dead = totals.dead,
            failed = totals.failed,
            waiting = totals.waiting,
            cancelled = totals.cancelled,
            blocked = totals.blocked,
            lost = totals.lost,
            "delivery round"
        );
        Ok(totals)
    }

    /// Reads what delivering the tenant's actions needs. A stored template that no longer
    /// parses (the limits were lowered since its upload) is left out and logged; its notices
    /// fail with "no template".
    async fn load(&self, tenant: &TenantId) -> Result<TenantDelivery, StoreError> {
        let record = self
            .db
            .tenant(tenant)
            .await?
            .ok_or_else(|| StoreError::UnknownTenant(tenant.clone()))?;
        let settings = record.settings;
        // The store refuses settings it cannot read back, so an error here is a corrupt row:
        // delivering under default guardrails would break the tenant's own rules.
        let corrupt = |what, detail: String| StoreError::Corrupt { what, detail };
        let guardrails =
            GuardrailSettings::from_json(&settings.guardrails, &OperatorLimits::widest())
                .map_err(|e| corrupt("tenant guardrails", e.to_string()))?;
        let zone: Tz = settings
            .time_zone
            .parse()
            .map_err(|_| corrupt("tenant time zone", quoted(&settings.time_zone, 64)))?;
        let rows = self.db.templates(tenant).await?;
        let mut templates = TemplateSet::new();
        for row in &rows {
            let source = TemplateSource {
                subject: row.subject.clone(),
                text: row.text.clone(),
                html: row.html.clone(),
            };
            match Template::new(&row.id, &row.locale, source, self.config.template_limits) {
                Ok(template) => {
                    templates.insert(template);
                }
                Err(err) => tracing::warn!(
                    tenant = %tenant,
                    template = %Escaped(&truncate(&row.id, 64)),
                    error = %err,
                    "a stored template does not parse; its notices fail until it is uploaded again"
                ),
            }
        }
        let endpoints = self
            .db
            .endpoints(tenant)
            .await?
            .iter()
            .map(|row| Target::from_row(row, &self.config.endpoint_policy))
            .collect();
        Ok(TenantDelivery {
            tenant: tenant.clone(),
            sender_name: if settings.delivery.sender_name.is_empty() {
                settings.name.clone()
            } else {
                settings.delivery.sender_name.clone()
            },
            zone,
            settings: settings.delivery,
            guardrails,
            templates,
            endpoints,
            loaded: Instant::now(),
        })
    }

    /// Writes a round's results, tried again while the store is away (a restart, a blip) for
    /// as long as the leases hold: sends that happened and are not written would go out again
    /// once their leases expire, and unwritten releases would hold their actions until then.
    async fn write_back(
        &self,
        tenant: &TenantId,
        results: &[Finished],
    ) -> Result<dunlin_store::outbox::FinishSummary, StoreError> {
        let began = Instant::now();
        let lease = self.config.lease.to_std().unwrap_or_default();
        let mut pause = Duration::from_millis(250);
        loop {
            let now = self.clock.now();
            match self
                .db
                .finish_actions(tenant, &self.config.name, now, results)
                .await
            {
                Ok(written) => return Ok(written),
                Err(e) if began.elapsed() + pause < lease => {
                    tracing::warn!(tenant = %tenant, error = %e, "writing delivery results failed; trying again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Delivers one unit (one action, or one customer's email notices of a day) and says
    /// what becomes of each of its actions.
    async fn deliver_unit(
        &self,
        config: &TenantDelivery,
        unit: Vec<ClaimedAction>,
        stop: &CancellationToken,
    ) -> Vec<Finished> {
        if stop.is_cancelled() {
            return unit
                .iter()
                .map(|c| finished(c, Vec::new(), Next::Release))
                .collect();
        }
        let now = self.clock.now();
        let mut results = Vec::new();
        let mut sendable = Vec::new();
        for claimed in unit {
            match checks::check(&send_check(config, &claimed, now)) {
                Verdict::Send => sendable.push(claimed),
                Verdict::Wait { until, reason } => results.push(finished(
                    &claimed,
                    Vec::new(),
                    Next::Wait {
                        until,
                        note: reason,
                    },
                )),
                Verdict::Cancel { reason } => results.push(finished(
                    &claimed,
                    Vec::new(),
                    Next::Cancelled { note: reason },
                )),
                Verdict::Block { reason } => results.push(finished(
                    &claimed,
                    Vec::new(),
                    Next::Blocked { note: reason },
                )),
            }
        }
        if sendable.is_empty() {
            return results;
        }
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the worker's semaphore is never closed");
        if is_email(&sendable[0].action) {
            results.extend(self.send_email(config, sendable, now).await);
        } else {
            for claimed in sendable {
                let result = self.send_webhooks(config, &claimed, now).await;
                results.push(result);
            }
        }
        results
    }

    /// One email for `group` (one customer's email notices of one day, lowest id first):
    /// the highest level's template, every open invoice of the customer listed.
    async fn send_email(
        &self,
        config: &TenantDelivery,
        group: Vec<ClaimedAction>,
        now: DateTime<Utc>,
    ) -> Vec<Finished> {
        let tenant = config.tenant.as_str();
        let key = group[0].key(tenant);
        let lead = group
            .iter()
            .max_by_key(|c| notice_of(&c.action).map_or(0, |n| n.level))
            .expect("a unit is never empty");
        let Some(notice) = notice_of(&lead.action) else {
            unreachable!("an email unit holds email notices")
        };
        let fail_all = |error: String| -> Vec<Finished> {
            group
                .iter()
                .map(|c| {
                    finished(
                        c,
                        Vec::new(),
                        Next::Failed {
                            error: error.clone(),
                        },
                    )
                })
                .collect()
        };
        let Some(address) = lead.customer.contact.get("email").filter(|a| !a.is_empty()) else {
            return fail_all("the customer has no email address (contact.email)".into());
        };
        let others = match self
            .db
            .open_invoices(&config.tenant, &lead.customer_id)
            .await
        {
            Ok(rows) => rows,
            // The list is a courtesy: without it the letter still names its own invoice.
            Err(err) => {
                tracing::warn!(tenant = %tenant, error = %err, "reading a customer's open invoices failed");
                Vec::new()
            }
        };
        let input = RenderInput {
            locale: lead.customer.locale.clone(),
            as_of: now.with_timezone(&customer_zone(config, lead)).date_naive(),
            sender: config.sender_name.clone(),
            customer: CustomerInput {
                id: lead.customer_id.clone(),
                name: lead
                    .customer
                    .contact
                    .get("name")
                    .cloned()
                    .unwrap_or_else(|| lead.customer_id.clone()),
                email: address.clone(),
            },
            invoice: InvoiceInput {
                number: lead.invoice.number.clone(),
                amount: lead.invoice.amount,
                open_balance: lead.invoice.open_balance,
                issued_on: lead.invoice.issued_on,
                due_on: lead.invoice.due_on,
            },
            other_invoices: others
                .iter()
                .filter(|i| i.id != lead.invoice_id)
                .map(InvoiceInput::from)
                .collect(),
            vars: notice.vars.clone(),
            payment_link: payment_link(&config.settings, &lead.invoice_id, &lead.customer_id),
            unsubscribe_link: String::new(),
        };
        let unsubscribe = self.unsubscribe_link(tenant, &lead.customer_id, now);
        let input = RenderInput {
            unsubscribe_link: unsubscribe.clone().unwrap_or_default(),
            ..input
        };
        let body =
            match config
                .templates
                .render(&notice.template, &config.settings.default_locale, &input)
            {
                Ok(body) => body,
                Err(err) => return fail_all(bounded(&err.to_string())),
            };
        let key = match IdempotencyKey::new(&key) {
            Ok(key) => key,
            Err(err) => return fail_all(bounded(&err.to_string())),
        };
        let email = Email {
            from: Contact {
                name: Some(config.sender_name.clone()).filter(|n| !n.is_empty()),
                address: if config.settings.sender_address.is_empty() {
                    self.config.default_sender.clone()
                } else {
                    config.settings.sender_address.clone()
                },
            },
            to: Contact {
                name: lead.customer.contact.get("name").cloned(),
                address: address.clone(),
            },
            reply_to: config.settings.reply_to.as_ref().map(|a| Contact {
                name: None,
                address: a.clone(),
            }),
            body,
            key: key.clone(),
            unsubscribe: unsubscribe.into_iter().collect(),
        };
        let started = Instant::now();
        let transport = self.tenant_email.get(&config.tenant).unwrap_or(&self.email);
        let outcome = transport.send(&email).await;
        let attempt = attempt_of(
            now,
            started.elapsed(),
            AttemptChannel::Email,
            address,
            key.as_str(),
            &outcome,
        );
        let max = config.settings.max_attempts;
        let mut nexts: Vec<Next> = group
            .iter()
            .map(|c| next_after(&[(&outcome, None)], c.attempts + 1, max, now))
            .collect();
        // One retry time for the group: drawn apart, the first due would go out alone and
        // the rest as a second email under another Message-ID.
        let shared = nexts.iter().find_map(|n| match n {
            Next::Retry { at, .. } => Some(*at),
            _ => None,
        });
        for next in &mut nexts {
            if let (Next::Retry { at, .. }, Some(shared)) = (next, shared) {
                *at = shared;
            }
        }
        group
            .iter()
            .zip(nexts)
            .map(|(c, next)| finished(c, vec![attempt.clone()], next))
            .collect()
    }

    /// The action as a signed event to every endpoint that takes its type and has not
    /// taken it already.
    async fn send_webhooks(
        &self,
        config: &TenantDelivery,
        claimed: &ClaimedAction,
        now: DateTime<Utc>,
    ) -> Finished {
        let tenant = config.tenant.as_str();
        let Some(kind) = EventType::for_action(&claimed.action) else {
            unreachable!("only email notices have no event")
        };
        let subscribed: Vec<&Target> = config.endpoints.iter().filter(|t| t.takes(kind)).collect();
        if subscribed.is_empty() {
            let error = format!("no webhook endpoint of the tenant takes {}", kind.as_str());
            return finished(claimed, Vec::new(), Next::Failed { error });
        }
        let pending: Vec<&Target> = subscribed
            .into_iter()
            .filter(|t| !claimed.delivered_to.contains(&t.id))
            .collect();
        if pending.is_empty() {
            // Every endpoint took it before a crash kept the result from being written.
            return finished(claimed, Vec::new(), Next::Delivered);
        }
        let key = claimed.key(tenant);
        let text = notice_of(&claimed.action).and_then(|notice| {
            let input = notice_input(config, claimed, notice, now);
            config
                .templates
                .render(&notice.template, &config.settings.default_locale, &input)
                .ok()
                .map(|r| r.text)
        });
        let event = WebhookEvent {
            kind,
            timestamp: claimed.created_at,
            data: EventData {
                tenant_id: tenant.to_owned(),
                invoice_id: claimed.invoice_id.clone(),
                customer_id: claimed.customer_id.clone(),
                action_key: key.clone(),
                action: claimed.action.clone(),
                reason: claimed.reason.clone(),
                policy_version: claimed
                    .policy_version
                    .map_or_else(|| "none".to_owned(), |v| v.to_string()),
                text,
            },
        };
        let sends = pending.iter().map(|target| {
            let event = &event;
            let key = &key;
            async move {
                let started = Instant::now();
                let sent = match (&target.endpoint, &target.keys) {
                    (Ok(endpoint), Ok(keys)) => {
                        self.webhooks.send(endpoint, keys, event, key).await
                    }
                    (Err(reason), _) | (_, Err(reason)) => crate::webhook::Attempt {
                        outcome: Outcome::Permanent {
                            reason: reason.clone(),
                        },
                        retry_after: None,
                    },
                };
                (target.id.as_str(), started.elapsed(), sent)
            }
        });
        let sent = futures_util::future::join_all(sends).await;
        let attempts = sent
            .iter()
            .map(|(id, took, s)| {
                attempt_of(now, *took, AttemptChannel::Webhook, id, &key, &s.outcome)
            })
            .collect();
        let outcomes: Vec<(&Outcome, Option<Duration>)> = sent
            .iter()
            .map(|(_, _, s)| (&s.outcome, s.retry_after))
            .collect();
        let next = next_after(
            &outcomes,
            claimed.attempts + 1,
            config.settings.max_attempts,
            now,
        );
        finished(claimed, attempts, next)
    }

    fn unsubscribe_link(&self, tenant: &str, customer: &str, now: DateTime<Utc>) -> Option<String> {
        let links = self.config.unsubscribe.as_ref()?;
        match UnsubscribeToken::new(tenant, customer, Channel::Email, now + links.valid_for) {
            Ok(token) => Some(links.keys.link(&links.base, &token).to_string()),
            Err(err) => {
                // An id the link format cannot carry: the email goes without the header.
                tracing::warn!(tenant = %tenant, error = %err, "no unsubscribe link for a customer");
                None
            }
        }
    }
}

/// A notice's render input for a channel the tenant's systems send (the webhook's text).
fn notice_input(
    config: &TenantDelivery,
    claimed: &ClaimedAction,
    notice: &Notice,
    now: DateTime<Utc>,
) -> RenderInput {
    RenderInput {
        locale: claimed.customer.locale.clone(),
        as_of: now
            .with_timezone(&customer_zone(config, claimed))
            .date_naive(),
        sender: config.sender_name.clone(),
        customer: CustomerInput {
            id: claimed.customer_id.clone(),
            name: claimed
                .customer
                .contact
                .get("name")
                .cloned()
                .unwrap_or_else(|| claimed.customer_id.clone()),
            email: claimed
                .customer
                .contact
                .get("email")
                .cloned()
                .unwrap_or_default(),
        },
        invoice: InvoiceInput {
            number: claimed.invoice.number.clone(),
            amount: claimed.invoice.amount,
            open_balance: claimed.invoice.open_balance,
            issued_on: claimed.invoice.issued_on,
            due_on: claimed.invoice.due_on,
        },
        other_invoices: Vec::new(),
        vars: notice.vars.clone(),
        payment_link: payment_link(&config.settings, &claimed.invoice_id, &claimed.customer_id),
        unsubscribe_link: String::new(),
    }
}

/// The units a claim is delivered in: each email notice group of one customer and day
/// together when consolidating, every other action alone; in claim order.
fn units(claimed: Vec<ClaimedAction>, consolidate: bool) -> Vec<Vec<ClaimedAction>> {
    let mut units: Vec<Vec<ClaimedAction>> = Vec::new();
    let mut groups: BTreeMap<(String, dunlin_core::Date), usize> = BTreeMap::new();
    for c in claimed {
        if consolidate && is_email(&c.action) {
            let key = (c.customer_id.clone(), c.as_of);
            if let Some(&at) = groups.get(&key) {
                units[at].push(c);
                continue;
            }
            groups.insert(key, units.len());
        }
        units.push(vec![c]);
    }
    units
}

fn is_email(action: &Action) -> bool {
    matches!(action, Action::Notify(n) if n.channel == Channel::Email)
}

fn notice_of(action: &Action) -> Option<&Notice> {
    match action {
        Action::Notify(notice) => Some(notice),
        _ => None,
    }
}

/// The customer's zone, or the tenant's when the customer's is not an IANA name.
fn customer_zone(config: &TenantDelivery, claimed: &ClaimedAction) -> Tz {
    claimed.customer.time_zone.parse().unwrap_or(config.zone)
}

fn send_check(config: &TenantDelivery, claimed: &ClaimedAction, now: DateTime<Utc>) -> SendCheck {
    let g = &config.guardrails;
    SendCheck {
        now,
        action: claimed.action.clone(),
        time_zone: customer_zone(config, claimed),
        window: g.contact_window,
        quiet_days: config
            .settings
            .quiet_days
            .iter()
            .map(|&d| d.into())
            .collect(),
        opted_out: claimed.customer.opted_out.clone(),
        status: claimed.invoice.status,
        open_balance_minor: claimed.invoice.open_balance.minor,
        disputed: claimed.invoice.disputed,
        payment_plan: claimed.invoice.on_payment_plan,
        hold_while_disputed: g.hold_while_disputed,
        hold_during_payment_plan: g.hold_during_payment_plan,
        recent_contacts: claimed.customer.recent_contacts.clone(),
        max_contacts_per_customer_7_days: g.max_contacts_per_customer_7_days,
    }
}

/// The tenant's payment link for an invoice, the ids percent-encoded into it.
/// The tenant's payment link for `invoice` of `customer` (`{invoice}` and `{customer}` in
/// its `payment-link` setting, URL-encoded).
pub fn payment_link(settings: &DeliverySettings, invoice: &str, customer: &str) -> String {
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    settings
        .payment_link
        .replace("{invoice}", &encode(invoice))
        .replace("{customer}", &encode(customer))
}

fn bounded(text: &str) -> String {
    Escaped(&truncate(text, DETAIL_BYTES)).to_string()
}

fn finished(claimed: &ClaimedAction, attempts: Vec<Attempt>, next: Next) -> Finished {
    Finished {
        lease: claimed.lease,
        attempt: claimed.attempts + 1,
        attempts,
        next,
    }
}

/// The log's row for one send that started at `started` (the worker's clock) and took
/// `took`, or as long as the transport says when it says.
fn attempt_of(
    started: DateTime<Utc>,
    took: Duration,
    channel: AttemptChannel,
    target: &str,
    key: &str,
    outcome: &Outcome,
) -> Attempt {
    let (outcome, detail, latency) = match outcome {
        Outcome::Sent { reply, latency } => (AttemptOutcome::Delivered, reply.as_str(), *latency),
        Outcome::Temporary { reason } => (AttemptOutcome::Temporary, reason.as_str(), took),
        Outcome::Permanent { reason } => (AttemptOutcome::Permanent, reason.as_str(), took),
    };
    Attempt {
        started_at: started,
        latency_us: u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
        channel,
        target: truncate(target, 320).into_owned(),
        message_key: key.to_owned(),
        outcome,
        detail: bounded(detail),
    }
}

/// What becomes of an action after one attempt over all its targets: delivered when every
/// target took it; tried again (or dead, on its last attempt) when any failed for now;
/// failed when the rest failed for good.
fn next_after(
    outcomes: &[(&Outcome, Option<Duration>)],
    attempt: u32,
    max_attempts: u32,
    now: DateTime<Utc>,
) -> Next {
    let reasons = |temporary: bool| {
        outcomes
            .iter()
            .filter_map(|(o, _)| match o {
                Outcome::Temporary { reason } if temporary => Some(reason.as_str()),
                Outcome::Permanent { reason } if !temporary => Some(reason.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    if outcomes
        .iter()
        .any(|(o, _)| matches!(o, Outcome::Temporary { .. }))
    {
        let error = bounded(&reasons(true));
        if retry::is_dead(attempt, max_attempts) {
            return Next::Dead { error };
        }
        let floor = outcomes.iter().filter_map(|(_, after)| *after).max();
        let at = retry::next_attempt(attempt, now, floor, &mut rand::rng());
        return Next::Retry { at, error };
    }
    if outcomes
        .iter()
        .any(|(o, _)| matches!(o, Outcome::Permanent { .. }))
    {
        return Next::Failed {
            error: bounded(&reasons(false)),
        };
    }
    Next::Delivered
}
