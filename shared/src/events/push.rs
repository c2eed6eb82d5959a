//! Push delivery (RFC 8935): what the `events` function does with a stream batch and with
//! the schedule's tick. See docs/PUSH_DELIVERY.md for the design and its limits.
//!
//! A stream batch: its change records are grouped by org; each org's subscriptions are
//! loaded once; every change goes into the queue of every subscription that wants it (all
//! statuses: a paused or disabled one still queues); then every Active push subscription
//! that received something is drained, all at once, each under its own lease. A record
//! that could not be enqueued is reported in `batchItemFailures`, so Lambda retries it and
//! finally sends it to the dead-letter queue.
//!
//! A drain posts the queue's head in order and stops at the first failure: order per
//! subscription is kept, nothing is skipped. Transient failures are retried within the
//! invocation on [`PushConfig::retry_delays`]; after that the failure is recorded, and the
//! schedule retries every minute. A subscription that has failed for longer than
//! [`PushConfig::disable_after`] is disabled by a plan with a log event (E1); its backlog
//! stays queued.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;

use super::dead_letter::{DeadLetter, DeadLetterReason, DeadLetters};
use super::outbound::{FailureKind, PostOutcome, PushClient, Timeouts};
use super::set::{signed_set, EventsKey};
use super::stream::{classify, BatchResponse, Invocation, ItemFailure, StreamError, StreamEvent};
use super::subscription::{DeliveryMethod, DeliveryState, SubscriptionRecord, SubscriptionStatus};
use crate::directory::model::{ChangeRecord, EventRecord, Outcome};
use crate::directory::plan::{Condition, Plan, Record};
use crate::store::{ApplyError, BacklogEntry, Release, Store, StoreError};

/// Queue items read per page of a drain.
const PAGE: i32 = 25;
/// Subscriptions drained at once by one invocation.
const CONCURRENT_DRAINS: usize = 32;

/// How push behaves; [`PushConfig::from_env`] documents the variables and defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushConfig {
    pub connect_timeout: Duration,
    /// The whole POST, connection included.
    pub request_timeout: Duration,
    /// Waits before the 2nd, 3rd, ... attempt of one SET within an invocation.
    pub retry_delays: Vec<Duration>,
    /// A subscription failing for longer than this is disabled.
    pub disable_after: Duration,
    /// How long an invocation drains before it leaves the rest to the next one.
    pub drain_budget: Duration,
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            retry_delays: vec![Duration::from_millis(500), Duration::from_secs(2)],
            disable_after: Duration::from_secs(24 * 3600),
            drain_budget: Duration::from_secs(40),
        }
    }
}

impl PushConfig {
    /// From the environment, each variable falling back to its default when missing or
    /// not a number:
    ///
    /// | variable | default |
    /// | --- | --- |
    /// | `SCIMLINK_PUSH_CONNECT_TIMEOUT_MS` | 2000 |
    /// | `SCIMLINK_PUSH_TIMEOUT_MS` | 5000 |
    /// | `SCIMLINK_PUSH_RETRY_DELAYS_MS` | `500,2000` (3 attempts) |
    /// | `SCIMLINK_PUSH_DISABLE_AFTER_SECONDS` | 86400 (24 h) |
    /// | `SCIMLINK_PUSH_DRAIN_BUDGET_SECONDS` | 40 (the function's timeout is 60) |
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let d = PushConfig::default();
        let num = |name: &str| get(name).and_then(|v| v.trim().parse::<u64>().ok());
        PushConfig {
            connect_timeout: num("SCIMLINK_PUSH_CONNECT_TIMEOUT_MS")
                .map(Duration::from_millis)
                .unwrap_or(d.connect_timeout),
            request_timeout: num("SCIMLINK_PUSH_TIMEOUT_MS")
                .map(Duration::from_millis)
                .unwrap_or(d.request_timeout),
            retry_delays: get("SCIMLINK_PUSH_RETRY_DELAYS_MS")
                .and_then(|v| {
                    v.split(',')
                        .filter(|s| !s.trim().is_empty())
                        .map(|s| s.trim().parse::<u64>().ok().map(Duration::from_millis))
                        .collect::<Option<Vec<_>>>()
                })
                .unwrap_or(d.retry_delays),
            disable_after: num("SCIMLINK_PUSH_DISABLE_AFTER_SECONDS")
                .map(Duration::from_secs)
                .unwrap_or(d.disable_after),
            drain_budget: num("SCIMLINK_PUSH_DRAIN_BUDGET_SECONDS")
                .map(Duration::from_secs)
                .unwrap_or(d.drain_budget),
        }
    }

    pub fn timeouts(&self) -> Timeouts {
        Timeouts {
            connect: self.connect_timeout,
            total: self.request_timeout,
        }
    }

    /// How long a lease lasts: longer than any drain (its budget, plus one POST that
    /// started just before the budget ran out), so that only a crashed drainer's lease
    /// ever expires.
    pub fn lease(&self) -> Duration {
        self.drain_budget + self.request_timeout + Duration::from_secs(10)
    }
}

