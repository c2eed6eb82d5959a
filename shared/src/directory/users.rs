//! Decisions for SCIM user writes: create, replace (PUT and PATCH share it) and delete,
//! including the email link to the org's accounts (L1-L3, L5-L7, L9).
//!
//! Every function here is pure: (loaded state, command) -> `UserDecision`. The caller loads
//! exactly what `UserWriteNeeds` asks for, plans, and applies the plan in one transaction.

use serde_json::Value;

use super::context::WriteContext;
use super::model::{
    AccountKind, AccountRecord, AccountStatus, Guard, LinkRef, ManagedBy, Origin, Outcome, Profile,
    UserRecord,
};
use super::plan::{Condition, Plan, Record, Refusal, Write};
use crate::scim::error::ScimError;
use crate::scim::resource::{external_id, primary_email};
use crate::scim::schema::ENTERPRISE_USER_SCHEMA;

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

pub fn user_name_lower(doc: &Value) -> String {
    doc.get("userName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_lowercase()
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
    logged_refusal(ctx, user_id, doc, ScimError::uniqueness(detail))
}

/// A refusal whose plan is its log event (E1): the error's detail, as a sentence.
fn logged_refusal(ctx: &WriteContext, user_id: &str, doc: &Value, error: ScimError) -> Refusal {
    let mut plan = Plan::default();
    plan.event(ctx.user_event(
        user_id,
        doc,
        Outcome::Refused,
        format!("Refused: {}.", error.detail),
    ));
    Refusal {
        error,
        plan: Box::new(plan),
    }
}

/// G8: the product roles a SCIM user's `roles` assign (their `value`s), sorted and
/// deduplicated.
pub fn assigned_roles(doc: &Value) -> Vec<String> {
    let mut roles: Vec<String> = doc
        .get("roles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("value").and_then(Value::as_str))
        .map(str::to_string)
        .collect();
    roles.sort();
    roles.dedup();
    roles
}

/// G8, S7: every role a write assigns must be one of the org's product roles, else the
/// write is refused with 400 `invalidValue` naming the unknown values, and nothing is
/// applied. Roles the stored user already had are not checked again, so that a role the
/// org has since removed does not block every later update of the user.
fn check_assigned_roles(
    ctx: &WriteContext,
    user_id: &str,
    old: Option<&Value>,
    new: &Value,
) -> Result<(), Refusal> {
    let kept = old.map(assigned_roles).unwrap_or_default();
    let unknown: Vec<String> = assigned_roles(new)
        .into_iter()
        .filter(|r| !kept.contains(r) && !ctx.assignable_roles.contains(r))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let error = ScimError::invalid_value(format!(
        "roles names unknown roles: {}; a role is one of this organization's product roles, as `<product>/<role>` (GET /Roles lists them)",
        unknown
            .iter()
            .map(|r| format!("'{r}'"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Err(logged_refusal(ctx, user_id, new, error))
}

/// G8, E1: what a plan changes in the roles an IdP assigns directly, as sentences for the
/// log: each account put whose assigned roles differ from the ones it replaces.
fn assignment_changes(plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    for (next, _) in plan_account_puts(plan) {
        let before = plan.before.iter().find_map(|r| match r {
            Record::Account(a) if a.id == next.id => Some(a),
            _ => None,
        });
        let was: &[String] = before.map(|a| a.assigned_roles.as_slice()).unwrap_or(&[]);
        let added: Vec<&str> = next
            .assigned_roles
            .iter()
            .filter(|r| !was.contains(r))
            .map(String::as_str)
            .collect();
        let removed: Vec<&str> = was
            .iter()
            .filter(|r| !next.assigned_roles.contains(r))
            .map(String::as_str)
            .collect();
        let link = next.link.as_ref().or(before.and_then(|a| a.link.as_ref()));
        let by = link
            .map(|l| format!("directory {} (SCIM user {})", l.directory_id, l.user_id))
            .unwrap_or_else(|| "the directory".into());
        if !added.is_empty() {
            out.push(format!(
                "Roles {} are now assigned directly to account {} by {by}.",
                added.join(", "),
                next.id
            ));
        }
        if !removed.is_empty() {
            out.push(format!(
                "Roles {} are no longer assigned directly to account {} by {by}.",
                removed.join(", "),
                next.id
            ));
        }
    }
    out
}

fn plan_account_puts(plan: &Plan) -> impl Iterator<Item = (&AccountRecord, &Condition)> {
    plan.writes.iter().filter_map(|w| match w {
        Write::Put(Record::Account(a), c) => Some((a, c)),
        _ => None,
    })
}

/// The log sentence of a user write, with what it changed in directly assigned roles.
fn with_assignment_changes(plan: &Plan, message: String) -> String {
    std::iter::once(message)
        .chain(assignment_changes(plan))
        .collect::<Vec<_>>()
        .join(" ")
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
            let account_id = ctx.ids.next_id();
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
                hold: None,
                assigned_roles: assigned_roles(doc),
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
            follow_linked_user(&mut next, doc);
            resolve_hold(ctx, plan, acc, &mut next);
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
            plan.prior(Record::Account(acc.clone()));
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
    check_assigned_roles(ctx, user_id, None, &doc)?;
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
    let message = with_assignment_changes(&plan, message);
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
    check_assigned_roles(ctx, user_id, Some(&old.doc), &new)?;
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
                    follow_linked_user(&mut next, &new);
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
                    plan.prior(Record::Account(acc.clone()));
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
    let message = with_assignment_changes(&plan, message);
    plan.event(ctx.user_event(user_id, &user.doc, outcome, message));
    plan.put(Record::User(user.clone()), Condition::Version(old.version));
    plan.prior(Record::User(old.clone()));
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

/// What an account takes from its linked SCIM user whatever its kind: its status (L6) and
/// the roles the IdP assigns it directly (G8).
fn follow_linked_user(next: &mut AccountRecord, doc: &Value) {
    next.status = status_for(doc);
    next.assigned_roles = assigned_roles(doc);
}

/// Keep a linked account in step: status and assigned roles always (L6, G8); profile only when this directory
/// manages it (L2). Writes nothing when nothing changes.
fn sync_linked_account(ctx: &WriteContext, plan: &mut Plan, acc: &AccountRecord, doc: &Value) {
    let mut next = acc.clone();
    follow_linked_user(&mut next, doc);
    if managed_by_directory(acc, &ctx.directory_id) {
        next.profile = profile_from_doc(doc);
    }
    resolve_hold(ctx, plan, acc, &mut next);
    if next != *acc {
        next.version = acc.version + 1;
        next.last_modified = ctx.now.clone();
        plan.put(Record::Account(next), account_condition(acc));
        plan.prior(Record::Account(acc.clone()));
    }
}

/// E4: an IdP write that makes a held account's user active again resolves the held
/// suspension (the way the IdP now intends), and the log says so.
fn resolve_hold(
    ctx: &WriteContext,
    plan: &mut Plan,
    acc: &AccountRecord,
    next: &mut AccountRecord,
) {
    if let Some(line) = super::safeguard::idp_reactivated(ctx, plan, acc, next) {
        plan.event(super::model::EventRecord {
            email: Some(acc.email.clone()),
            ..ctx.event(Outcome::Held, line)
        });
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
    // G8: assignments belong to the link.
    next.assigned_roles.clear();
    next.managed_by = ManagedBy::Admin;
    if deactivate && ctx.kind_of(&acc.email) == AccountKind::Managed {
        next.status = AccountStatus::Suspended;
    }
    next.version = acc.version + 1;
    next.last_modified = ctx.now.clone();
    plan.put(Record::Account(next), account_condition(acc));
    plan.prior(Record::Account(acc.clone()));
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
    let message = with_assignment_changes(&plan, message);
    plan.event(ctx.user_event(&user.id, &user.doc, Outcome::Deleted, message));
    plan.delete(Record::User(user.clone()), Condition::Version(user.version));
    plan.prior(Record::User(user.clone()));
    UserDecision {
        plan,
        user: user.clone(),
        link,
    }
}

#[cfg(test)]
mod tests {
    //! The user decisions (L1-L3, L5-L7, L9, E1).

    use crate::directory::plan::Write;

    use serde_json::json;

    use super::*;
    use crate::directory::testkit::*;
    use crate::scim::error::ScimType;

    fn state_with_email_account(a: AccountRecord) -> UserWriteState {
        UserWriteState {
            email_account: Some(a),
            ..Default::default()
        }
    }

    fn create(state: &UserWriteState, doc: Value) -> UserDecision {
        let d = plan_user_create(&ctx(), state, "u1", doc).unwrap();
        assert_one_write_per_item(&d.plan);
        d
    }

    fn refused(r: Result<UserDecision, Refusal>) -> Refusal {
        let refusal = r.expect_err("a refusal");
        assert_one_write_per_item(&refusal.plan);
        refusal
    }

    /// A refusal writes its event and nothing else (L3, E1, S7).
    fn assert_refusal_is_one_logged_409(r: &Refusal) {
        assert_eq!(r.error.status, 409);
        assert_eq!(r.error.scim_type, Some(ScimType::Uniqueness));
        assert_eq!(
            r.plan.writes.len(),
            1,
            "only the event: {:#?}",
            r.plan.writes
        );
        let e = only_event(&r.plan);
        assert_eq!(e.outcome, Outcome::Refused);
        assert!(e.message.contains(&r.error.detail), "{}", e.message);
    }

    // ---- L1 create links, never duplicates ----

    #[test]
    fn l1_new_email_creates_scim_account_with_email_guard_and_link() {
        let d = create(
            &UserWriteState::default(),
            user_doc("ada@example.com", Some(" Ada@Example.com ")),
        );
        let LinkDecision::Created { account_id } = &d.link else {
            panic!("created: {:?}", d.link)
        };
        let (a, cond) = account_put(&d.plan, account_id);
        assert_eq!(*cond, Condition::Absent);
        assert_eq!(a.origin, Origin::Scim);
        assert_eq!(a.email, "ada@example.com", "normalized");
        assert_eq!(a.status, AccountStatus::Active);
        assert_eq!(a.managed_by, by_dir());
        assert_eq!(
            a.link,
            Some(LinkRef {
                directory_id: DIR.into(),
                user_id: "u1".into()
            })
        );
        assert!(guard_puts(&d.plan).contains(&(
            &email_guard("ada@example.com"),
            account_id.as_str(),
            &Condition::Absent
        )));
        assert_eq!(d.user.account_id.as_deref(), Some(account_id.as_str()));
        assert_eq!(d.user.version, 1);
        assert!(puts(&d.plan).contains(&(&Record::User(d.user.clone()), &Condition::Absent)));
        assert_eq!(only_event(&d.plan).outcome, Outcome::Created);
    }

    #[test]
    fn l1_new_external_email_creates_account_managed_by_admin() {
        let d = create(
            &UserWriteState::default(),
            user_doc("bob", Some("bob@partner.org")),
        );
        let LinkDecision::Created { account_id } = &d.link else {
            panic!("created: {:?}", d.link)
        };
        let (a, _) = account_put(&d.plan, account_id);
        assert_eq!(a.origin, Origin::Scim);
        assert_eq!(a.managed_by, ManagedBy::Admin);
    }

    #[test]
    fn l1_existing_account_of_any_origin_is_linked_never_duplicated() {
        for origin in [Origin::Invited, Origin::Jit, Origin::Admin, Origin::Scim] {
            for email in ["ada@example.com", "ada@partner.org"] {
                let existing = account("acc-1", email, origin);
                let d = create(
                    &state_with_email_account(existing.clone()),
                    user_doc("ada", Some(&email.to_uppercase())),
                );
                assert_eq!(linked_id(&d.link).as_deref(), Some("acc-1"), "{origin:?}");
                assert_eq!(account_puts(&d.plan).len(), 1, "no second account");
                let (a, cond) = account_put(&d.plan, "acc-1");
                assert_eq!(*cond, Condition::Version(5));
                assert_eq!(a.version, 6);
                assert_eq!(a.origin, origin, "the origin stays");
                assert_eq!(a.email, email);
                assert_eq!(
                    a.link,
                    Some(LinkRef {
                        directory_id: DIR.into(),
                        user_id: "u1".into()
                    })
                );
                assert!(
                    guard_puts(&d.plan)
                        .iter()
                        .all(|(g, _, _)| !matches!(g, Guard::AccountEmail { .. })),
                    "the email guard is the existing account's"
                );
                assert_eq!(d.user.account_id.as_deref(), Some("acc-1"));
            }
        }
    }

    #[test]
    fn l1_user_without_email_is_created_without_account() {
        let d = create(&UserWriteState::default(), user_doc("ada", None));
        assert_eq!(d.link, LinkDecision::NoEmail);
        assert_eq!(d.user.account_id, None);
        assert!(account_puts(&d.plan).is_empty());
        assert!(guard_puts(&d.plan)
            .iter()
            .all(|(g, _, _)| !matches!(g, Guard::AccountEmail { .. })));
        let e = only_event(&d.plan);
        assert_eq!(e.outcome, Outcome::Created);
        assert_eq!(e.email, None);
    }

    #[test]
    fn l1_user_name_that_is_an_email_links_when_there_are_no_emails() {
        let d = create(
            &UserWriteState::default(),
            user_doc("Ada@Example.com", None),
        );
        let LinkDecision::Created { account_id } = &d.link else {
            panic!("created: {:?}", d.link)
        };
        assert_eq!(account_put(&d.plan, account_id).0.email, "ada@example.com");
    }

    #[test]
    fn l1_create_writes_user_guards_and_email_index() {
        let doc = set(
            user_doc("Ada.L", Some("ada@example.com")),
            "externalId",
            json!("00u1"),
        );
        let doc = set(
            doc,
            "emails",
            json!([
                {"value": "ada@home.net", "type": "home"},
                {"value": "ada@example.com", "primary": true, "type": "work"},
            ]),
        );
        let d = create(&UserWriteState::default(), doc);
        let guards = guard_puts(&d.plan);
        assert!(guards.contains(&(
            &Guard::UserName {
                directory_id: DIR.into(),
                lower: "ada.l".into()
            },
            "u1",
            &Condition::Absent
        )));
        assert!(guards.contains(&(
            &Guard::ExternalId {
                directory_id: DIR.into(),
                external_id: "00u1".into()
            },
            "u1",
            &Condition::Absent
        )));
        let index: Vec<&str> = puts(&d.plan)
            .into_iter()
            .filter_map(|(r, _)| match r {
                Record::UserEmail { email, .. } => Some(email.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(index, vec!["ada@example.com", "ada@home.net"]);
    }

    #[test]
    fn l1_new_account_joins_the_default_groups_and_a_linked_one_does_not() {
        let mut c = ctx();
        c.default_groups = vec!["dg-1".into(), "dg-2".into()];
        let d = plan_user_create(
            &c,
            &UserWriteState::default(),
            "u1",
            user_doc("ada", Some("ada@example.com")),
        )
        .unwrap();
        assert_one_write_per_item(&d.plan);
        let id = linked_id(&d.link).unwrap();
        assert_eq!(
            org_member_puts(&d.plan),
            vec![("dg-1".to_string(), id.clone()), ("dg-2".to_string(), id)]
        );
        let d = plan_user_create(
            &c,
            &state_with_email_account(account("acc-1", "ada@example.com", Origin::Invited)),
            "u1",
            user_doc("ada", Some("ada@example.com")),
        )
        .unwrap();
        assert!(org_member_puts(&d.plan).is_empty());
    }

    // ---- L2 take-over ----

    #[test]
    fn l2_managed_account_is_taken_over_and_its_profile_overwritten() {
        let doc = set(
            user_doc("ada", Some("ada@example.com")),
            "title",
            json!("Engineer"),
        );
        let d = create(
            &state_with_email_account(account("acc-1", "ada@example.com", Origin::Invited)),
            doc.clone(),
        );
        assert_eq!(
            d.link,
            LinkDecision::TookOver {
                account_id: "acc-1".into()
            }
        );
        let (a, _) = account_put(&d.plan, "acc-1");
        assert_eq!(a.managed_by, by_dir());
        assert_eq!(a.profile, profile_from_doc(&doc));
        assert_eq!(a.profile.title.as_deref(), Some("Engineer"));
        assert_eq!(only_event(&d.plan).outcome, Outcome::TookOver);
    }

    #[test]
    fn l2_external_account_is_linked_and_keeps_its_profile_and_manager() {
        let d = create(
            &state_with_email_account(account("acc-1", "ada@partner.org", Origin::Jit)),
            user_doc("ada", Some("ada@partner.org")),
        );
        assert_eq!(
            d.link,
            LinkDecision::Linked {
                account_id: "acc-1".into()
            }
        );
        let (a, _) = account_put(&d.plan, "acc-1");
        assert_eq!(a.profile, owner_profile());
        assert_eq!(a.managed_by, ManagedBy::Admin);
        assert!(a.link.is_some());
        assert_eq!(only_event(&d.plan).outcome, Outcome::Linked);
    }

    #[test]
    fn l2_replace_syncs_the_profile_only_of_an_account_the_directory_manages() {
        let old = user(
            "u1",
            user_doc("ada", Some("ada@example.com")),
            Some("acc-1"),
        );
        let new = set(old.doc.clone(), "title", json!("CTO"));
        let managed = linked(account("acc-1", "ada@example.com", Origin::Scim), DIR, "u1");
        let state = UserWriteState {
            existing: Some(old.clone()),
            linked_account: Some(managed),
            ..Default::default()
        };
        let d = plan_user_replace(&ctx(), &state, new.clone()).unwrap();
        assert_one_write_per_item(&d.plan);
        assert_eq!(
            d.link,
            LinkDecision::Kept {
                account_id: "acc-1".into()
            }
        );
        assert_eq!(
            account_put(&d.plan, "acc-1").0.profile,
            profile_from_doc(&new)
        );
        assert_eq!(only_event(&d.plan).outcome, Outcome::Updated);

        let old = user(
            "u1",
            user_doc("ada", Some("ada@partner.org")),
            Some("acc-1"),
        );
        let new = set(old.doc.clone(), "title", json!("CTO"));
        let state = UserWriteState {
            existing: Some(old),
            linked_account: Some(linked(
                account("acc-1", "ada@partner.org", Origin::Jit),
                DIR,
                "u1",
            )),
            ..Default::default()
        };
        let d = plan_user_replace(&ctx(), &state, new).unwrap();
        assert!(
            account_puts(&d.plan).is_empty(),
            "nothing of the external account changes: {:#?}",
            d.plan.writes
        );
        assert!(d.plan.writes.iter().any(|w| matches!(
            w,
            Write::Put(Record::User(u), Condition::Version(3)) if u.version == 4
        )));
    }

    #[test]
    fn l2_profile_from_doc_reads_names_title_and_department() {
        let doc = json!({
            "userName": "ada",
            "name": {"givenName": "Ada", "familyName": "Lovelace", "formatted": "Lady Ada"},
            "title": "Engineer",
            (ENTERPRISE_USER_SCHEMA): {"department": "R&D"},
        });
        assert_eq!(
            profile_from_doc(&doc),
            Profile {
                display_name: Some("Lady Ada".into()),
                given_name: Some("Ada".into()),
                family_name: Some("Lovelace".into()),
                title: Some("Engineer".into()),
                department: Some("R&D".into()),
            }
        );
        let with_display = set(doc.clone(), "displayName", json!("Ada L."));
        assert_eq!(
            profile_from_doc(&with_display).display_name.as_deref(),
            Some("Ada L.")
        );
        let names_only = json!({"name": {"givenName": "Ada", "familyName": "Lovelace"}});
        assert_eq!(
            profile_from_doc(&names_only).display_name.as_deref(),
            Some("Ada Lovelace")
        );
        let family_only = json!({"name": {"familyName": "Lovelace"}});
        assert_eq!(
            profile_from_doc(&family_only).display_name.as_deref(),
            Some("Lovelace")
        );
        assert_eq!(
            profile_from_doc(&json!({"userName": "x"})),
            Profile::default()
        );
    }

    // ---- L3 one holder ----

    #[test]
    fn l3_account_linked_to_another_scim_user_is_refused_naming_the_holder() {
        let held = linked(
            account("acc-1", "ada@example.com", Origin::Scim),
            OTHER_DIR,
            "u-other",
        );
        let state = UserWriteState {
            email_account: Some(held),
            email_holder: Some(Holder {
                directory_id: OTHER_DIR.into(),
                user_id: "u-other".into(),
                external_id: Some("ext-9".into()),
            }),
            ..Default::default()
        };
        let r = refused(plan_user_create(
            &ctx(),
            &state,
            "u1",
            user_doc("ada", Some("Ada@Example.com")),
        ));
        assert_refusal_is_one_logged_409(&r);
        let detail = &r.error.detail;
        assert!(
            detail.starts_with("user with email ada@example.com already exists"),
            "{detail}"
        );
        assert!(detail.contains(OTHER_DIR), "{detail}");
        assert!(detail.contains("u-other"), "{detail}");
        assert!(detail.contains("ext-9"), "{detail}");
        let e = only_event(&r.plan);
        assert_eq!(e.scim_id.as_deref(), Some("u1"));
        assert_eq!(e.email.as_deref(), Some("ada@example.com"));
    }

    #[test]
    fn l3_holder_not_loaded_is_named_from_the_account_link() {
        let held = linked(
            account("acc-1", "ada@partner.org", Origin::Scim),
            DIR,
            "u-other",
        );
        let r = refused(plan_user_create(
            &ctx(),
            &state_with_email_account(held),
            "u1",
            user_doc("ada", Some("ada@partner.org")),
        ));
        assert_refusal_is_one_logged_409(&r);
        assert!(r.error.detail.contains("u-other") && r.error.detail.contains(DIR));
    }

    #[test]
    fn l3_user_name_or_external_id_of_another_user_is_refused() {
        let state = UserWriteState {
            user_name_owner: Some("u-other".into()),
            ..Default::default()
        };
        let r = refused(plan_user_create(
            &ctx(),
            &state,
            "u1",
            user_doc("Ada", Some("ada@example.com")),
        ));
        assert_refusal_is_one_logged_409(&r);
        assert!(r.error.detail.contains("userName 'Ada'") && r.error.detail.contains("u-other"));

        let state = UserWriteState {
            external_id_owner: Some("u-other".into()),
            ..Default::default()
        };
        let doc = set(user_doc("ada", None), "externalId", json!("ext-1"));
        let r = refused(plan_user_create(&ctx(), &state, "u1", doc));
        assert_refusal_is_one_logged_409(&r);
        assert!(r.error.detail.contains("externalId 'ext-1'"));
        assert_eq!(only_event(&r.plan).external_id.as_deref(), Some("ext-1"));
    }

    #[test]
    fn l3_guards_owned_by_the_user_itself_are_not_a_conflict() {
        let old = user("u1", user_doc("ada", Some("ada@example.com")), None);
        let state = UserWriteState {
            existing: Some(old.clone()),
            user_name_owner: Some("u1".into()),
            external_id_owner: Some("u1".into()),
            ..Default::default()
        };
        let new = set(old.doc.clone(), "title", json!("x"));
        assert!(plan_user_replace(&ctx(), &state, new).is_ok());
    }

    #[test]
    fn l3_write_needs_check_only_the_unique_values_that_change() {
        let doc = set(
            user_doc("Ada", Some("ada@example.com")),
            "externalId",
            json!("e1"),
        );
        assert_eq!(
            user_write_needs(None, &doc),
            UserWriteNeeds {
                user_name: Some("ada".into()),
                external_id: Some("e1".into()),
                linked_account: None,
                email: Some("ada@example.com".into()),
            }
        );
        let old = user("u1", doc.clone(), Some("acc-1"));
        let unchanged = set(doc.clone(), "title", json!("x"));
        assert_eq!(
            user_write_needs(Some(&old), &unchanged),
            UserWriteNeeds {
                linked_account: Some("acc-1".into()),
                ..Default::default()
            }
        );
        // userName compares case-insensitively.
        let recased = set(doc.clone(), "userName", json!("ADA"));
        assert_eq!(user_write_needs(Some(&old), &recased).user_name, None);
        let renamed = set(doc.clone(), "userName", json!("ada2"));
        assert_eq!(
            user_write_needs(Some(&old), &renamed),
            UserWriteNeeds {
                user_name: Some("ada2".into()),
                linked_account: Some("acc-1".into()),
                ..Default::default()
            }
        );
        let new_ext = set(doc.clone(), "externalId", json!("e2"));
        assert_eq!(
            user_write_needs(Some(&old), &new_ext)
                .external_id
                .as_deref(),
            Some("e2")
        );
        let mut no_ext = doc.clone();
        no_ext.as_object_mut().unwrap().remove("externalId");
        assert_eq!(user_write_needs(Some(&old), &no_ext).external_id, None);
    }

    // ---- L5 email change ----

    fn replace_state(old: &UserRecord, linked_account: AccountRecord) -> UserWriteState {
        UserWriteState {
            existing: Some(old.clone()),
            linked_account: Some(linked_account),
            ..Default::default()
        }
    }

    #[test]
    fn l5_write_needs_load_the_email_account_only_when_the_email_changes() {
        let old = user(
            "u1",
            user_doc("ada", Some("ada@example.com")),
            Some("acc-1"),
        );
        let same = user_doc("ada", Some(" ADA@example.com"));
        assert_eq!(user_write_needs(Some(&old), &same).email, None);
        let changed = user_doc("ada", Some("ada.l@example.com"));
        assert_eq!(
            user_write_needs(Some(&old), &changed).email.as_deref(),
            Some("ada.l@example.com")
        );
        assert_eq!(
            user_write_needs(Some(&old), &user_doc("ada", None)).email,
            None
        );
    }

    #[test]
    fn l5_managed_email_change_changes_the_account_email_and_moves_its_guard() {
        let old = user(
            "u1",
            user_doc("ada", Some("ada@example.com")),
            Some("acc-1"),
        );
        let acc = linked(account("acc-1", "ada@example.com", Origin::Scim), DIR, "u1");
        let new = user_doc("ada", Some("ada.l@example.com"));
        let d = plan_user_replace(&ctx(), &replace_state(&old, acc), new).unwrap();
        assert_one_write_per_item(&d.plan);
        assert_eq!(
            d.link,
            LinkDecision::Kept {
                account_id: "acc-1".into()
            }
        );
        let (a, cond) = account_put(&d.plan, "acc-1");
        assert_eq!(a.email, "ada.l@example.com");
        assert_eq!(*cond, Condition::Version(5));
        assert_eq!(a.link.as_ref().map(|l| l.user_id.as_str()), Some("u1"));
        assert!(guard_puts(&d.plan).contains(&(
            &email_guard("ada.l@example.com"),
            "acc-1",
            &Condition::Absent
        )));
        assert!(guard_deletes(&d.plan).contains(&(
            &email_guard("ada@example.com"),
            &Condition::OwnedBy("acc-1".into())
        )));
        // The email index follows the document.
        assert!(deletes(&d.plan).iter().any(|(r, _)| matches!(
            r,
            Record::UserEmail { email, .. } if email == "ada@example.com"
        )));
        assert!(puts(&d.plan).iter().any(|(r, _)| matches!(
            r,
            Record::UserEmail { email, .. } if email == "ada.l@example.com"
        )));
        let e = only_event(&d.plan);
        assert_eq!(e.outcome, Outcome::Updated);
        assert!(e.message.contains("ada@example.com") && e.message.contains("ada.l@example.com"));
    }

    #[test]
    fn l5_managed_email_change_to_an_email_another_account_has_is_refused() {
        let old = user(
            "u1",
            user_doc("ada", Some("ada@example.com")),
            Some("acc-1"),
        );
        let acc = linked(account("acc-1", "ada@example.com", Origin::Scim), DIR, "u1");
        let new = user_doc("ada", Some("ada.l@example.com"));
        // The other account is not linked.
        let mut state = replace_state(&old, acc.clone());
        state.email_account = Some(account("acc-2", "ada.l@example.com", Origin::Invited));
        let r = refused(plan_user_replace(&ctx(), &state, new.clone()));
        assert_refusal_is_one_logged_409(&r);
        assert!(r
            .error
            .detail
            .starts_with("user with email ada.l@example.com already exists"));
        assert!(r.error.detail.contains("acc-2"));
        // The other account is linked: the holder is named (L3).
        let mut state = replace_state(&old, acc);
        state.email_account = Some(linked(
            account("acc-2", "ada.l@example.com", Origin::Scim),
            OTHER_DIR,
            "u-other",
        ));
        state.email_holder = Some(Holder {
            directory_id: OTHER_DIR.into(),
            user_id: "u-other".into(),
            external_id: Some("ext-9".into()),
        });
        let r = refused(plan_user_replace(&ctx(), &state, new));
        assert_refusal_is_one_logged_409(&r);
        let detail = &r.error.detail;
        assert!(detail.starts_with("user with email ada.l@example.com already exists"));
        assert!(
            detail.contains("u-other") && detail.contains(OTHER_DIR) && detail.contains("ext-9")
        );
    }

    #[test]
    fn l5_external_email_change_moves_the_link_to_a_new_account() {
        let old = user(
            "u1",
            user_doc("ada", Some("ada@partner.org")),
            Some("acc-1"),
        );
        let acc = linked(account("acc-1", "ada@partner.org", Origin::Jit), DIR, "u1");
        let new = user_doc("ada", Some("ada@other.org"));
        let d = plan_user_replace(&ctx(), &replace_state(&old, acc), new).unwrap();
        assert_one_write_per_item(&d.plan);
        let LinkDecision::Moved { from, to } = &d.link else {
            panic!("moved: {:?}", d.link)
        };
        assert_eq!(from, "acc-1");
        assert_ne!(to, "acc-1");
        assert_eq!(d.user.account_id.as_deref(), Some(to.as_str()));
        let (created, cond) = account_put(&d.plan, to);
        assert_eq!(*cond, Condition::Absent);
        assert_eq!(created.email, "ada@other.org");
        assert_eq!(created.origin, Origin::Scim);
        assert!(guard_puts(&d.plan).contains(&(
            &email_guard("ada@other.org"),
            to.as_str(),
            &Condition::Absent
        )));
        let (old_acc, cond) = account_put(&d.plan, "acc-1");
        assert_eq!(*cond, Condition::Version(5));
        assert_eq!(old_acc.link, None);
        assert_eq!(old_acc.email, "ada@partner.org", "the org cannot change it");
        assert_eq!(old_acc.managed_by, ManagedBy::Admin);
        assert_eq!(old_acc.status, AccountStatus::Active);
        assert!(
            guard_deletes(&d.plan).is_empty(),
            "the old account keeps its email guard"
        );
        let e = only_event(&d.plan);
        assert_eq!(e.outcome, Outcome::Relinked);
        assert!(e.message.contains("ada@partner.org") && e.message.contains("ada@other.org"));
    }

    #[test]
    fn l5_external_email_change_links_the_existing_account_of_the_new_email() {
        let old = user(
            "u1",
            user_doc("ada", Some("ada@partner.org")),
            Some("acc-1"),
        );
        let acc = linked(account("acc-1", "ada@partner.org", Origin::Jit), DIR, "u1");
        let mut state = replace_state(&old, acc);
        state.email_account = Some(account("acc-2", "ada@other.org", Origin::Invited));
        let d = plan_user_replace(&ctx(), &state, user_doc("ada", Some("ada@other.org"))).unwrap();
        assert_one_write_per_item(&d.plan);
        assert_eq!(
            d.link,
            LinkDecision::Moved {
                from: "acc-1".into(),
                to: "acc-2".into()
            }
        );
        assert_eq!(account_puts(&d.plan).len(), 2);
        assert_eq!(account_put(&d.plan, "acc-1").0.link, None);
        let (new_acc, cond) = account_put(&d.plan, "acc-2");
        assert_eq!(*cond, Condition::Version(5));
        assert_eq!(
            new_acc.link.as_ref().map(|l| l.user_id.as_str()),
            Some("u1")
        );
        assert_eq!(new_acc.profile, owner_profile());
        assert_eq!(only_event(&d.plan).outcome, Outcome::Relinked);
    }

    #[test]
    fn l5_external_email_change_to_a_held_email_is_refused_and_unlinks_nothing() {
        let old = user(
            "u1",
            user_doc("ada", Some("ada@partner.org")),
            Some("acc-1"),
        );
        let acc = linked(account("acc-1", "ada@partner.org", Origin::Jit), DIR, "u1");
        let mut state = replace_state(&old, acc);
        state.email_account = Some(linked(
            account("acc-2", "ada@other.org", Origin::Scim),
            OTHER_DIR,
            "u-other",
        ));
        let r = refused(plan_user_replace(
            &ctx(),
            &state,
            user_doc("ada", Some("ada@other.org")),
        ));
        assert_refusal_is_one_logged_409(&r);
        assert!(r
            .error
            .detail
            .starts_with("user with email ada@other.org already exists"));
    }

    #[test]
    fn l5_removing_the_email_keeps_the_link() {
        let old = user(
            "u1",
            user_doc("ada", Some("ada@example.com")),
            Some("acc-1"),
        );
        let acc = linked(account("acc-1", "ada@example.com", Origin::Scim), DIR, "u1");
        let d =
            plan_user_replace(&ctx(), &replace_state(&old, acc), user_doc("ada", None)).unwrap();
        assert_one_write_per_item(&d.plan);
        assert_eq!(d.user.account_id.as_deref(), Some("acc-1"));
        assert!(guard_deletes(&d.plan)
            .iter()
            .all(|(g, _)| !matches!(g, Guard::AccountEmail { .. })));
    }

    // ---- L6 deactivate ----

    #[test]
    fn l6_active_false_suspends_the_account_and_true_restores_it() {
        for email in ["ada@example.com", "ada@partner.org"] {
            let old = user("u1", user_doc("ada", Some(email)), Some("acc-1"));
            let acc = linked(account("acc-1", email, Origin::Scim), DIR, "u1");
            let off = set(old.doc.clone(), "active", json!(false));
            let d =
                plan_user_replace(&ctx(), &replace_state(&old, acc.clone()), off.clone()).unwrap();
            assert_one_write_per_item(&d.plan);
            let (a, _) = account_put(&d.plan, "acc-1");
            assert_eq!(a.status, AccountStatus::Suspended, "{email}");
            assert!(a.link.is_some(), "a deactivated user stays linked");
            assert!(
                deletes(&d.plan).is_empty(),
                "nothing is removed: {:#?}",
                d.plan.writes
            );

            let off_user = user("u1", off, Some("acc-1"));
            let suspended = AccountRecord {
                status: AccountStatus::Suspended,
                ..acc
            };
            let d = plan_user_replace(
                &ctx(),
                &replace_state(&off_user, suspended),
                user_doc("ada", Some(email)),
            )
            .unwrap();
            assert_eq!(
                account_put(&d.plan, "acc-1").0.status,
                AccountStatus::Active
            );
        }
    }

    #[test]
    fn l6_user_created_inactive_gets_a_suspended_account() {
        let doc = set(
            user_doc("ada", Some("ada@example.com")),
            "active",
            json!(false),
        );
        let d = create(&UserWriteState::default(), doc.clone());
        let id = linked_id(&d.link).unwrap();
        assert_eq!(account_put(&d.plan, &id).0.status, AccountStatus::Suspended);
        let d = create(
            &state_with_email_account(account("acc-1", "ada@partner.org", Origin::Invited)),
            set(
                user_doc("ada", Some("ada@partner.org")),
                "active",
                json!(false),
            ),
        );
        assert_eq!(
            account_put(&d.plan, "acc-1").0.status,
            AccountStatus::Suspended
        );
    }

    // ---- L7 delete ----

    fn full_doc() -> Value {
        let doc = set(
            user_doc("Ada", Some("ada@example.com")),
            "externalId",
            json!("ext-1"),
        );
        set(
            doc,
            "emails",
            json!([
                {"value": "ada@example.com", "primary": true, "type": "work"},
                {"value": "ada@home.net", "type": "home"},
            ]),
        )
    }

    #[test]
    fn l7_delete_removes_user_guards_index_and_memberships_and_hands_a_managed_account_back() {
        let u = user("u1", full_doc(), Some("acc-1"));
        let acc = linked(account("acc-1", "ada@example.com", Origin::Scim), DIR, "u1");
        let groups = vec!["g1".to_string(), "g2".to_string()];
        let d = plan_user_delete(&ctx(), &u, Some(&acc), &groups);
        assert_one_write_per_item(&d.plan);
        assert_eq!(
            d.link,
            LinkDecision::Unlinked {
                account_id: "acc-1".into()
            }
        );
        let dels = deletes(&d.plan);
        assert!(dels.contains(&(&Record::User(u.clone()), &Condition::Version(3))));
        assert!(guard_deletes(&d.plan).contains(&(
            &Guard::UserName {
                directory_id: DIR.into(),
                lower: "ada".into()
            },
            &Condition::OwnedBy("u1".into())
        )));
        assert!(guard_deletes(&d.plan).contains(&(
            &Guard::ExternalId {
                directory_id: DIR.into(),
                external_id: "ext-1".into()
            },
            &Condition::OwnedBy("u1".into())
        )));
        let index: Vec<&str> = dels
            .iter()
            .filter_map(|(r, _)| match r {
                Record::UserEmail { email, .. } => Some(email.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(index, vec!["ada@example.com", "ada@home.net"]);
        let memberships: Vec<&str> = dels
            .iter()
            .filter_map(|(r, _)| match r {
                Record::Member {
                    group_id, user_id, ..
                } if user_id == "u1" => Some(group_id.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(memberships, vec!["g1", "g2"]);
        // The account is never deleted: suspended and handed back to admin.
        assert!(dels.iter().all(|(r, _)| !matches!(r, Record::Account(_))));
        assert!(guard_deletes(&d.plan)
            .iter()
            .all(|(g, _)| !matches!(g, Guard::AccountEmail { .. })));
        let (a, cond) = account_put(&d.plan, "acc-1");
        assert_eq!(*cond, Condition::Version(5));
        assert_eq!(a.status, AccountStatus::Suspended);
        assert_eq!(a.managed_by, ManagedBy::Admin);
        assert_eq!(a.link, None);
        assert_eq!(a.email, "ada@example.com");
        assert_eq!(only_event(&d.plan).outcome, Outcome::Deleted);
    }

    #[test]
    fn l7_delete_leaves_an_external_account_active() {
        let u = user(
            "u1",
            user_doc("ada", Some("ada@partner.org")),
            Some("acc-1"),
        );
        let acc = linked(account("acc-1", "ada@partner.org", Origin::Jit), DIR, "u1");
        let d = plan_user_delete(&ctx(), &u, Some(&acc), &[]);
        assert_one_write_per_item(&d.plan);
        let (a, _) = account_put(&d.plan, "acc-1");
        assert_eq!(a.status, AccountStatus::Active);
        assert_eq!(a.link, None);
        assert_eq!(a.managed_by, ManagedBy::Admin);
        assert_eq!(a.profile, acc.profile);
    }

    #[test]
    fn l7_delete_of_an_unlinked_user_touches_no_account() {
        let u = user("u1", user_doc("ada", Some("ada@example.com")), None);
        let stray = account("acc-1", "ada@example.com", Origin::Scim);
        let d = plan_user_delete(&ctx(), &u, Some(&stray), &[]);
        assert_one_write_per_item(&d.plan);
        assert!(account_puts(&d.plan).is_empty());
        assert_eq!(d.link, LinkDecision::NoEmail);
    }

    // ---- L9 unlinked users re-run L1 ----

    #[test]
    fn l9_write_needs_of_an_unlinked_user_load_its_email_account() {
        let old = user("u1", user_doc("ada", Some("ada@example.com")), None);
        let same = set(old.doc.clone(), "title", json!("x"));
        assert_eq!(
            user_write_needs(Some(&old), &same),
            UserWriteNeeds {
                email: Some("ada@example.com".into()),
                ..Default::default()
            }
        );
    }

    #[test]
    fn l9_replace_of_an_unlinked_user_links_it_again() {
        let old = user("u1", user_doc("ada", Some("ada@example.com")), None);
        let state = UserWriteState {
            existing: Some(old.clone()),
            email_account: Some(account("acc-1", "ada@example.com", Origin::Scim)),
            ..Default::default()
        };
        let new = set(old.doc.clone(), "title", json!("x"));
        let d = plan_user_replace(&ctx(), &state, new).unwrap();
        assert_one_write_per_item(&d.plan);
        assert_eq!(
            d.link,
            LinkDecision::TookOver {
                account_id: "acc-1".into()
            }
        );
        assert_eq!(d.user.account_id.as_deref(), Some("acc-1"));
        assert_eq!(d.user.version, 4);
        let (a, _) = account_put(&d.plan, "acc-1");
        assert_eq!(a.managed_by, by_dir());
        assert_eq!(only_event(&d.plan).outcome, Outcome::Relinked);

        // No account for the email any more: one is created.
        let state = UserWriteState {
            existing: Some(old.clone()),
            ..Default::default()
        };
        let d = plan_user_replace(&ctx(), &state, old.doc.clone()).unwrap();
        assert!(matches!(d.link, LinkDecision::Created { .. }));
        assert_eq!(only_event(&d.plan).outcome, Outcome::Created);

        // Held by another SCIM user meanwhile: refused (L3).
        let state = UserWriteState {
            existing: Some(old.clone()),
            email_account: Some(linked(
                account("acc-1", "ada@example.com", Origin::Scim),
                OTHER_DIR,
                "u-other",
            )),
            ..Default::default()
        };
        assert_refusal_is_one_logged_409(&refused(plan_user_replace(
            &ctx(),
            &state,
            old.doc.clone(),
        )));
    }

    #[test]
    fn l9_replace_of_a_user_without_email_stays_unlinked() {
        let old = user("u1", user_doc("ada", None), None);
        let state = UserWriteState {
            existing: Some(old.clone()),
            ..Default::default()
        };
        let d =
            plan_user_replace(&ctx(), &state, set(old.doc.clone(), "title", json!("x"))).unwrap();
        assert_eq!(d.link, LinkDecision::NoEmail);
        assert!(account_puts(&d.plan).is_empty());
    }

    // ---- E1 and the email index ----

    #[test]
    fn e1_user_events_carry_the_request_context() {
        let doc = set(
            user_doc("ada", Some("ada@example.com")),
            "externalId",
            json!("ext-1"),
        );
        let d = create(&UserWriteState::default(), doc);
        let e = only_event(&d.plan);
        assert_eq!(e.org_id, ORG);
        assert_eq!(e.directory_id.as_deref(), Some(DIR));
        assert_eq!(e.time, NOW);
        assert_eq!(e.request_id.as_deref(), Some("req-1"));
        assert_eq!(e.idp.as_deref(), Some("okta"));
        assert_eq!(e.operation, "POST /Users");
        assert_eq!(e.scim_id.as_deref(), Some("u1"));
        assert_eq!(e.external_id.as_deref(), Some("ext-1"));
        assert_eq!(e.email.as_deref(), Some("ada@example.com"));
        assert_eq!(e.quirks, vec!["okta-string-boolean".to_string()]);
        assert!(!e.message.is_empty());
    }

    #[test]
    fn e1_replace_without_current_user_is_an_internal_error() {
        let r = plan_user_replace(&ctx(), &UserWriteState::default(), user_doc("a", None));
        assert_eq!(r.err().map(|r| r.error.status), Some(500));
    }

    #[test]
    fn s2_indexed_emails_are_normalized_primary_first_and_deduplicated() {
        let doc = json!({
            "userName": "ada",
            "emails": [
                {"value": " Home@Example.net ", "type": "home"},
                {"value": "ADA@example.com", "primary": true, "type": "work"},
                {"value": "home@example.net"},
                {"value": "  "},
                {"type": "other"},
            ],
        });
        assert_eq!(
            indexed_emails(&doc),
            vec![
                "ada@example.com".to_string(),
                "home@example.net".to_string()
            ]
        );
        assert_eq!(
            indexed_emails(&json!({"userName": "Ada@Example.com"})),
            vec!["ada@example.com".to_string()]
        );
        assert!(indexed_emails(&json!({"userName": "ada"})).is_empty());
    }

    // ---- no plan writes one item twice ----

    fn doc_variants() -> Vec<Value> {
        let mut out = Vec::new();
        for user_name in ["ada", "Ada.New"] {
            for email in [
                None,
                Some("ada@example.com"),
                Some("ada.new@example.com"),
                Some("ada@partner.org"),
                Some("ada@other.org"),
            ] {
                for ext in [None, Some("ext-1"), Some("ext-2")] {
                    for active in [true, false] {
                        let mut doc = set(user_doc(user_name, email), "active", json!(active));
                        if let Some(e) = ext {
                            doc["externalId"] = json!(e);
                        }
                        if let Some(e) = email {
                            // A second email equal to the primary but for its case and spaces.
                            doc["emails"] = json!([
                                {"value": e, "primary": true, "type": "work"},
                                {"value": format!(" {} ", e.to_uppercase()), "type": "home"},
                                {"value": "shared@home.net", "type": "home"},
                            ]);
                        }
                        out.push(doc);
                    }
                }
            }
        }
        out
    }

    fn account_variants(email: &str) -> Vec<Option<AccountRecord>> {
        let plain = account("acc-x", email, Origin::Invited);
        vec![
            None,
            Some(plain.clone()),
            Some(linked(plain.clone(), DIR, "u1")),
            Some(linked(plain, OTHER_DIR, "u-other")),
        ]
    }

    fn check(r: Result<UserDecision, Refusal>) {
        match r {
            Ok(d) => {
                assert_one_write_per_item(&d.plan);
                assert_eq!(d.plan.events().count(), 1);
            }
            Err(r) => {
                assert_one_write_per_item(&r.plan);
                assert_eq!(r.plan.writes.len(), 1);
            }
        }
    }

    #[test]
    fn e1_no_user_plan_writes_one_item_twice() {
        let mut c = ctx();
        c.default_groups = vec!["dg-1".into(), "dg-2".into()];
        let docs = doc_variants();
        let mut plans = 0;
        for new in &docs {
            let email = primary_email(new).unwrap_or_default();
            for email_account in account_variants(&email) {
                let state = UserWriteState {
                    email_account: email_account.clone(),
                    ..Default::default()
                };
                check(plan_user_create(&c, &state, "u1", new.clone()));
                plans += 1;
                for old_doc in &docs {
                    let old_email = primary_email(old_doc).unwrap_or_default();
                    for linked_acc in [
                        None,
                        Some(linked(
                            account("acc-1", &old_email, Origin::Scim),
                            DIR,
                            "u1",
                        )),
                    ] {
                        let old = user(
                            "u1",
                            old_doc.clone(),
                            linked_acc.as_ref().map(|a| a.id.as_str()),
                        );
                        let state = UserWriteState {
                            existing: Some(old.clone()),
                            linked_account: linked_acc.clone(),
                            email_account: email_account.clone(),
                            ..Default::default()
                        };
                        check(plan_user_replace(&c, &state, new.clone()));
                        let d = plan_user_delete(
                            &c,
                            &old,
                            linked_acc.as_ref(),
                            &["g1".to_string(), "g2".to_string()],
                        );
                        assert_one_write_per_item(&d.plan);
                        plans += 2;
                    }
                }
            }
        }
        assert!(plans > 10_000, "{plans}");
    }
}
