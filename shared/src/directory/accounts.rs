//! Decisions the org's administrators make about accounts: invites and JIT sign-ins (L10),
//! unlinking and relinking SCIM users (L9). Pure, like every plan.

use std::collections::BTreeSet;

use serde_json::Value;

use super::context::WriteContext;
use super::model::{
    AccountRecord, AccountStatus, Guard, ManagedBy, OrgGroupRecord, Origin, Outcome, Profile,
    UserRecord,
};
use super::plan::Refusal;
use super::plan::{Condition, Plan, Record};
use super::users::{link_to_email, linked_id, unlink_account, Holder, LinkDecision};
use crate::scim::error::ScimError;
use crate::scim::resource::primary_email;

fn new_account(ctx: &WriteContext, email: &str, origin: Origin, profile: Profile) -> AccountRecord {
    AccountRecord {
        org_id: ctx.org_id.clone(),
        id: ctx.ids.next_id(),
        email: email.to_string(),
        origin,
        managed_by: ManagedBy::Admin,
        status: AccountStatus::Active,
        profile,
        link: None,
        hold: None,
        assigned_roles: Vec::new(),
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
            plan.prior(Record::Account(account.clone()));
        }
    }
    // Org groups the account is in once this plan applies: one write per membership item.
    let mut joined: BTreeSet<String> = state.memberships.clone();
    if created {
        joined.extend(ctx.default_groups.iter().cloned());
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
                // Already a member, joined as a new account's default group, or named twice.
                ManagedBy::Admin if !joined.insert(g.id.clone()) => {
                    if !report.already.contains(&g.name) && !report.joined.contains(&g.name) {
                        report.already.push(g.name.clone());
                    }
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
    plan.prior(Record::User(user.clone()));
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
    plan.prior(Record::User(user.clone()));
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

#[cfg(test)]
mod tests {
    //! The admins' account decisions (L9, L10, E1).

    use serde_json::json;

    use super::*;
    use crate::directory::model::{EventRecord, LinkRef};
    use crate::directory::plan::Write;
    use crate::directory::testkit::{
        account, account_put, account_puts, assert_one_write_per_item, ctx, email_guard,
        guard_puts, linked, only_event, org_member_puts, owner_profile, puts, user, user_doc, DIR,
        EARLIER, NOW, ORG, OTHER_DIR,
    };
    use crate::scim::error::ScimType;

    /// An admin call: no directory.
    fn actx() -> WriteContext {
        WriteContext {
            directory_id: String::new(),
            idp: "admin".into(),
            operation: "POST /jit-sign-ins".into(),
            quirks: Vec::new(),
            default_groups: vec!["dg-1".into()],
            assignable_roles: Vec::new(),
            ..ctx()
        }
    }

    /// The directory context a relink decides in (the SCIM user's directory).
    fn dctx() -> WriteContext {
        WriteContext {
            operation: "POST /unlinked-users/u1/relink".into(),
            ..ctx()
        }
    }

    fn saml_profile() -> Profile {
        Profile {
            display_name: Some("Ada L.".into()),
            given_name: Some("Ada".into()),
            family_name: None,
            title: None,
            department: None,
        }
    }

    fn org_group(id: &str, name: &str, managed_by: ManagedBy) -> OrgGroupRecord {
        OrgGroupRecord {
            org_id: ORG.into(),
            id: id.into(),
            name: name.into(),
            managed_by,
            scim_group: None,
            roles: vec!["jira/user".into()],
            version: 2,
            created: EARLIER.into(),
            last_modified: EARLIER.into(),
        }
    }

    fn jit_state(
        account: Option<AccountRecord>,
        groups: Vec<(&str, Option<OrgGroupRecord>)>,
        memberships: &[&str],
    ) -> JitState {
        JitState {
            account,
            groups: groups
                .into_iter()
                .map(|(n, g)| (n.to_string(), g))
                .collect(),
            memberships: memberships.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn jit(state: &JitState) -> (Plan, AccountRecord, JitReport) {
        let out = plan_jit_sign_in(&actx(), state, "ada@example.com", saml_profile());
        assert_one_write_per_item(&out.0);
        out
    }

    fn events(plan: &Plan) -> Vec<&EventRecord> {
        plan.events().collect()
    }

    // ---- L10 invites ----

    #[test]
    fn l10_invite_creates_an_invited_account_with_its_email_guard() {
        let c = WriteContext {
            operation: "POST /invites".into(),
            ..actx()
        };
        let (plan, a) = plan_invite(&c, None, "ada@partner.org", saml_profile()).unwrap();
        assert_one_write_per_item(&plan);
        assert_eq!(a.origin, Origin::Invited);
        assert_eq!(a.email, "ada@partner.org");
        assert_eq!(a.managed_by, ManagedBy::Admin);
        assert_eq!(a.status, AccountStatus::Active);
        assert_eq!(a.link, None);
        assert_eq!(a.profile, saml_profile());
        let (put, cond) = account_put(&plan, &a.id);
        assert_eq!(*cond, Condition::Absent);
        assert_eq!(*put, a);
        assert!(guard_puts(&plan).contains(&(
            &email_guard("ada@partner.org"),
            a.id.as_str(),
            &Condition::Absent
        )));
        assert_eq!(
            org_member_puts(&plan),
            vec![("dg-1".to_string(), a.id.clone())]
        );
        let e = only_event(&plan);
        assert_eq!(e.outcome, Outcome::Created);
        assert_eq!(e.email.as_deref(), Some("ada@partner.org"));
        assert_eq!(e.directory_id, None, "an admin call logs to the org");
        assert!(e.message.contains("external"), "{}", e.message);
    }

    #[test]
    fn l10_invite_of_an_existing_email_is_refused() {
        let existing = account("acc-1", "ada@example.com", Origin::Jit);
        let e = plan_invite(
            &actx(),
            Some(&existing),
            "ada@example.com",
            Profile::default(),
        )
        .unwrap_err();
        assert_eq!(e.status, 409);
        assert_eq!(e.scim_type, Some(ScimType::Uniqueness));
        assert!(e.detail.contains("ada@example.com") && e.detail.contains("acc-1"));
    }

    // ---- L10 JIT sign-in ----

    #[test]
    fn l10_jit_sign_in_creates_a_jit_account_when_absent() {
        let (plan, a, report) = jit(&jit_state(None, vec![], &[]));
        assert_eq!(a.origin, Origin::Jit);
        assert_eq!(a.email, "ada@example.com");
        assert_eq!(a.managed_by, ManagedBy::Admin);
        assert_eq!(a.link, None, "JIT is not SCIM (L8)");
        let (put, cond) = account_put(&plan, &a.id);
        assert_eq!(*cond, Condition::Absent);
        assert_eq!(put.profile, saml_profile());
        assert!(guard_puts(&plan).contains(&(
            &email_guard("ada@example.com"),
            a.id.as_str(),
            &Condition::Absent
        )));
        assert_eq!(
            org_member_puts(&plan),
            vec![("dg-1".to_string(), a.id.clone())]
        );
        assert!(report.joined.is_empty() && report.ignored.is_empty());
        let e = only_event(&plan);
        assert_eq!(e.outcome, Outcome::Created);
        assert_eq!(e.operation, "POST /jit-sign-ins");
    }

    #[test]
    fn l10_jit_group_names_never_create_groups_nor_touch_directory_groups() {
        let existing = account("acc-1", "ada@example.com", Origin::Invited);
        let state = jit_state(
            Some(existing),
            vec![
                ("Nobody", None),
                (
                    "Synced",
                    Some(org_group(
                        "og-dir",
                        "Synced",
                        ManagedBy::Directory {
                            directory_id: DIR.into(),
                        },
                    )),
                ),
                (
                    "Jira users",
                    Some(org_group("og-admin", "Jira Users", ManagedBy::Admin)),
                ),
            ],
            &[],
        );
        let (plan, a, report) = jit(&state);
        assert_eq!(a.id, "acc-1");
        assert!(
            plan.writes
                .iter()
                .all(|w| !matches!(w, Write::Put(Record::OrgGroup(_) | Record::Guard(..), _))),
            "no group is created: {:#?}",
            plan.writes
        );
        assert_eq!(
            org_member_puts(&plan),
            vec![("og-admin".to_string(), "acc-1".to_string())]
        );
        assert_eq!(report.joined, vec!["Jira Users".to_string()]);
        let ignored: Vec<&str> = report.ignored.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(ignored, vec!["Nobody", "Synced"]);
        assert!(report.ignored[0].1.contains("never creates"));
        assert!(report.ignored[1].1.contains(DIR));
        let e = only_event(&plan);
        assert_eq!(e.outcome, Outcome::Updated);
        assert!(e.message.contains("Ignored 'Nobody'") && e.message.contains("Ignored 'Synced'"));
    }

    #[test]
    fn l10_jit_sign_in_of_a_member_writes_nothing() {
        let mut existing = account("acc-1", "ada@example.com", Origin::Jit);
        existing.profile = saml_profile();
        let state = jit_state(
            Some(existing),
            vec![(
                "Jira Users",
                Some(org_group("og-admin", "Jira Users", ManagedBy::Admin)),
            )],
            &["og-admin"],
        );
        let (plan, _, report) = jit(&state);
        assert!(plan.is_empty(), "{:#?}", plan.writes);
        assert_eq!(report.already, vec!["Jira Users".to_string()]);
        assert!(report.joined.is_empty());
    }

    #[test]
    fn l10_jit_sign_in_merges_the_asserted_names_into_an_admin_managed_account() {
        let existing = account("acc-1", "ada@example.com", Origin::Invited);
        let (plan, _, _) = jit(&jit_state(Some(existing), vec![], &[]));
        let (a, cond) = account_put(&plan, "acc-1");
        assert_eq!(*cond, Condition::Version(5));
        assert_eq!(a.profile.display_name.as_deref(), Some("Ada L."));
        assert_eq!(a.profile.given_name.as_deref(), Some("Ada"));
        assert_eq!(a.profile.family_name, owner_profile().family_name, "kept");
        assert_eq!(a.profile.title, owner_profile().title, "not asserted: kept");
        assert_eq!(a.origin, Origin::Invited);
        assert_eq!(only_event(&plan).outcome, Outcome::Updated);
    }

    #[test]
    fn l10_jit_sign_in_leaves_the_profile_of_a_directory_managed_account() {
        let existing = linked(account("acc-1", "ada@example.com", Origin::Scim), DIR, "u1");
        let (plan, _, _) = jit(&jit_state(Some(existing), vec![], &[]));
        assert!(account_puts(&plan).is_empty(), "{:#?}", plan.writes);
    }

    #[test]
    fn l10_jit_named_default_group_of_a_new_account_is_joined_once() {
        // dg-1 is a default-access group of the org (actx) and is named in the assertion.
        let state = jit_state(
            None,
            vec![(
                "Everyone",
                Some(org_group("dg-1", "Everyone", ManagedBy::Admin)),
            )],
            &[],
        );
        let (plan, a, _) = plan_jit_sign_in(&actx(), &state, "ada@example.com", saml_profile());
        assert_eq!(org_member_puts(&plan), vec![("dg-1".to_string(), a.id)]);
        assert_one_write_per_item(&plan);
    }

    #[test]
    fn l10_jit_group_named_twice_is_joined_once() {
        let og = org_group("og-admin", "Jira Users", ManagedBy::Admin);
        let state = jit_state(
            Some(account("acc-1", "ada@example.com", Origin::Jit)),
            vec![("Jira Users", Some(og.clone())), ("jira users", Some(og))],
            &[],
        );
        let (plan, _, report) =
            plan_jit_sign_in(&actx(), &state, "ada@example.com", saml_profile());
        assert_eq!(
            org_member_puts(&plan),
            vec![("og-admin".to_string(), "acc-1".to_string())]
        );
        assert_eq!(report.joined, vec!["Jira Users".to_string()]);
        assert_one_write_per_item(&plan);
    }

    // ---- L9 unlink and relink ----

    #[test]
    fn l9_unlink_of_an_unlinked_user_is_refused() {
        let u = user("u1", user_doc("ada", Some("ada@example.com")), None);
        let e = plan_unlink(&dctx(), &u, None).unwrap_err();
        assert_eq!(e.status, 409);
        assert!(e.detail.contains("not linked"));
    }

    #[test]
    fn l9_unlink_returns_the_account_to_admin() {
        let u = user(
            "u1",
            user_doc("ada", Some("ada@example.com")),
            Some("acc-1"),
        );
        let acc = linked(account("acc-1", "ada@example.com", Origin::Scim), DIR, "u1");
        let (plan, next) = plan_unlink(&dctx(), &u, Some(&acc)).unwrap();
        assert_one_write_per_item(&plan);
        assert_eq!(next.account_id, None);
        assert_eq!(next.version, 4);
        assert!(puts(&plan).contains(&(&Record::User(next.clone()), &Condition::Version(3))));
        let (a, cond) = account_put(&plan, "acc-1");
        assert_eq!(*cond, Condition::Version(5));
        assert_eq!(a.link, None);
        assert_eq!(a.managed_by, ManagedBy::Admin);
        assert_eq!(
            a.status,
            AccountStatus::Active,
            "unlinking does not deactivate"
        );
        let e = only_event(&plan);
        assert_eq!(e.outcome, Outcome::Unlinked);
        assert_eq!(e.scim_id.as_deref(), Some("u1"));
    }

    #[test]
    fn l9_relink_of_a_linked_user_is_refused() {
        let u = user(
            "u1",
            user_doc("ada", Some("ada@example.com")),
            Some("acc-1"),
        );
        let r = plan_relink(&dctx(), &u, None, None).unwrap_err();
        assert_eq!(r.error.status, 409);
        assert!(r.error.detail.contains("already linked"));
        assert!(r.plan.is_empty());
    }

    #[test]
    fn l9_relink_of_a_user_without_email_is_invalid() {
        let u = user("u1", user_doc("ada", None), None);
        let r = plan_relink(&dctx(), &u, None, None).unwrap_err();
        assert_eq!(r.error.status, 400);
        assert_eq!(r.error.scim_type, Some(ScimType::InvalidValue));
    }

    #[test]
    fn l9_relink_reruns_l1_on_the_current_email() {
        let u = user("u1", user_doc("ada", Some("Ada@Example.com")), None);
        let acc = account("acc-1", "ada@example.com", Origin::Scim);
        let (plan, next, decision) = plan_relink(&dctx(), &u, Some(&acc), None).unwrap();
        assert_one_write_per_item(&plan);
        assert_eq!(
            decision,
            LinkDecision::TookOver {
                account_id: "acc-1".into()
            }
        );
        assert_eq!(next.account_id.as_deref(), Some("acc-1"));
        assert!(puts(&plan).contains(&(&Record::User(next), &Condition::Version(3))));
        let (a, _) = account_put(&plan, "acc-1");
        assert_eq!(
            a.link,
            Some(LinkRef {
                directory_id: DIR.into(),
                user_id: "u1".into()
            })
        );
        assert_eq!(
            a.managed_by,
            ManagedBy::Directory {
                directory_id: DIR.into()
            }
        );
        assert_eq!(only_event(&plan).outcome, Outcome::Relinked);

        // No account has the email any more: one is created, of origin scim.
        let (plan, next, decision) = plan_relink(&dctx(), &u, None, None).unwrap();
        assert_one_write_per_item(&plan);
        let LinkDecision::Created { account_id } = decision else {
            panic!("created")
        };
        assert_eq!(next.account_id.as_deref(), Some(account_id.as_str()));
        assert_eq!(account_put(&plan, &account_id).0.origin, Origin::Scim);
    }

    #[test]
    fn l9_relink_to_an_account_held_by_another_user_is_refused_and_logged() {
        let u = user("u1", user_doc("ada", Some("ada@example.com")), None);
        let held = linked(
            account("acc-1", "ada@example.com", Origin::Scim),
            OTHER_DIR,
            "u-9",
        );
        let holder = Holder {
            directory_id: OTHER_DIR.into(),
            user_id: "u-9".into(),
            external_id: Some("ext-9".into()),
        };
        let r = plan_relink(&dctx(), &u, Some(&held), Some(&holder)).unwrap_err();
        assert_eq!(r.error.status, 409);
        assert!(r
            .error
            .detail
            .starts_with("user with email ada@example.com already exists"));
        assert!(r.error.detail.contains("ext-9"));
        assert_eq!(r.plan.writes.len(), 1);
        assert_eq!(only_event(&r.plan).outcome, Outcome::Refused);
    }

    #[test]
    fn l10_profile_from_admin_trims_and_drops_empty_values() {
        let p = profile_from_admin(&json!({
            "displayName": "  Ada L. ",
            "givenName": "",
            "familyName": "Lovelace",
            "title": 3,
        }));
        assert_eq!(
            p,
            Profile {
                display_name: Some("Ada L.".into()),
                given_name: None,
                family_name: Some("Lovelace".into()),
                title: None,
                department: None,
            }
        );
    }

    // ---- E1 ----

    #[test]
    fn e1_admin_events_carry_the_request_context() {
        let (plan, _, _) = jit(&jit_state(None, vec![], &[]));
        let e = events(&plan)[0];
        assert_eq!(e.org_id, ORG);
        assert_eq!(e.time, NOW);
        assert_eq!(e.request_id.as_deref(), Some("req-1"));
        assert_eq!(e.email.as_deref(), Some("ada@example.com"));
    }

    /// Over the cases that work today; a named default group of a new account and a group
    /// named twice are the two ignored `l10_jit_*_once` tests above.
    #[test]
    fn e1_no_account_plan_writes_one_item_twice() {
        let admin = |id: &str, name: &str| Some(org_group(id, name, ManagedBy::Admin));
        let mut plans = 0;
        for existing in [
            None,
            Some(account("acc-1", "ada@example.com", Origin::Invited)),
            Some(linked(
                account("acc-1", "ada@example.com", Origin::Scim),
                DIR,
                "u1",
            )),
        ] {
            for groups in [
                vec![],
                vec![
                    ("Nobody", None),
                    ("Jira Users", admin("og-a", "Jira Users")),
                ],
                vec![
                    (
                        "Synced",
                        Some(org_group(
                            "og-d",
                            "Synced",
                            ManagedBy::Directory {
                                directory_id: DIR.into(),
                            },
                        )),
                    ),
                    ("Jira Users", admin("og-a", "Jira Users")),
                    ("Confluence", admin("og-c", "Confluence")),
                ],
            ] {
                for memberships in [&[][..], &["og-a"][..]] {
                    let state = jit_state(existing.clone(), groups.clone(), memberships);
                    jit(&state);
                    plans += 1;
                }
            }
            let _ = plan_invite(
                &actx(),
                existing.as_ref(),
                "ada@example.com",
                Profile::default(),
            )
            .map(|(plan, _)| assert_one_write_per_item(&plan));
        }
        for (doc, account_id) in [
            (user_doc("ada", Some("ada@example.com")), None),
            (user_doc("ada", Some("ada@partner.org")), None),
            (user_doc("ada", Some("ada@example.com")), Some("acc-1")),
        ] {
            let u = user("u1", doc, account_id);
            let email = crate::scim::resource::primary_email(&u.doc).unwrap_or_default();
            for acc in [
                None,
                Some(account("acc-1", &email, Origin::Invited)),
                Some(linked(account("acc-1", &email, Origin::Scim), DIR, "u1")),
                Some(linked(
                    account("acc-1", &email, Origin::Scim),
                    OTHER_DIR,
                    "u-9",
                )),
            ] {
                if let Ok((plan, _)) = plan_unlink(&dctx(), &u, acc.as_ref()) {
                    assert_one_write_per_item(&plan);
                }
                match plan_relink(&dctx(), &u, acc.as_ref(), None) {
                    Ok((plan, _, _)) => assert_one_write_per_item(&plan),
                    Err(r) => assert!(r.plan.writes.len() <= 1),
                }
                plans += 2;
            }
        }
        assert!(plans > 30, "{plans}");
    }
}
