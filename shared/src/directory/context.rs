//! Who is writing, when, and with which new ids: what every decision of one write shares.
//! Time and ids are inputs, like the loaded state, so a plan is a pure function of them.

use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

use super::model::{account_kind, AccountKind, EventRecord, Outcome};
use super::plan::{Condition, Plan, Record};
use crate::scim::resource::{external_id, primary_email};

/// The ids a write hands out: a random seed drawn once per request, and a counter. The same
/// seed gives the same ids in the same order, so a plan can be replayed exactly in a test.
#[derive(Debug)]
pub struct Ids {
    seed: u128,
    next: AtomicU32,
}

impl Ids {
    /// A fresh random seed (each request draws one).
    pub fn random() -> Self {
        Ids::seeded(rand::random())
    }

    pub fn seeded(seed: u128) -> Self {
        Ids {
            seed,
            next: AtomicU32::new(0),
        }
    }

    fn next_uuid(&self) -> uuid::Uuid {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        // Mixing the counter into the seed's low bits keeps every id of the request
        // distinct; the version and variant bits make it a well-formed v4 UUID.
        uuid::Builder::from_random_bytes((self.seed ^ u128::from(n)).to_be_bytes()).into_uuid()
    }

    /// A new id, hyphenated (users, groups, accounts, org groups).
    pub fn next_id(&self) -> String {
        self.next_uuid().to_string()
    }

    /// A new id without hyphens (events).
    pub fn next_simple(&self) -> String {
        self.next_uuid().simple().to_string()
    }
}

impl Clone for Ids {
    fn clone(&self) -> Self {
        Ids {
            seed: self.seed,
            next: AtomicU32::new(self.next.load(Ordering::Relaxed)),
        }
    }
}

/// Who is writing, and when: what every event and record of one request shares.
#[derive(Debug, Clone)]
pub struct WriteContext {
    pub org_id: String,
    /// The org's verified domains: an account's email there makes it `managed`.
    pub verified_domains: Vec<String>,
    /// Default-access org groups every new account joins.
    pub default_groups: Vec<String>,
    /// The org's product roles (`product/role`): what an IdP may assign directly (G8).
    pub assignable_roles: Vec<String>,
    pub directory_id: String,
    pub idp: String,
    pub request_id: Option<String>,
    /// RFC 3339, milliseconds, UTC.
    pub now: String,
    /// `POST /Users`, `PATCH /Users/{id}`, ...
    pub operation: String,
    /// Normalizations applied to the IdP's request, for the log.
    pub quirks: Vec<String>,
    /// Where the ids of records and events this write creates come from.
    pub ids: Ids,
}

impl WriteContext {
    pub fn kind_of(&self, email: &str) -> AccountKind {
        account_kind(&self.verified_domains, email)
    }

    /// A new account joins every default-access group (admin memberships; a default group
    /// managed by a directory takes its members from the IdP instead).
    pub fn join_default_groups(&self, plan: &mut Plan, account_id: &str) {
        for g in &self.default_groups {
            plan.put(
                Record::OrgMember {
                    org_id: self.org_id.clone(),
                    org_group_id: g.clone(),
                    account_id: account_id.to_string(),
                },
                Condition::Always,
            );
        }
    }

    /// The context a plan was made in, as its log event records it: what a decision taken
    /// over the finished plan (the safeguard, E4) writes its own records and events with.
    pub fn of_event(e: &EventRecord) -> WriteContext {
        WriteContext {
            org_id: e.org_id.clone(),
            verified_domains: Vec::new(),
            default_groups: Vec::new(),
            assignable_roles: Vec::new(),
            directory_id: e.directory_id.clone().unwrap_or_default(),
            idp: e.idp.clone().unwrap_or_default(),
            request_id: e.request_id.clone(),
            now: e.time.clone(),
            operation: e.operation.clone(),
            quirks: Vec::new(),
            ids: Ids::random(),
        }
    }

    pub fn event(&self, outcome: Outcome, message: String) -> EventRecord {
        EventRecord {
            org_id: self.org_id.clone(),
            // Admin calls act on the org, not through a directory.
            directory_id: (!self.directory_id.is_empty()).then(|| self.directory_id.clone()),
            time: self.now.clone(),
            id: self.ids.next_simple(),
            request_id: self.request_id.clone(),
            idp: Some(self.idp.clone()),
            operation: self.operation.clone(),
            scim_id: None,
            external_id: None,
            email: None,
            outcome,
            message,
            // X4: quirks may quote what a client sent; the event item stays small.
            quirks: crate::scim::limits::cap_quirks(&self.quirks),
        }
    }

    pub(crate) fn user_event(
        &self,
        user_id: &str,
        doc: &Value,
        outcome: Outcome,
        message: String,
    ) -> EventRecord {
        EventRecord {
            scim_id: Some(user_id.to_string()),
            external_id: external_id(doc).map(str::to_string),
            email: primary_email(doc),
            ..self.event(outcome, message)
        }
    }
}
