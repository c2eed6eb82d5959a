//! Admin writes about accounts: invites and JIT sign-ins (L10), unlink and relink (L9).

use std::collections::BTreeSet;

use super::users::load_user;
use super::{Caller, Decision, Writer, Written};
use crate::directory::accounts::{
    plan_invite, plan_jit_sign_in, plan_relink, plan_unlink, JitReport, JitState,
};
use crate::directory::model::{AccountRecord, OrgRecord, Profile, UserRecord};
use crate::directory::plan::Refusal;
use crate::directory::users::{LinkDecision, UserWriteNeeds};
use crate::scim::error::ScimError;
use crate::scim::resource::primary_email;

/// What a JIT sign-in did: the account, and what happened to each group name asserted.
#[derive(Debug, Clone)]
pub struct JitOutcome {
    pub account: AccountRecord,
    pub report: JitReport,
}

impl Writer<'_> {
    /// POST /invites (L10): an account of origin `invited`; 409 if the email has one.
    pub async fn invite(
        &self,
        caller: &Caller,
        org: &OrgRecord,
        email: &str,
        profile: Profile,
    ) -> Result<Written<AccountRecord>, ScimError> {
        self.run(|| async {
            let existing = self.store.account_by_email(&caller.org_id, email).await?;
            let ctx = caller.context("POST /invites".into(), Vec::new(), Some(org));
            let decided =
                plan_invite(&ctx, existing.as_ref(), email, profile.clone()).map_err(Refusal::from);
            Ok(Decision::from(decided))
        })
        .await
    }

    /// POST /jit-sign-ins (L10): what a SAML sign-in asserted: email, names, group names.
    pub async fn jit_sign_in(
        &self,
        caller: &Caller,
        org: &OrgRecord,
        email: &str,
        profile: Profile,
        group_names: &[String],
    ) -> Result<Written<JitOutcome>, ScimError> {
        self.run(|| async {
            let org_id = &caller.org_id;
            let account = self.store.account_by_email(org_id, email).await?;
            let groups = self.store.org_groups_by_names(org_id, group_names).await?;
            let memberships: BTreeSet<String> = match &account {
                Some(a) => self
                    .store
                    .org_groups_of_account(org_id, &a.id)
                    .await?
                    .into_iter()
                    .collect(),
                None => BTreeSet::new(),
            };
            let state = JitState {
                account,
                groups,
                memberships,
            };
            let ctx = caller.context("POST /jit-sign-ins".into(), Vec::new(), Some(org));
            let (plan, account, report) = plan_jit_sign_in(&ctx, &state, email, profile.clone());
            Ok(Decision::Apply(plan, JitOutcome { account, report }))
        })
        .await
    }

    /// POST /directories/{d}/users/{u}/unlink (L9): the account returns to `admin`.
    pub async fn unlink(
        &self,
        caller: &Caller,
        org: &OrgRecord,
        user_id: &str,
    ) -> Result<Written<UserRecord>, ScimError> {
        self.run(|| async {
            let user = load_user(self.store, &caller.directory_id, user_id).await?;
            let account = match &user.account_id {
                Some(a) => self.store.get_account(&caller.org_id, a).await?,
                None => None,
            };
            let operation = format!(
                "POST /directories/{}/users/{user_id}/unlink",
                caller.directory_id
            );
            let ctx = caller.context(operation, Vec::new(), Some(org));
            let decided = plan_unlink(&ctx, &user, account.as_ref()).map_err(Refusal::from);
            Ok(Decision::from(decided))
        })
        .await
    }

    /// POST /directories/{d}/users/{u}/relink (L9): L1 again on the user's current email.
    pub async fn relink(
        &self,
        caller: &Caller,
        user_id: &str,
    ) -> Result<Written<(UserRecord, LinkDecision)>, ScimError> {
        self.run(|| async {
            let user = load_user(self.store, &caller.directory_id, user_id).await?;
            let needs = UserWriteNeeds {
                email: primary_email(&user.doc),
                ..UserWriteNeeds::default()
            };
            let (org, state) = self
                .store
                .load_user_write(
                    &caller.org_id,
                    &caller.directory_id,
                    Some(user.clone()),
                    &needs,
                )
                .await?;
            let operation = format!(
                "POST /directories/{}/users/{user_id}/relink",
                caller.directory_id
            );
            let ctx = caller.context(operation, Vec::new(), org.as_ref());
            let decided = plan_relink(
                &ctx,
                &user,
                state.email_account.as_ref(),
                state.email_holder.as_ref(),
            )
            .map(|(plan, user, link)| (plan, (user, link)));
            Ok(Decision::from(decided))
        })
        .await
    }
}
