//! Decisions for SCIM user writes: create, replace (PUT and PATCH share it) and delete,
//! including the email link to the org's accounts (L1-L3, L5-L7, L9).
//!
//! Every function here is pure: (loaded state, command) -> `UserDecision`. The caller loads
//! exactly what `UserWriteNeeds` asks for, plans, and applies the plan in one transaction.

use serde_json::Value;

use super::model::{
    account_kind, AccountKind, AccountRecord, AccountStatus, EventRecord, Guard, LinkRef,
    ManagedBy, Origin, Outcome, Profile, UserRecord,
};
use super::plan::{Condition, Plan, Record};
use crate::scim::error::ScimError;
use crate::scim::resource::primary_email;
use crate::scim::schema::ENTERPRISE_USER_SCHEMA;

/// Who is writing, and when: what every event and record of one request shares.
#[derive(Debug, Clone)]
pub struct WriteContext {
    pub org_id: String,
    /// The org's verified domains: an account's email there makes it `managed`.
    pub verified_domains: Vec<String>,
    /// Default-access org groups every new account joins.
    pub default_groups: Vec<String>,
    pub directory_id: String,
    pub idp: String,
    pub request_id: Option<String>,
    /// RFC 3339, milliseconds, UTC.
    pub now: String,
    /// `POST /Users`, `PATCH /Users/{id}`, ...
    pub operation: String,
    /// Normalizations applied to the IdP's request, for the log.
    pub quirks: Vec<String>,
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

    pub fn event(&self, outcome: Outcome, message: String) -> EventRecord {
        EventRecord {
            org_id: self.org_id.clone(),
            // Admin calls act on the org, not through a directory.
            directory_id: (!self.directory_id.is_empty()).then(|| self.directory_id.clone()),
            time: self.now.clone(),
            id: uuid::Uuid::new_v4().simple().to_string(),
            request_id: self.request_id.clone(),
            idp: Some(self.idp.clone()),
            operation: self.operation.clone(),
            scim_id: None,
            external_id: None,
            email: None,
            outcome,
            message,
            quirks: self.quirks.clone(),
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

/// The SCIM user that holds an account's link, as the 409 of L3 names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub directory_id: String,
    pub user_id: String,
    pub external_id: Option<String>,
}

/// What a user write needs loaded, derived from the old and new documents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserWriteNeeds {
    /// Check this lowercase userName's guard.
    pub user_name: Option<String>,
    /// Check this externalId's guard.
    pub external_id: Option<String>,
    /// Load the account currently linked.
    pub linked_account: Option<String>,
    /// Load the account holding this normalized email (and its holder, if linked elsewhere).
    pub email: Option<String>,
}

/// The loaded state of a user write.
#[derive(Debug, Clone, Default)]
pub struct UserWriteState {
    pub existing: Option<UserRecord>,
    pub user_name_owner: Option<String>,
    pub external_id_owner: Option<String>,
    pub linked_account: Option<AccountRecord>,
    pub email_account: Option<AccountRecord>,
    pub email_holder: Option<Holder>,
}

/// How the write ended for the link between the SCIM user and an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkDecision {
    /// A new account was created for a new email.
    Created { account_id: String },
    /// Linked to an existing external account (profile left to its owner).
    Linked { account_id: String },
    /// Linked to an existing managed account and took over its profile (L2).
    TookOver { account_id: String },
    /// The link moved from one account to another (L5, external).
    Moved { from: String, to: String },
    /// The link stayed as it was.
    Kept { account_id: String },
    /// The user has no email to link by.
    NoEmail,
    /// The link was removed (L7).
    Unlinked { account_id: String },
}

#[derive(Debug, Clone)]
pub struct UserDecision {
    pub plan: Plan,
    pub user: UserRecord,
    pub link: LinkDecision,
}

/// A refusal still leaves an event (L3, E1): the caller writes `plan` and answers `error`.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub error: ScimError,
    pub plan: Plan,
}

impl From<ScimError> for Refusal {
    fn from(error: ScimError) -> Self {
        Refusal {
            error,
            plan: Plan::default(),
        }
    }
}

