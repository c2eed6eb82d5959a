//! The write service: the one path every SCIM and admin write takes.
//!
//! A write is a command. [`Writer::run`] turns it into an outcome by repeating one
//! *attempt* (load what the decision needs, then the pure plan of `directory/`) and applying
//! the plan it returns:
//!
//! - a plan that applies ends the write;
//! - a lost race (a condition on a loaded version failed) loads and plans again, at most
//!   [`MAX_WRITE_ATTEMPTS`] times, after a short randomized wait so that racing writers
//!   spread out; a stale plan is never applied;
//! - a refusal writes its log event (L3, E1) and answers its error;
//! - a dry run (E3) plans and applies nothing, refusals' events included.
//!
//! ## What a client sees when a write cannot go through
//!
//! One policy, for every write (documented in docs/DECISIONS.md, "Failed writes"):
//!
//! | cause | answer |
//! | --- | --- |
//! | DynamoDB throttled us (after the SDK's own retries) | 429, `Retry-After: 1` |
//! | races lost [`MAX_WRITE_ATTEMPTS`] times in a row | 503, `Retry-After: 1` |
//! | any other transient DynamoDB failure (5xx, timeout, connection) | 503, `Retry-After: 1` |
//! | an item that cannot be read back (a bug, never the client's fault) | 500 |
//!
//! In each case nothing of the refused attempt was committed (a plan split past one
//! transaction is the documented exception: see `store::apply`), so the client's retry of
//! the same request is safe: it is planned afresh against what is stored then.

pub mod access;
pub mod accounts;
pub mod changes;
pub mod cleanup;
pub mod groups;
pub mod orgs;
pub mod safeguard;
pub mod subscriptions;
pub mod users;

use std::future::Future;
use std::time::Duration;

use crate::directory::context::{Ids, WriteContext};
use crate::directory::model::OrgRecord;
use crate::directory::plan::{Plan, Refusal};
use crate::scim::error::ScimError;
use crate::scim::list::{etag, if_match_admits};
use crate::store::{ApplyError, Store, StoreError};

/// Who writes: the org, the directory it writes through (empty for an admin call), who it
/// is (the directory's IdP, or `admin:...`), and the request, for the log.
#[derive(Debug, Clone)]
pub struct Caller {
    pub org_id: String,
    pub directory_id: String,
    pub idp: String,
    pub request_id: String,
}

impl Caller {
    /// The context of one attempt: the time now and fresh ids, and the org's domains and
    /// default groups when the decision depends on them.
    pub fn context(
        &self,
        operation: String,
        quirks: Vec<String>,
        org: Option<&OrgRecord>,
    ) -> WriteContext {
        WriteContext {
            org_id: self.org_id.clone(),
            verified_domains: org.map(|o| o.verified_domains.clone()).unwrap_or_default(),
            default_groups: org.map(OrgRecord::default_groups).unwrap_or_default(),
            assignable_roles: org.map(OrgRecord::product_roles).unwrap_or_default(),
            directory_id: self.directory_id.clone(),
            idp: self.idp.clone(),
            request_id: Some(self.request_id.clone()),
            now: crate::clock::now(),
            operation,
            quirks,
            ids: Ids::random(),
        }
    }

    /// The same caller acting on one of its org's directories (admin calls on a SCIM user).
    pub fn in_directory(&self, directory_id: &str) -> Caller {
        Caller {
            directory_id: directory_id.to_string(),
            ..self.clone()
        }
    }
}

/// S6: an `If-Match` header must admit the stored version (412 otherwise).
pub fn check_if_match(if_match: Option<&str>, version: u64) -> Result<(), ScimError> {
    match if_match {
        Some(v) if !if_match_admits(v, version) => Err(ScimError::precondition_failed(format!(
            "If-Match {v} does not match the current version {}",
            etag(version)
        ))),
        _ => Ok(()),
    }
}

/// How often a write loads and plans again after losing a race before answering 503.
pub const MAX_WRITE_ATTEMPTS: u32 = 8;

/// What one attempt decided: a plan to apply with what to answer once it is applied, or a
/// refusal (whose plan is its log event).
#[derive(Debug)]
pub enum Decision<T> {
    Apply(Plan, T),
    Refuse(Refusal),
}

impl<T> From<Result<(Plan, T), Refusal>> for Decision<T> {
    fn from(r: Result<(Plan, T), Refusal>) -> Self {
        match r {
            Ok((plan, outcome)) => Decision::Apply(plan, outcome),
            Err(refusal) => Decision::Refuse(refusal),
        }
    }
}

/// A write that went through (or would have, on a dry run): its outcome and its plan.
#[derive(Debug)]
pub struct Written<T> {
    pub outcome: T,
    pub plan: Plan,
    pub dry_run: bool,
}

