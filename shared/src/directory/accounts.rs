//! Decisions the org's administrators make about accounts: invites and JIT sign-ins (L10),
//! unlinking and relinking SCIM users (L9). Pure, like every plan.

use std::collections::BTreeSet;

use serde_json::Value;

use super::model::{
    AccountRecord, AccountStatus, Guard, ManagedBy, OrgGroupRecord, Origin, Outcome, Profile,
    UserRecord,
};
use super::plan::{Condition, Plan, Record};
use super::users::{
    link_to_email, linked_id, unlink_account, Holder, LinkDecision, Refusal, WriteContext,
};
use crate::scim::error::ScimError;
use crate::scim::resource::primary_email;

fn new_account(ctx: &WriteContext, email: &str, origin: Origin, profile: Profile) -> AccountRecord {
    AccountRecord {
        org_id: ctx.org_id.clone(),
        id: uuid::Uuid::new_v4().to_string(),
        email: email.to_string(),
        origin,
        managed_by: ManagedBy::Admin,
        status: AccountStatus::Active,
        profile,
        link: None,
        version: 1,
        created: ctx.now.clone(),
        last_modified: ctx.now.clone(),
    }
}

fn put_new_account(ctx: &WriteContext, plan: &mut Plan, account: &AccountRecord) {
    ctx.join_default_groups(plan, &account.id);
    plan.put(
        Record::Guard(
            Guard::AccountEmail {
                org_id: account.org_id.clone(),
                email: account.email.clone(),
            },
            account.id.clone(),
        ),
        Condition::Absent,
    );
    plan.put(Record::Account(account.clone()), Condition::Absent);
}

fn account_event(
    ctx: &WriteContext,
    account: &AccountRecord,
    outcome: Outcome,
    message: String,
) -> super::model::EventRecord {
    super::model::EventRecord {
        email: Some(account.email.clone()),
        ..ctx.event(outcome, message)
    }
}

/// L10: an admin invites an email: a new account of origin `invited`.
pub fn plan_invite(
    ctx: &WriteContext,
    existing: Option<&AccountRecord>,
    email: &str,
    profile: Profile,
) -> Result<(Plan, AccountRecord), ScimError> {
    if let Some(a) = existing {
        return Err(ScimError::uniqueness(format!(
            "an account with email {email} already exists ({}, origin {:?})",
            a.id, a.origin
        )));
    }
    let account = new_account(ctx, email, Origin::Invited, profile);
    let mut plan = Plan::default();
    put_new_account(ctx, &mut plan, &account);
    plan.event(account_event(
        ctx,
        &account,
        Outcome::Created,
        format!(
            "Invited {email}: account {} ({}). An IdP that provisions this email later links to it.",
            account.id,
            kind_word(ctx, email)
        ),
    ));
    Ok((plan, account))
}

fn kind_word(ctx: &WriteContext, email: &str) -> &'static str {
    match ctx.kind_of(email) {
        super::model::AccountKind::Managed => "managed",
        super::model::AccountKind::External => "external",
    }
}

/// What a JIT sign-in loaded: the account of the email, and each SAML group name's org group.
#[derive(Debug, Clone, Default)]
pub struct JitState {
    pub account: Option<AccountRecord>,
    /// (the name as asserted, the org group of that name if any)
    pub groups: Vec<(String, Option<OrgGroupRecord>)>,
    /// Org groups the account already belongs to (among those named).
    pub memberships: BTreeSet<String>,
}

/// The answer to a JIT sign-in: the account and what happened to each group name.
#[derive(Debug, Clone, Default)]
pub struct JitReport {
    pub joined: Vec<String>,
    pub already: Vec<String>,
    /// (name, why it was not applied)
    pub ignored: Vec<(String, String)>,
}