pub fn user_name_lower(doc: &Value) -> String {
    doc.get("userName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_lowercase()
}

pub fn external_id(doc: &Value) -> Option<&str> {
    doc.get("externalId").and_then(Value::as_str)
}

pub fn is_active(doc: &Value) -> bool {
    doc.get("active").and_then(Value::as_bool).unwrap_or(true)
}

/// Every normalized email of a user (for the `emails.value` index), primary first, deduplicated.
pub fn indexed_emails(doc: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(p) = primary_email(doc) {
        out.push(p);
    }
    for e in doc
        .get("emails")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(v) = e.get("value").and_then(Value::as_str) {
            let n = normalize_email(v);
            if !n.is_empty() && !out.contains(&n) {
                out.push(n);
            }
        }
    }
    out
}

pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The account profile the SCIM document describes (L2 take-over overwrites with it).
pub fn profile_from_doc(doc: &Value) -> Profile {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let name = doc.get("name");
    let given = s(name.and_then(|n| n.get("givenName")));
    let family = s(name.and_then(|n| n.get("familyName")));
    let display = s(doc.get("displayName"))
        .or_else(|| s(name.and_then(|n| n.get("formatted"))))
        .or_else(|| match (&given, &family) {
            (Some(g), Some(f)) => Some(format!("{g} {f}")),
            (Some(g), None) => Some(g.clone()),
            (None, Some(f)) => Some(f.clone()),
            (None, None) => None,
        });
    Profile {
        display_name: display,
        given_name: given,
        family_name: family,
        title: s(doc.get("title")),
        department: s(doc
            .get(ENTERPRISE_USER_SCHEMA)
            .and_then(|e| e.get("department"))),
    }
}

/// What a write from `old` (None on create) to `new` must load.
pub fn user_write_needs(old: Option<&UserRecord>, new: &Value) -> UserWriteNeeds {
    let new_name = user_name_lower(new);
    let new_ext = external_id(new).map(str::to_string);
    let new_email = primary_email(new);
    match old {
        None => UserWriteNeeds {
            user_name: Some(new_name),
            external_id: new_ext,
            linked_account: None,
            email: new_email,
        },
        Some(old) => UserWriteNeeds {
            user_name: (user_name_lower(&old.doc) != new_name).then_some(new_name),
            external_id: new_ext.filter(|e| external_id(&old.doc) != Some(e.as_str())),
            linked_account: old.account_id.clone(),
            // The linked account's email is compared after loading; load the email's
            // account whenever it may differ or the user is unlinked (L9 re-runs L1).
            email: new_email.filter(|e| {
                old.account_id.is_none() || primary_email(&old.doc).as_deref() != Some(e.as_str())
            }),
        },
    }
}

fn uniqueness_refusal(ctx: &WriteContext, user_id: &str, doc: &Value, detail: String) -> Refusal {
    let mut plan = Plan::default();
    plan.event(ctx.user_event(
        user_id,
        doc,
        Outcome::Refused,
        format!("Refused: {detail}."),
    ));
    Refusal {
        error: ScimError::uniqueness(detail),
        plan,
    }
}