/// Whether a subscription failing since `failing_since` (RFC 3339) is to be disabled at
/// `now`. An unreadable time never disables.
pub fn should_disable(failing_since: &str, now: time::OffsetDateTime, window: Duration) -> bool {
    let Ok(since) = time::OffsetDateTime::parse(
        failing_since,
        &time::format_description::well_known::Rfc3339,
    ) else {
        return false;
    };
    let failing = now - since;
    failing.is_positive() && failing.unsigned_abs() > window
}

/// The host of a push URL, for messages (never the path or query, which may hold a token).
fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// The plan that disables a failing push subscription: its record at the next version,
/// on the condition that nobody changed it meanwhile, and the log event (E1) an admin reads.
pub fn plan_disable(
    sub: &SubscriptionRecord,
    state: &DeliveryState,
    now: &str,
    event_id: String,
    window: Duration,
) -> Plan {
    let mut disabled = sub.clone();
    disabled.status = SubscriptionStatus::Disabled;
    disabled.version = sub.version + 1;
    disabled.last_modified = now.to_string();
    let host = match &sub.delivery {
        DeliveryMethod::Push { url } => host_of(url),
        DeliveryMethod::Poll => "?".into(),
    };
    let message = format!(
        "subscription {} ({}) disabled: pushes to {host} have failed since {} ({} failed attempts, last: {}), longer than the {} s window. Its events stay queued: read them by poll, or resume the subscription.",
        sub.id,
        sub.name,
        state.failing_since.as_deref().unwrap_or("?"),
        state.consecutive_failures,
        state.last_error.as_deref().unwrap_or("?"),
        window.as_secs(),
    );
    let mut plan = Plan::default();
    plan.put(
        Record::Subscription(disabled),
        Condition::Version(sub.version),
    );
    plan.event(EventRecord {
        org_id: sub.org_id.clone(),
        directory_id: None,
        time: now.to_string(),
        id: event_id,
        request_id: None,
        idp: None,
        operation: "events: disable push subscription".into(),
        scim_id: None,
        external_id: None,
        email: None,
        outcome: Outcome::Updated,
        message,
        quirks: Vec::new(),
    });
    plan
}

/// Each org's changes, with the sequence number of the stream record each came from.
pub type ChangesByOrg = BTreeMap<String, Vec<(String, ChangeRecord)>>;

/// What enqueueing an org's changes left: the records that could not be enqueued, and the
/// Active push subscriptions to drain with the records that fed them.
type Enqueued = (Vec<String>, Vec<(SubscriptionRecord, Vec<String>)>);