/// L10: a JIT sign-in. Creates the account if absent (origin `jit`); SAML group names are
/// matched to org groups by name, never create a group, and never touch one a directory
/// manages. Memberships are only added: a sign-in that omits a group does not remove it.
pub fn plan_jit_sign_in(
    ctx: &WriteContext,
    state: &JitState,
    email: &str,
    profile: Profile,
) -> (Plan, AccountRecord, JitReport) {
    let mut plan = Plan::default();
    let mut report = JitReport::default();
    let (account, created) = match &state.account {
        Some(a) => (a.clone(), false),
        None => {
            let a = new_account(ctx, email, Origin::Jit, profile.clone());
            put_new_account(ctx, &mut plan, &a);
            (a, true)
        }
    };
    // An existing admin-managed account takes the profile the IdP asserted; one managed by a
    // directory keeps the directory's (L2).
    if !created && account.managed_by == ManagedBy::Admin && account.link.is_none() {
        let mut next = account.clone();
        let merged = Profile {
            display_name: profile
                .display_name
                .clone()
                .or(account.profile.display_name.clone()),
            given_name: profile
                .given_name
                .clone()
                .or(account.profile.given_name.clone()),
            family_name: profile
                .family_name
                .clone()
                .or(account.profile.family_name.clone()),
            title: account.profile.title.clone(),
            department: account.profile.department.clone(),
        };
        if merged != account.profile {
            next.profile = merged;
            next.version = account.version + 1;
            next.last_modified = ctx.now.clone();
            plan.put(Record::Account(next), Condition::Version(account.version));
        }
    }
    for (name, group) in &state.groups {
        match group {
            None => report.ignored.push((
                name.clone(),
                "no org group has this name; JIT never creates groups".into(),
            )),
            Some(g) => match &g.managed_by {
                ManagedBy::Directory { directory_id } => report.ignored.push((
                    name.clone(),
                    format!(
                        "the group is managed by directory {directory_id}; JIT never changes it"
                    ),
                )),
                ManagedBy::Admin if state.memberships.contains(&g.id) => {
                    report.already.push(g.name.clone())
                }
                ManagedBy::Admin => {
                    plan.put(
                        Record::OrgMember {
                            org_id: ctx.org_id.clone(),
                            org_group_id: g.id.clone(),
                            account_id: account.id.clone(),
                        },
                        Condition::Always,
                    );
                    report.joined.push(g.name.clone());
                }
            },
        }
    }
    let mut sentence = if created {
        format!(
            "JIT sign-in created account {} for {email} ({}).",
            account.id,
            kind_word(ctx, email)
        )
    } else {
        format!("JIT sign-in of {email} (account {}).", account.id)
    };
    if !report.joined.is_empty() {
        sentence.push_str(&format!(" Joined {}.", report.joined.join(", ")));
    }
    for (name, why) in &report.ignored {
        sentence.push_str(&format!(" Ignored '{name}': {why}."));
    }
    if !plan.is_empty() {
        let outcome = if created {
            Outcome::Created
        } else {
            Outcome::Updated
        };
        plan.event(account_event(ctx, &account, outcome, sentence));
    }
    (plan, account, report)
}

/// L9: the admin unlinks a SCIM user from its account; the account returns to `admin`.
pub fn plan_unlink(
    ctx: &WriteContext,
    user: &UserRecord,
    account: Option<&AccountRecord>,
) -> Result<(Plan, UserRecord), ScimError> {
    let Some(account_id) = &user.account_id else {
        return Err(ScimError::new(
            409,
            None,
            format!("SCIM user {} is not linked to an account", user.id),
        ));
    };
    let mut plan = Plan::default();
    let mut next = user.clone();
    next.account_id = None;
    next.version = user.version + 1;
    next.last_modified = ctx.now.clone();
    let email = account.map(|a| a.email.clone()).unwrap_or_default();
    if let Some(acc) = account.filter(|a| &a.id == account_id) {
        unlink_account(ctx, &mut plan, acc, false);
    }
    plan.put(Record::User(next.clone()), Condition::Version(user.version));
    plan.event(ctx.user_event(
        &user.id,
        &user.doc,
        Outcome::Unlinked,
        format!(
            "An admin unlinked SCIM user {} from account {account_id} ({email}); the account is managed by admin again. The IdP's next write to this user, or a relink, links it by email again.",
            user.id
        ),
    ));
    Ok((plan, next))
}

/// L9: relink re-runs L1 on the SCIM user's current email.
pub fn plan_relink(
    ctx: &WriteContext,
    user: &UserRecord,
    email_account: Option<&AccountRecord>,
    email_holder: Option<&Holder>,
) -> Result<(Plan, UserRecord, LinkDecision), Refusal> {
    if let Some(a) = &user.account_id {
        return Err(ScimError::new(
            409,
            None,
            format!(
                "SCIM user {} is already linked to account {a}; unlink it first",
                user.id
            ),
        )
        .into());
    }
    let email = primary_email(&user.doc).ok_or_else(|| {
        ScimError::invalid_value(format!("SCIM user {} has no email to link by", user.id))
    })?;
    let mut plan = Plan::default();
    let (decision, message, _) = link_to_email(
        ctx,
        &mut plan,
        &user.id,
        &user.doc,
        &email,
        email_account,
        email_holder,
    )?;
    let mut next = user.clone();
    next.account_id = linked_id(&decision);
    next.version = user.version + 1;
    next.last_modified = ctx.now.clone();
    plan.put(Record::User(next.clone()), Condition::Version(user.version));
    plan.event(ctx.user_event(
        &user.id,
        &user.doc,
        Outcome::Relinked,
        format!("An admin relinked SCIM user {}. {message}", user.id),
    ));
    Ok((plan, next, decision))
}

/// The profile an admin or a SAML assertion gives: `displayName`, `givenName`, `familyName`.
pub fn profile_from_admin(body: &Value) -> Profile {
    let s = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    Profile {
        display_name: s("displayName"),
        given_name: s("givenName"),
        family_name: s("familyName"),
        title: s("title"),
        department: s("department"),
    }
}