fn check_unique(
    ctx: &WriteContext,
    user_id: &str,
    state: &UserWriteState,
    doc: &Value,
) -> Result<(), Refusal> {
    if let Some(owner) = state.user_name_owner.as_deref().filter(|o| *o != user_id) {
        return Err(uniqueness_refusal(
            ctx,
            user_id,
            doc,
            format!(
                "userName '{}' is already used by user {owner} in this directory",
                doc.get("userName")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            ),
        ));
    }
    if let Some(owner) = state.external_id_owner.as_deref().filter(|o| *o != user_id) {
        return Err(uniqueness_refusal(
            ctx,
            user_id,
            doc,
            format!(
                "externalId '{}' is already used by user {owner} in this directory",
                external_id(doc).unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

/// L3: the account of `email` is linked to another SCIM user.
fn holder_refusal(
    ctx: &WriteContext,
    user_id: &str,
    doc: &Value,
    email: &str,
    holder: &Holder,
) -> Refusal {
    let ext = holder
        .external_id
        .as_deref()
        .map(|e| format!(", externalId '{e}'"))
        .unwrap_or_default();
    let detail = format!(
        "user with email {email} already exists: the account is linked to SCIM user {} in directory {}{ext}",
        holder.user_id, holder.directory_id
    );
    uniqueness_refusal(ctx, user_id, doc, detail)
}

/// Guards and email index entries for a user document.
fn put_user_indexes(
    plan: &mut Plan,
    directory_id: &str,
    user_id: &str,
    old: Option<&Value>,
    new: &Value,
) {
    let old_name = old.map(user_name_lower);
    let new_name = user_name_lower(new);
    if old_name.as_deref() != Some(new_name.as_str()) {
        plan.put(
            Record::Guard(
                Guard::UserName {
                    directory_id: directory_id.into(),
                    lower: new_name,
                },
                user_id.into(),
            ),
            Condition::Absent,
        );
        if let Some(o) = old_name {
            plan.delete(
                Record::Guard(
                    Guard::UserName {
                        directory_id: directory_id.into(),
                        lower: o,
                    },
                    user_id.into(),
                ),
                Condition::OwnedBy(user_id.into()),
            );
        }
    }
    let old_ext = old.and_then(external_id);
    let new_ext = external_id(new);
    if old_ext != new_ext {
        if let Some(n) = new_ext {
            plan.put(
                Record::Guard(
                    Guard::ExternalId {
                        directory_id: directory_id.into(),
                        external_id: n.into(),
                    },
                    user_id.into(),
                ),
                Condition::Absent,
            );
        }
        if let Some(o) = old_ext {
            plan.delete(
                Record::Guard(
                    Guard::ExternalId {
                        directory_id: directory_id.into(),
                        external_id: o.into(),
                    },
                    user_id.into(),
                ),
                Condition::OwnedBy(user_id.into()),
            );
        }
    }
    let old_emails = old.map(indexed_emails).unwrap_or_default();
    let new_emails = indexed_emails(new);
    for e in new_emails.iter().filter(|e| !old_emails.contains(e)) {
        plan.put(
            Record::UserEmail {
                directory_id: directory_id.into(),
                email: e.clone(),
                user_id: user_id.into(),
            },
            Condition::Always,
        );
    }
    for e in old_emails.iter().filter(|e| !new_emails.contains(e)) {
        plan.delete(
            Record::UserEmail {
                directory_id: directory_id.into(),
                email: e.clone(),
                user_id: user_id.into(),
            },
            Condition::Always,
        );
    }
}

fn account_condition(a: &AccountRecord) -> Condition {
    Condition::Version(a.version)
}

fn status_for(doc: &Value) -> AccountStatus {
    if is_active(doc) {
        AccountStatus::Active
    } else {
        AccountStatus::Suspended
    }
}

/// Link `user_id` to the account of `email` (L1, L2, L3): the existing one, or a new one.
/// Returns the decision, the account as it will be, and a sentence for the log.
pub(crate) fn link_to_email(
    ctx: &WriteContext,
    plan: &mut Plan,
    user_id: &str,
    doc: &Value,
    email: &str,
    account: Option<&AccountRecord>,
    holder: Option<&Holder>,
) -> Result<(LinkDecision, String, Outcome), Refusal> {
    let link = LinkRef {
        directory_id: ctx.directory_id.clone(),
        user_id: user_id.into(),
    };
    let kind = ctx.kind_of(email);
    match account {
        None => {
            let account_id = uuid::Uuid::new_v4().to_string();
            let managed_by = match kind {
                AccountKind::Managed => ManagedBy::Directory {
                    directory_id: ctx.directory_id.clone(),
                },
                AccountKind::External => ManagedBy::Admin,
            };
            let account = AccountRecord {
                org_id: ctx.org_id.clone(),
                id: account_id.clone(),
                email: email.into(),
                origin: Origin::Scim,
                managed_by,
                status: status_for(doc),
                profile: profile_from_doc(doc),
                link: Some(link),
                version: 1,
                created: ctx.now.clone(),
                last_modified: ctx.now.clone(),
            };
            ctx.join_default_groups(plan, &account_id);
            plan.put(Record::Account(account), Condition::Absent);
            plan.put(
                Record::Guard(
                    Guard::AccountEmail {
                        org_id: ctx.org_id.clone(),
                        email: email.into(),
                    },
                    account_id.clone(),
                ),
                Condition::Absent,
            );
            let msg = format!(
                "Created {} account {account_id} for {email} and linked it.",
                kind_word(kind)
            );
            Ok((LinkDecision::Created { account_id }, msg, Outcome::Created))
        }
        Some(acc) => {
            if let Some(existing) = &acc.link {
                if existing.user_id != user_id || existing.directory_id != ctx.directory_id {
                    let fallback = Holder {
                        directory_id: existing.directory_id.clone(),
                        user_id: existing.user_id.clone(),
                        external_id: None,
                    };
                    return Err(holder_refusal(
                        ctx,
                        user_id,
                        doc,
                        email,
                        holder.unwrap_or(&fallback),
                    ));
                }
            }
            let mut next = acc.clone();
            next.link = Some(link);
            next.status = status_for(doc);
            next.version = acc.version + 1;
            next.last_modified = ctx.now.clone();
            let origin = origin_word(acc.origin);
            let (decision, outcome, msg) = match kind {
                AccountKind::Managed => {
                    next.managed_by = ManagedBy::Directory {
                        directory_id: ctx.directory_id.clone(),
                    };
                    next.profile = profile_from_doc(doc);
                    (
                        LinkDecision::TookOver {
                            account_id: acc.id.clone(),
                        },
                        Outcome::TookOver,
                        format!(
                            "Linked to the existing {origin} managed account {} of {email}; the directory now manages it and its profile follows the IdP.",
                            acc.id
                        ),
                    )
                }
                AccountKind::External => (
                    LinkDecision::Linked {
                        account_id: acc.id.clone(),
                    },
                    Outcome::Linked,
                    format!(
                        "Linked to the existing {origin} external account {} of {email}; its profile stays with its owner.",
                        acc.id
                    ),
                ),
            };
            plan.put(Record::Account(next), account_condition(acc));
            Ok((decision, msg, outcome))
        }
    }
}

fn kind_word(k: AccountKind) -> &'static str {
    match k {
        AccountKind::Managed => "a managed",
        AccountKind::External => "an external",
    }
}

fn origin_word(o: Origin) -> &'static str {
    match o {
        Origin::Invited => "invited",
        Origin::Jit => "JIT-created",
        Origin::Admin => "admin-created",
        Origin::Scim => "SCIM-created",
    }
}

/// POST /Users: a new SCIM user, linked by email (L1-L3).
pub fn plan_user_create(
    ctx: &WriteContext,
    state: &UserWriteState,
    user_id: &str,
    doc: Value,
) -> Result<UserDecision, Refusal> {
    check_unique(ctx, user_id, state, &doc)?;
    let mut plan = Plan::default();
    let email = primary_email(&doc);
    let (link, account_id, message, outcome) = match email.as_deref() {
        Some(email) => {
            let (decision, msg, outcome) = link_to_email(
                ctx,
                &mut plan,
                user_id,
                &doc,
                email,
                state.email_account.as_ref(),
                state.email_holder.as_ref(),
            )?;
            let id = linked_id(&decision);
            (decision, id, msg, outcome)
        }
        None => (
            LinkDecision::NoEmail,
            None,
            "Created without an account link: the user has no email and its userName is not an email address.".to_string(),
            Outcome::Created,
        ),
    };
    let user = UserRecord {
        directory_id: ctx.directory_id.clone(),
        id: user_id.into(),
        doc,
        version: 1,
        created: ctx.now.clone(),
        last_modified: ctx.now.clone(),
        account_id,
    };
    put_user_indexes(&mut plan, &ctx.directory_id, user_id, None, &user.doc);
    plan.event(ctx.user_event(user_id, &user.doc, outcome, message));
    plan.put(Record::User(user.clone()), Condition::Absent);
    Ok(UserDecision { plan, user, link })
}

pub(crate) fn linked_id(d: &LinkDecision) -> Option<String> {
    match d {
        LinkDecision::Created { account_id }
        | LinkDecision::Linked { account_id }
        | LinkDecision::TookOver { account_id }
        | LinkDecision::Kept { account_id } => Some(account_id.clone()),
        LinkDecision::Moved { to, .. } => Some(to.clone()),
        LinkDecision::NoEmail | LinkDecision::Unlinked { .. } => None,
    }
}

/// PUT or PATCH: `new` replaces the stored document. The caller has already answered an
/// unchanged document as a no-op (L4) without planning.
pub fn plan_user_replace(
    ctx: &WriteContext,
    state: &UserWriteState,
    new: Value,
) -> Result<UserDecision, Refusal> {
    let old = state
        .existing
        .as_ref()
        .ok_or_else(|| Refusal::from(ScimError::internal()))?;
    let user_id = old.id.as_str();
    check_unique(ctx, user_id, state, &new)?;
    let mut plan = Plan::default();
    let new_email = primary_email(&new);
    let linked = state
        .linked_account
        .as_ref()
        .filter(|_| old.account_id.is_some());

    let (link, message, outcome) = match (linked, new_email.as_deref()) {
        // Still the same email: keep the link, sync what the account kind allows (L2, L6).
        (Some(acc), Some(email)) if acc.email == email => {
            sync_linked_account(ctx, &mut plan, acc, &new);
            (
                LinkDecision::Kept {
                    account_id: acc.id.clone(),
                },
                format!(
                    "Updated; the link to account {} of {email} is unchanged.",
                    acc.id
                ),
                Outcome::Updated,
            )
        }
        // A real change of the primary email (L5).
        (Some(acc), Some(email)) => {
            match ctx.kind_of(&acc.email) {
                AccountKind::Managed if managed_by_directory(acc, &ctx.directory_id) => {
                    if let Some(other) = &state.email_account {
                        if other.id != acc.id {
                            let holder = state.email_holder.clone().unwrap_or(Holder {
                                directory_id: "-".into(),
                                user_id: "-".into(),
                                external_id: None,
                            });
                            let detail = match &other.link {
                            Some(_) => holder_refusal(ctx, user_id, &new, email, &holder).error.detail,
                            None => format!("user with email {email} already exists: account {} has that email", other.id),
                        };
                            return Err(uniqueness_refusal(ctx, user_id, &new, detail));
                        }
                    }
                    let mut next = acc.clone();
                    next.email = email.into();
                    next.profile = profile_from_doc(&new);
                    next.status = status_for(&new);
                    next.version = acc.version + 1;
                    next.last_modified = ctx.now.clone();
                    plan.put(
                        Record::Guard(
                            Guard::AccountEmail {
                                org_id: ctx.org_id.clone(),
                                email: email.into(),
                            },
                            acc.id.clone(),
                        ),
                        Condition::Absent,
                    );
                    plan.delete(
                        Record::Guard(
                            Guard::AccountEmail {
                                org_id: ctx.org_id.clone(),
                                email: acc.email.clone(),
                            },
                            acc.id.clone(),
                        ),
                        Condition::OwnedBy(acc.id.clone()),
                    );
                    plan.put(Record::Account(next), account_condition(acc));
                    (
                        LinkDecision::Kept {
                            account_id: acc.id.clone(),
                        },
                        format!(
                            "Changed the email of managed account {} from {} to {email}.",
                            acc.id, acc.email
                        ),
                        Outcome::Updated,
                    )
                }
                // External (or not ours to manage): the org cannot change the person's email,
                // so the link moves to the account of the new email (L5).
                _ => {
                    let (decision, msg, _) = link_to_email(
                        ctx,
                        &mut plan,
                        user_id,
                        &new,
                        email,
                        state.email_account.as_ref(),
                        state.email_holder.as_ref(),
                    )?;
                    let to = linked_id(&decision).unwrap_or_default();
                    unlink_account(ctx, &mut plan, acc, false);
                    (
                    LinkDecision::Moved {
                        from: acc.id.clone(),
                        to: to.clone(),
                    },
                    format!(
                        "The primary email changed from {} to {email}: unlinked account {} and moved the link. {msg}",
                        acc.email, acc.id
                    ),
                    Outcome::Relinked,
                )
                }
            }
        }
        // The email was removed: keep the link rather than silently dropping it.
        (Some(acc), None) => {
            sync_linked_account(ctx, &mut plan, acc, &new);
            (
                LinkDecision::Kept {
                    account_id: acc.id.clone(),
                },
                format!(
                    "Updated; the user no longer has an email, the link to account {} is kept.",
                    acc.id
                ),
                Outcome::Updated,
            )
        }
        // Unlinked: the next write re-runs L1 (L9).
        (None, Some(email)) => {
            let (decision, msg, outcome) = link_to_email(
                ctx,
                &mut plan,
                user_id,
                &new,
                email,
                state.email_account.as_ref(),
                state.email_holder.as_ref(),
            )?;
            (decision, msg, relinked(outcome))
        }
        (None, None) => (
            LinkDecision::NoEmail,
            "Updated; the user has no email to link by.".to_string(),
            Outcome::Updated,
        ),
    };

    let user = UserRecord {
        doc: new,
        version: old.version + 1,
        last_modified: ctx.now.clone(),
        account_id: linked_id(&link),
        ..old.clone()
    };
    put_user_indexes(
        &mut plan,
        &ctx.directory_id,
        user_id,
        Some(&old.doc),
        &user.doc,
    );
    plan.event(ctx.user_event(user_id, &user.doc, outcome, message));
    plan.put(Record::User(user.clone()), Condition::Version(old.version));
    Ok(UserDecision { plan, user, link })
}

fn relinked(o: Outcome) -> Outcome {
    match o {
        Outcome::Created => Outcome::Created,
        _ => Outcome::Relinked,
    }
}

fn managed_by_directory(acc: &AccountRecord, directory_id: &str) -> bool {
    matches!(&acc.managed_by, ManagedBy::Directory { directory_id: d } if d == directory_id)
}

/// Keep a linked account in step: status always (L6); profile only when this directory
/// manages it (L2). Writes nothing when nothing changes.
fn sync_linked_account(ctx: &WriteContext, plan: &mut Plan, acc: &AccountRecord, doc: &Value) {
    let mut next = acc.clone();
    next.status = status_for(doc);
    if managed_by_directory(acc, &ctx.directory_id) {
        next.profile = profile_from_doc(doc);
    }
    if next != *acc {
        next.version = acc.version + 1;
        next.last_modified = ctx.now.clone();
        plan.put(Record::Account(next), account_condition(acc));
    }
}

/// Remove an account's link; a managed account goes back to `admin`, and is deactivated
/// when `deactivate` (L7).
pub(crate) fn unlink_account(
    ctx: &WriteContext,
    plan: &mut Plan,
    acc: &AccountRecord,
    deactivate: bool,
) {
    let mut next = acc.clone();
    next.link = None;
    next.managed_by = ManagedBy::Admin;
    if deactivate && ctx.kind_of(&acc.email) == AccountKind::Managed {
        next.status = AccountStatus::Suspended;
    }
    next.version = acc.version + 1;
    next.last_modified = ctx.now.clone();
    plan.put(Record::Account(next), account_condition(acc));
}

/// DELETE /Users/{id} (L7): the SCIM record, its guards and index entries and its link go;
/// a managed account is deactivated and handed back to `admin`; no account is deleted.
pub fn plan_user_delete(
    ctx: &WriteContext,
    user: &UserRecord,
    linked: Option<&AccountRecord>,
    groups: &[String],
) -> UserDecision {
    let mut plan = Plan::default();
    let mut link = LinkDecision::NoEmail;
    let mut message = format!("Deleted SCIM user {}.", user.id);
    if let Some(acc) = linked.filter(|a| user.account_id.as_deref() == Some(a.id.as_str())) {
        unlink_account(ctx, &mut plan, acc, true);
        link = LinkDecision::Unlinked {
            account_id: acc.id.clone(),
        };
        let effect = match ctx.kind_of(&acc.email) {
            AccountKind::Managed => "deactivated it and handed it back to admin",
            AccountKind::External => "left the external account as it is",
        };
        message = format!(
            "Deleted SCIM user {}: unlinked account {} of {}, {effect}.",
            user.id, acc.id, acc.email
        );
    }
    plan.delete(
        Record::Guard(
            Guard::UserName {
                directory_id: user.directory_id.clone(),
                lower: user_name_lower(&user.doc),
            },
            user.id.clone(),
        ),
        Condition::OwnedBy(user.id.clone()),
    );
    if let Some(ext) = external_id(&user.doc) {
        plan.delete(
            Record::Guard(
                Guard::ExternalId {
                    directory_id: user.directory_id.clone(),
                    external_id: ext.into(),
                },
                user.id.clone(),
            ),
            Condition::OwnedBy(user.id.clone()),
        );
    }
    for e in indexed_emails(&user.doc) {
        plan.delete(
            Record::UserEmail {
                directory_id: user.directory_id.clone(),
                email: e,
                user_id: user.id.clone(),
            },
            Condition::Always,
        );
    }
    if !groups.is_empty() {
        message.push_str(&format!(" Removed it from {} groups.", groups.len()));
    }
    for g in groups {
        plan.delete(
            Record::Member {
                directory_id: user.directory_id.clone(),
                group_id: g.clone(),
                user_id: user.id.clone(),
            },
            Condition::Always,
        );
    }
    plan.event(ctx.user_event(&user.id, &user.doc, Outcome::Deleted, message));
    plan.delete(Record::User(user.clone()), Condition::Version(user.version));
    UserDecision {
        plan,
        user: user.clone(),
        link,
    }
}