/// A batch's change records by org, each org's in stream order, with the sequence number
/// of the record each came from; and the records that could not be decoded.
pub fn group_by_org(batch: &StreamEvent) -> (ChangesByOrg, Vec<String>) {
    let mut by_org = ChangesByOrg::new();
    let mut bad = Vec::new();
    for record in &batch.records {
        // The event source mapping filters already; the local pump applies the same filter.
        if !record.is_change_insert() {
            continue;
        }
        match record.changes() {
            Ok(changes) => {
                for c in changes {
                    by_org
                        .entry(c.org_id.clone())
                        .or_default()
                        .push((record.id().to_string(), c));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "undecodable change record: reported for retry and the dead-letter queue");
                bad.push(record.id().to_string());
            }
        }
    }
    (by_org, bad)
}

#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error(transparent)]
    Invocation(#[from] StreamError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What stops the function from starting (a cold start fails, and Lambda says so).
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Key(#[from] super::key::KeyError),
    #[error(transparent)]
    Client(#[from] super::outbound::ClientError),
}

/// Why a drain was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// New events arrived: a subscription known to be failing is left to the schedule, so
    /// that it does not hold up the stream.
    Stream,
    /// The schedule's retry.
    Schedule,
}

/// How a drain ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DrainEnd {
    /// The queue is empty.
    Empty,
    /// The receiver failed; the rest stays queued.
    Failed(FailureKind),
    /// The invocation's budget ran out; the rest stays queued.
    Budget,
    /// Another drainer holds the lease (and was asked to look again).
    Busy,
    /// Known to be failing: left to the schedule.
    LeftToSchedule,
    /// Not an Active push subscription.
    NotActive,
}

/// What one drain did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrainReport {
    pub subscription_id: String,
    pub delivered: u64,
    pub dead_lettered: u64,
    pub end: DrainEnd,
    /// Whether it disabled the subscription.
    pub disabled: bool,
}

/// The `events` function's logic: built once per cold start.
#[derive(Debug, Clone)]
pub struct EventsService {
    pub store: Store,
    key: EventsKey,
    client: PushClient,
    dead_letters: DeadLetters,
    config: PushConfig,
}

impl EventsService {
    pub fn new(
        store: Store,
        key: EventsKey,
        client: PushClient,
        dead_letters: DeadLetters,
        config: PushConfig,
    ) -> Self {
        EventsService {
            store,
            key,
            client,
            dead_letters,
            config,
        }
    }

    /// From the Lambda environment, once per cold start: the table (`SCIMLINK_TABLE`), the
    /// events key (`EventsKey::load`), [`PushConfig::from_env`], the push client
    /// (loopback only with `SCIMLINK_ALLOW_LOOPBACK_PUSH=1`) and the dead letters
    /// (`SCIMLINK_DEAD_LETTER_QUEUE_URL`, else the log).
    pub async fn from_env() -> Result<Self, InitError> {
        let sdk = crate::aws::sdk_loader().load().await;
        let table = std::env::var("SCIMLINK_TABLE").unwrap_or_else(|_| "scimlink".into());
        let key = EventsKey::load(&sdk).await?;
        let config = PushConfig::from_env();
        let client = PushClient::new(config.timeouts())?;
        Ok(EventsService::new(
            Store::new(&sdk, table),
            key,
            client,
            DeadLetters::from_env(&sdk),
            config,
        ))
    }

    pub fn config(&self) -> &PushConfig {
        &self.config
    }

    /// One invocation: a stream batch (answered with its `batchItemFailures`) or a tick
    /// (answered with what was drained).
    pub async fn handle(&self, event: Value) -> Result<Value, EventsError> {
        match classify(event)? {
            Invocation::Stream(batch) => {
                let response = self.handle_stream(&batch).await;
                Ok(serde_json::to_value(response).unwrap_or(Value::Null))
            }
            Invocation::Scheduled => {
                let reports = self.handle_tick().await?;
                let delivered: u64 = reports.iter().map(|r| r.delivered).sum();
                let failing = reports
                    .iter()
                    .filter(|r| matches!(r.end, DrainEnd::Failed(_)))
                    .count();
                Ok(serde_json::json!({
                    "drained": reports.len(),
                    "delivered": delivered,
                    "failing": failing,
                }))
            }
        }
    }