/// The write service of one request: the store, whether it is a dry run, and whose
/// safeguard counts its deprovisionings.
#[derive(Clone, Copy, Debug)]
pub struct Writer<'a> {
    pub store: &'a Store,
    pub dry_run: bool,
    /// E4: the directory whose IdP makes this write (a SCIM request): its safeguard counts
    /// and holds what the write deprovisions. `None` for admin calls.
    pub safeguarded: Option<&'a str>,
}

impl<'a> Writer<'a> {
    pub fn new(store: &'a Store, dry_run: bool) -> Self {
        Writer {
            store,
            dry_run,
            safeguarded: None,
        }
    }

    /// The same writer, for a write a directory's IdP makes (E4).
    pub fn safeguarded_by(self, directory_id: &'a str) -> Self {
        Writer {
            safeguarded: Some(directory_id),
            ..self
        }
    }

    /// Runs `attempt` (load, then plan) and applies its plan, again after every lost race.
    /// An error of `attempt` (404, 412, a store failure while loading) ends the write as is.
    pub async fn run<T, F, Fut>(&self, mut attempt: F) -> Result<Written<T>, ScimError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Decision<T>, ScimError>>,
    {
        for tries in 0..MAX_WRITE_ATTEMPTS {
            // Boxed: an attempt's loads are deep futures, and each handler nests one in its
            // own; on the heap they keep a request's stack small.
            match Box::pin(attempt()).await? {
                Decision::Refuse(refusal) => return Err(self.refuse(refusal).await),
                Decision::Apply(mut plan, outcome) => {
                    // What the plan's access events are computed over; the safeguard (E4)
                    // decides over the same reads and may hold part of the plan.
                    let world = Box::pin(self.guard(&mut plan)).await?;
                    if self.dry_run {
                        return Ok(Written {
                            outcome,
                            plan,
                            dry_run: true,
                        });
                    }
                    let parts = changes::transactions_with_changes(&plan, world);
                    match self.store.apply_transactions(&parts).await {
                        Ok(()) => {
                            return Ok(Written {
                                outcome,
                                plan,
                                dry_run: false,
                            })
                        }
                        Err(ApplyError::Stale) => tokio::time::sleep(backoff(tries)).await,
                        Err(ApplyError::Store(e)) => return Err(e.into()),
                    }
                }
            }
        }
        tracing::warn!(
            attempts = MAX_WRITE_ATTEMPTS,
            "write lost every race; answering 503"
        );
        Err(contended())
    }

    /// Writes a refusal's log event (unless this is a dry run) and returns its error. A
    /// failure to log never hides the refusal.
    async fn refuse(&self, refusal: Refusal) -> ScimError {
        tracing::info!(
            status = refusal.error.status,
            detail = %refusal.error.detail,
            "write refused"
        );
        if !self.dry_run && !refusal.plan.is_empty() {
            if let Err(e) = self.store.apply(&refusal.plan).await {
                tracing::warn!(error = %e, "could not log a refusal");
            }
        }
        refusal.error
    }
}

/// The wait before attempt `tries + 1`: 5 ms doubling to at most 80 ms, plus up to as much
/// again at random, so writers that lost the same race do not collide again in step.
fn backoff(tries: u32) -> Duration {
    let base = 5u64 << tries.min(4);
    Duration::from_millis(base + rand::random::<u64>() % (base + 1))
}

/// Races lost [`MAX_WRITE_ATTEMPTS`] times in a row: the client should retry shortly.
pub fn contended() -> ScimError {
    ScimError::unavailable(
        1,
        "the resource is being changed by other requests; retry shortly",
    )
}

/// The one mapping from a store failure to what a client sees (see the module's table).
impl From<StoreError> for ScimError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Throttled => ScimError::throttled(1),
            StoreError::ScanLimit(limit) => ScimError::too_many(format!(
                "this filter is not answered from an index and the directory has more than {limit} resources; filter with eq on an indexed attribute (id, externalId, userName, emails.value, displayName), or page with a cursor"
            )),
            StoreError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "DynamoDB unavailable; answering 503");
                ScimError::unavailable(1, "the service is briefly unavailable; retry shortly")
            }
            other => {
                tracing::error!(error = %other, "store error");
                ScimError::internal()
            }
        }
    }
}

impl From<ApplyError> for ScimError {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::Stale => contended(),
            ApplyError::Store(e) => e.into(),
        }
    }
}

/// A record a write acts on, or 404 naming it.
pub(crate) fn found<T>(record: Option<T>, what: &str, id: &str) -> Result<T, ScimError> {
    record.ok_or_else(|| ScimError::not_found(format!("{what} {id} not found")))
}

/// An unknown directory and one of another org answer alike (X2).
pub fn unknown_directory() -> ScimError {
    ScimError::not_found("directory not found")
}