    /// Enqueues a batch's changes, drains what received something, and answers the records
    /// to retry.
    pub async fn handle_stream(&self, batch: &StreamEvent) -> BatchResponse {
        let deadline = Instant::now() + self.config.drain_budget;
        let (by_org, mut failed) = group_by_org(batch);
        let enqueued: Vec<Enqueued> = futures::stream::iter(
            by_org
                .into_iter()
                .map(|(org, changes)| self.enqueue_org(org, changes)),
        )
        .buffer_unordered(8)
        .collect()
        .await;
        let mut to_drain = Vec::new();
        for (org_failed, subs) in enqueued {
            failed.extend(org_failed);
            to_drain.extend(subs);
        }
        let drained: Vec<(Result<DrainReport, StoreError>, Vec<String>)> =
            futures::stream::iter(to_drain.into_iter().map(|(sub, records)| async move {
                (self.drain(&sub, Trigger::Stream, deadline).await, records)
            }))
            .buffer_unordered(CONCURRENT_DRAINS)
            .collect()
            .await;
        for (result, records) in drained {
            if let Err(e) = result {
                // DynamoDB failed us mid-drain: retry the records (enqueueing is idempotent).
                tracing::error!(error = %e, "drain failed on storage: records reported for retry");
                failed.extend(records);
            }
        }
        failed.sort();
        failed.dedup();
        BatchResponse {
            batch_item_failures: failed
                .into_iter()
                .map(|item_identifier| ItemFailure { item_identifier })
                .collect(),
        }
    }

    /// Puts an org's changes in its subscriptions' queues. Returns the records that could
    /// not be enqueued, and the Active push subscriptions to drain with the records that
    /// fed them.
    async fn enqueue_org(&self, org_id: String, changes: Vec<(String, ChangeRecord)>) -> Enqueued {
        let all_records = || changes.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>();
        let subs = match self.store.subscriptions_of_org(&org_id).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(org = %org_id, error = %e, "could not load subscriptions");
                return (all_records(), Vec::new());
            }
        };
        let mut failed = Vec::new();
        let mut to_drain = Vec::new();
        for sub in subs {
            let (records, wanted): (Vec<String>, Vec<ChangeRecord>) = changes
                .iter()
                .filter(|(_, c)| sub.wants(&c.event))
                .cloned()
                .unzip();
            if wanted.is_empty() {
                continue;
            }
            let result = match self.store.enqueue(&sub, &wanted).await {
                Ok(()) => match (&sub.delivery, sub.status) {
                    (DeliveryMethod::Push { .. }, SubscriptionStatus::Active) => {
                        to_drain.push((sub.clone(), records.clone()));
                        Ok(())
                    }
                    // Queued, not pushed: listed so that a resume is drained by the schedule.
                    (DeliveryMethod::Push { .. }, _) => {
                        self.store.mark_push_backlog(&sub.org_id, &sub.id).await
                    }
                    (DeliveryMethod::Poll, _) => Ok(()),
                },
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                tracing::error!(org = %org_id, subscription = %sub.id, error = %e, "could not enqueue: records reported for retry");
                failed.extend(records);
            }
        }
        (failed, to_drain)
    }

    /// The schedule's tick: drains every push subscription listed in the backlog.
    pub async fn handle_tick(&self) -> Result<Vec<DrainReport>, EventsError> {
        self.handle_tick_where(|_| true).await
    }

    /// The tick, for the listed subscriptions that `keep` keeps (one org's, say).
    pub async fn handle_tick_where(
        &self,
        keep: impl Fn(&BacklogEntry) -> bool,
    ) -> Result<Vec<DrainReport>, EventsError> {
        let deadline = Instant::now() + self.config.drain_budget;
        let mut entries = self.store.push_backlog_entries().await?;
        entries.retain(|e| keep(e));
        let results: Vec<Result<Option<DrainReport>, StoreError>> =
            futures::stream::iter(entries.into_iter().map(|entry| async move {
                let Some(sub) = self
                    .store
                    .get_subscription(&entry.org_id, &entry.subscription_id)
                    .await?
                else {
                    self.store
                        .unmark_push_backlog(&entry.org_id, &entry.subscription_id)
                        .await?;
                    return Ok(None);
                };
                match (&sub.delivery, sub.status) {
                    (DeliveryMethod::Push { .. }, SubscriptionStatus::Active) => self
                        .drain(&sub, Trigger::Schedule, deadline)
                        .await
                        .map(Some),
                    // Waits, listed, for an admin to resume it.
                    (DeliveryMethod::Push { .. }, _) => Ok(None),
                    (DeliveryMethod::Poll, _) => {
                        self.store.unmark_push_backlog(&sub.org_id, &sub.id).await?;
                        Ok(None)
                    }
                }
            }))
            .buffer_unordered(CONCURRENT_DRAINS)
            .collect()
            .await;
        let mut reports = Vec::new();
        for r in results {
            match r {
                Ok(Some(report)) => reports.push(report),
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "a scheduled drain failed on storage"),
            }
        }
        Ok(reports)
    }

    /// Pushes a subscription's queue in order, under its lease, until it is empty, the
    /// receiver fails, or `deadline`.
    pub async fn drain(
        &self,
        sub: &SubscriptionRecord,
        trigger: Trigger,
        deadline: Instant,
    ) -> Result<DrainReport, StoreError> {
        let mut report = DrainReport {
            subscription_id: sub.id.clone(),
            delivered: 0,
            dead_lettered: 0,
            end: DrainEnd::NotActive,
            disabled: false,
        };
        let DeliveryMethod::Push { url } = &sub.delivery else {
            return Ok(report);
        };
        if sub.status != SubscriptionStatus::Active {
            return Ok(report);
        }
        let owner = uuid::Uuid::new_v4().simple().to_string();
        let lease_until = || epoch_ms() + self.config.lease().as_millis() as i64;
        let acquire = || {
            self.store.acquire_delivery_lease(
                &sub.org_id,
                &sub.id,
                &owner,
                epoch_ms(),
                lease_until(),
            )
        };
        let mut state = match acquire().await? {
            Some(state) => state,
            None => {
                // Ask the holder to look again before it lets go; then try once more, in
                // case it let go in between.
                self.store.request_push_drain(&sub.org_id, &sub.id).await?;
                match acquire().await? {
                    Some(state) => state,
                    None => {
                        report.end = DrainEnd::Busy;
                        return Ok(report);
                    }
                }
            }
        };
        if trigger == Trigger::Stream && state.failing_since.is_some() {
            self.store
                .release_delivery_lease(&sub.org_id, &sub.id, &owner, &state, true, false)
                .await?;
            report.end = DrainEnd::LeftToSchedule;
            return Ok(report);
        }
        loop {
            let end = match self
                .push_queue(sub, url, &mut state, deadline, &mut report)
                .await
            {
                Ok(end) => end,
                Err(e) => {
                    // Keep the figures and the backlog listing; the error goes up.
                    let _ = self
                        .store
                        .release_delivery_lease(&sub.org_id, &sub.id, &owner, &state, true, false)
                        .await;
                    return Err(e);
                }
            };
            if let DrainEnd::Failed(kind) = &end {
                self.after_failure(sub, &mut state, kind, &mut report).await;
            }
            let empty = end == DrainEnd::Empty;
            report.end = end;
            match self
                .store
                .release_delivery_lease(&sub.org_id, &sub.id, &owner, &state, !empty, empty)
                .await?
            {
                Release::Released => break,
                Release::Wanted => {
                    if !self
                        .store
                        .clear_drain_wanted(&sub.org_id, &sub.id, &owner, lease_until())
                        .await?
                    {
                        break;
                    }
                }
                Release::Lost => {
                    tracing::warn!(subscription = %sub.id, "delivery lease lost mid-drain (it outlasted its lease)");
                    break;
                }
            }
        }
        Ok(report)
    }

    /// The queue, page by page, in order.
    async fn push_queue(
        &self,
        sub: &SubscriptionRecord,
        url: &str,
        state: &mut DeliveryState,
        deadline: Instant,
        report: &mut DrainReport,
    ) -> Result<DrainEnd, StoreError> {
        loop {
            if Instant::now() >= deadline {
                return Ok(DrainEnd::Budget);
            }
            let head = self.store.queue_head(sub, PAGE).await?;
            if head.is_empty() {
                return Ok(DrainEnd::Empty);
            }
            let mut done = Vec::with_capacity(head.len());
            let mut end = None;
            for change in &head {
                let set = signed_set(&self.key, sub, change);
                match self.post_with_retries(url, &set, deadline).await {
                    PostOutcome::Accepted => {
                        done.push(change.order_key());
                        state.delivered += 1;
                        state.last_success = Some(crate::clock::now());
                        state.failing_since = None;
                        state.consecutive_failures = 0;
                        report.delivered += 1;
                    }
                    PostOutcome::Rejected { err } => {
                        let letter = self.letter(
                            sub,
                            change,
                            DeadLetterReason::Rejected,
                            format!("status 400 {err}"),
                        );
                        if let Err(e) = self.dead_letters.send(&letter).await {
                            // Not dead-lettered: it stays queued, and this drain stops.
                            tracing::error!(subscription = %sub.id, error = %e, "could not dead-letter a rejected SET");
                            end = Some(DrainEnd::Failed(FailureKind::Other));
                            break;
                        }
                        tracing::warn!(subscription = %sub.id, jti = %change.id, err = %err, "receiver rejected a SET: dead-lettered");
                        done.push(change.order_key());
                        state.dead_lettered += 1;
                        report.dead_lettered += 1;
                    }
                    PostOutcome::Failed(kind) => {
                        end = Some(DrainEnd::Failed(kind));
                        break;
                    }
                }
                if Instant::now() >= deadline {
                    end = Some(DrainEnd::Budget);
                    break;
                }
            }
            self.store.dequeue(sub, &done).await?;
            if let Some(end) = end {
                return Ok(end);
            }
        }
    }

    /// One SET, with the in-invocation retries of transient failures.
    async fn post_with_retries(&self, url: &str, set: &str, deadline: Instant) -> PostOutcome {
        let mut delays = self.config.retry_delays.iter();
        loop {
            let outcome = self.client.post(url, set).await;
            let PostOutcome::Failed(kind) = &outcome else {
                return outcome;
            };
            if !kind.is_transient() {
                return outcome;
            }
            let Some(delay) = delays.next() else {
                return outcome;
            };
            if Instant::now() + *delay + self.config.request_timeout > deadline {
                return outcome;
            }
            tokio::time::sleep(*delay).await;
        }
    }

    /// Records a failed drain; the first failure of a streak sends a dead-letter notice;
    /// past the window, the subscription is disabled (and a notice says so).
    async fn after_failure(
        &self,
        sub: &SubscriptionRecord,
        state: &mut DeliveryState,
        kind: &FailureKind,
        report: &mut DrainReport,
    ) {
        let now = crate::clock::now();
        let first = state.failing_since.is_none();
        state.last_failure = Some(now.clone());
        state.last_error = Some(kind.label());
        state.consecutive_failures += 1;
        if first {
            state.failing_since = Some(now.clone());
        }
        tracing::warn!(subscription = %sub.id, org = %sub.org_id, error = %kind.label(), failures = state.consecutive_failures, "push failed; the events stay queued");
        let head = self
            .store
            .queue_head(sub, 1)
            .await
            .ok()
            .and_then(|h| h.into_iter().next());
        if first {
            if let Some(change) = &head {
                let letter = self.letter(sub, change, DeadLetterReason::Failing, kind.label());
                if self.dead_letters.send(&letter).await.is_ok() {
                    state.dead_lettered += 1;
                    report.dead_lettered += 1;
                }
            }
        }
        // An admin's resume restarts the window: it counts from the later of the first
        // failure and the subscription's last change.
        let since = state
            .failing_since
            .clone()
            .unwrap_or_default()
            .max(sub.last_modified.clone());
        if !should_disable(
            &since,
            time::OffsetDateTime::now_utc(),
            self.config.disable_after,
        ) {
            return;
        }
        match self.disable(sub, state, &now).await {
            Ok(true) => {
                report.disabled = true;
                tracing::warn!(subscription = %sub.id, org = %sub.org_id, "push subscription disabled after failing since {since}");
                if let Some(change) = &head {
                    let letter = self.letter(sub, change, DeadLetterReason::Disabled, kind.label());
                    if self.dead_letters.send(&letter).await.is_ok() {
                        state.dead_lettered += 1;
                        report.dead_lettered += 1;
                    }
                }
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(subscription = %sub.id, error = %e, "could not disable a failing subscription")
            }
        }
    }

    /// Disables the subscription unless an admin changed it meanwhile (then their change
    /// stands, and the next failure decides again). Returns whether it did.
    async fn disable(
        &self,
        sub: &SubscriptionRecord,
        state: &DeliveryState,
        now: &str,
    ) -> Result<bool, StoreError> {
        let Some(current) = self.store.get_subscription(&sub.org_id, &sub.id).await? else {
            return Ok(false);
        };
        if current.status != SubscriptionStatus::Active || current.delivery != sub.delivery {
            return Ok(false);
        }
        let plan = plan_disable(
            &current,
            state,
            now,
            uuid::Uuid::new_v4().simple().to_string(),
            self.config.disable_after,
        );
        match self.store.apply(&plan).await {
            Ok(()) => Ok(true),
            Err(ApplyError::Stale) => Ok(false),
            Err(ApplyError::Store(e)) => Err(e),
        }
    }

    fn letter(
        &self,
        sub: &SubscriptionRecord,
        change: &ChangeRecord,
        reason: DeadLetterReason,
        error: String,
    ) -> DeadLetter {
        DeadLetter {
            org_id: sub.org_id.clone(),
            subscription_id: sub.id.clone(),
            jti: change.id.clone(),
            order_key: change.order_key(),
            reason,
            error,
            time: crate::clock::now(),
        }
    }
}

fn epoch_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::stream::StreamRecord;

    #[test]
    fn config_defaults_and_overrides() {
        let d = PushConfig::from_lookup(|_| None);
        assert_eq!(d, PushConfig::default());
        assert_eq!(d.retry_delays.len() + 1, 3, "three attempts per SET");
        assert_eq!(d.disable_after, Duration::from_secs(86_400));
        let c = PushConfig::from_lookup(|name| match name {
            "SCIMLINK_PUSH_RETRY_DELAYS_MS" => Some("10, 20,40".into()),
            "SCIMLINK_PUSH_DISABLE_AFTER_SECONDS" => Some("5".into()),
            "SCIMLINK_PUSH_TIMEOUT_MS" => Some("nope".into()),
            _ => None,
        });
        assert_eq!(
            c.retry_delays,
            [10, 20, 40].map(Duration::from_millis).to_vec()
        );
        assert_eq!(c.disable_after, Duration::from_secs(5));
        assert_eq!(c.request_timeout, Duration::from_secs(5));
        assert!(c.lease() > c.drain_budget + c.request_timeout);
    }

    #[test]
    fn a_subscription_is_disabled_only_after_failing_longer_than_the_window() {
        let now = time::macros::datetime!(2026-11-30 10:00:00 UTC);
        let day = Duration::from_secs(86_400);
        assert!(!should_disable("2026-11-29T10:00:00.000Z", now, day));
        assert!(should_disable("2026-11-29T09:59:59.000Z", now, day));
        assert!(!should_disable("2026-11-30T10:00:01.000Z", now, day));
        assert!(!should_disable("garbage", now, day));
    }

    fn sub() -> SubscriptionRecord {
        SubscriptionRecord {
            org_id: "o1".into(),
            id: "s1".into(),
            name: "Jira".into(),
            delivery: DeliveryMethod::Push {
                url: "https://hooks.example.com/scim?token=secret".into(),
            },
            events: vec![],
            status: SubscriptionStatus::Active,
            key_generation: 0,
            version: 3,
            created: "2026-11-29T10:00:00.000Z".into(),
            last_modified: "2026-11-29T10:00:00.000Z".into(),
        }
    }

    #[test]
    fn the_disable_plan_changes_only_the_status_at_the_next_version_and_logs_it() {
        let state = DeliveryState {
            failing_since: Some("2026-11-29T10:00:00.000Z".into()),
            consecutive_failures: 1440,
            last_error: Some("status 503".into()),
            ..Default::default()
        };
        let plan = plan_disable(
            &sub(),
            &state,
            "2026-11-30T10:00:01.000Z",
            "e1".into(),
            Duration::from_secs(86_400),
        );
        assert_eq!(plan.writes.len(), 2);
        let crate::directory::plan::Write::Put(Record::Subscription(s), Condition::Version(3)) =
            &plan.writes[0]
        else {
            panic!("{:?}", plan.writes[0])
        };
        assert_eq!(s.status, SubscriptionStatus::Disabled);
        assert_eq!(s.version, 4);
        assert_eq!(
            SubscriptionRecord {
                status: SubscriptionStatus::Active,
                version: 3,
                last_modified: sub().last_modified,
                ..s.clone()
            },
            sub()
        );
        let e = plan.events().next().unwrap();
        assert_eq!(e.org_id, "o1");
        assert!(e.directory_id.is_none(), "an org (admin) log event");
        assert!(e.message.contains("hooks.example.com"));
        assert!(e.message.contains("status 503"));
        assert!(
            !e.message.contains("secret"),
            "never the URL's path or query"
        );
    }

    #[test]
    fn a_batch_groups_by_org_in_stream_order_and_reports_undecodable_records() {
        let change = |org: &str, id: &str| ChangeRecord {
            org_id: org.into(),
            directory_id: None,
            time: "2026-11-29T10:00:00.000Z".into(),
            txn: "t".into(),
            seq: 0,
            id: id.into(),
            request_id: None,
            event: "prov:create".into(),
            subject: crate::directory::model::ChangeSubject {
                resource_type: "User".into(),
                id: "u".into(),
                directory_id: None,
                external_id: None,
                email: None,
                version: None,
            },
            data: Value::Null,
        };
        let record = |seq: &str, data: String, kind: &str| {
            let mut r = StreamRecord {
                event_name: "INSERT".into(),
                ..Default::default()
            };
            r.dynamodb.sequence_number = seq.into();
            r.dynamodb.new_image = Some(
                serde_json::json!({"type": {"S": kind}, "data": {"S": data}})
                    .as_object()
                    .cloned()
                    .unwrap(),
            );
            r
        };
        let j = |c: ChangeRecord| {
            serde_json::to_string(&crate::directory::model::ChangeBatch { events: vec![c] })
                .unwrap()
        };
        let batch = StreamEvent {
            records: vec![
                record("1", j(change("a", "a1")), "change"),
                record("2", j(change("b", "b1")), "change"),
                record("3", "{".into(), "change"),
                record("4", j(change("a", "a2")), "change"),
                record("5", j(change("a", "x")), "event"),
            ],
        };
        let (by_org, bad) = group_by_org(&batch);
        assert_eq!(bad, vec!["3".to_string()]);
        let a: Vec<_> = by_org["a"]
            .iter()
            .map(|(s, c)| (s.as_str(), c.id.as_str()))
            .collect();
        assert_eq!(a, vec![("1", "a1"), ("4", "a2")]);
        assert_eq!(by_org["b"].len(), 1);
    }
}
