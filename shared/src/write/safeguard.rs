//! E4: the mass-deprovisioning safeguard in the write service. Every write a directory's
//! IdP makes passes [`Writer::guard`] before it applies (or answers a dry run); admins set
//! the safeguard and decide its holds through the other methods here.

use std::collections::BTreeSet;

use super::changes::access_world_of;
use super::{Caller, Decision, Writer, Written};
use crate::directory::access::{effective_groups, effective_roles};
use crate::directory::changes::AccessWorld;
use crate::directory::context::WriteContext;
use crate::directory::model::{AccountRecord, SafeguardRecord};
use crate::directory::plan::{Plan, Record, Write};
use crate::directory::safeguard::{
    default_record, deprovisionings, hold, may_deprovision, plan_hold_decision, plan_reset,
    plan_settings, window_closed, with_settings, HoldDecision, SafeguardSettings,
};
use crate::scim::error::ScimError;
use crate::store::StoreError;

/// What an admin's decision on a hold did (or would do, on a dry run).
#[derive(Debug, Clone)]
pub struct HoldDecided {
    /// The account as it was, with its hold.
    pub account: AccountRecord,
    /// The roles the decision takes from it.
    pub revoked: BTreeSet<String>,
}

impl Writer<'_> {
    /// Reads what the plan's access events need and, for a directory's write that
    /// deprovisions someone while the directory's safeguard is on, counts it and holds
    /// what is past the threshold (rewriting `plan`). A write that cannot take anything
    /// (a create, a profile change, an addition) reads nothing more than its events need
    /// (nothing at all on a dry run); one that can reads the safeguard (one `GetItem`, in
    /// the same round trip) and, when a window opens, the directory's user count.
    pub(super) async fn guard(&self, plan: &mut Plan) -> Result<AccessWorld, StoreError> {
        let Some(directory_id) = self.safeguarded.filter(|_| may_deprovision(plan)) else {
            // A dry run derives no events: the world would be read for nothing.
            if self.dry_run {
                return Ok(AccessWorld::default());
            }
            return access_world_of(self.store, plan).await;
        };
        // The safeguard is read beside the access world: one more request, no more waiting.
        let (world, sg) = futures::try_join!(
            access_world_of(self.store, plan),
            self.store.get_safeguard(directory_id)
        )?;
        let Some(sg) = sg.filter(|s| s.enabled) else {
            return Ok(world);
        };
        let found = deprovisionings(plan, &world);
        if found.is_empty() {
            return Ok(world);
        }
        let Some(ctx) = plan.events().next().map(WriteContext::of_event) else {
            return Ok(world);
        };
        let users = if window_closed(&sg, &ctx.now) && sg.tripped.is_none() {
            Some(self.store.directory_user_count(directory_id).await?)
        } else {
            None
        };
        let guarded = hold(&ctx, plan, &sg, users, found);
        if guarded.tripped {
            tracing::warn!(
                directory = %directory_id,
                held = guarded.held.len(),
                "safeguard tripped: further deprovisioning is held for an admin"
            );
        } else if !guarded.held.is_empty() {
            tracing::info!(directory = %directory_id, held = guarded.held.len(), "safeguard held deprovisioning");
        }
        Ok(world)
    }

    /// The safeguard of one of the org's directories (the default, off, when never set).
    pub async fn safeguard_of(
        &self,
        caller: &Caller,
        directory_id: &str,
    ) -> Result<SafeguardRecord, ScimError> {
        Ok(self
            .store
            .get_safeguard(directory_id)
            .await?
            .unwrap_or_else(|| default_record(&caller.org_id, directory_id, "")))
    }

    /// PUT .../safeguard: changes the settings (a no-op when they are already so).
    pub async fn set_safeguard(
        &self,
        caller: &Caller,
        directory_id: &str,
        settings: &SafeguardSettings,
    ) -> Result<Written<SafeguardRecord>, ScimError> {
        self.run(|| async {
            let current = self.safeguard_of(caller, directory_id).await?;
            let next = with_settings(&current, settings)?;
            let ctx = caller.in_directory(directory_id).context(
                "PUT /safeguard".into(),
                Vec::new(),
                None,
            );
            let plan = plan_settings(&ctx, &current, next.clone()).unwrap_or_default();
            let mut shown = next;
            if !plan.is_empty() {
                shown.version = current.version + 1;
            }
            Ok(Decision::Apply(plan, shown))
        })
        .await
    }

    /// An admin approves or releases one account's hold. The outcome is `None` when the
    /// account has no hold (any more) from this directory, else the account as it was and
    /// the roles the decision takes from it.
    pub async fn decide_hold(
        &self,
        caller: &Caller,
        directory_id: &str,
        account_id: &str,
        decision: HoldDecision,
    ) -> Result<Written<Option<HoldDecided>>, ScimError> {
        let operation = format!("POST /safeguard/holds/{}", decision.as_str());
        let written = self
            .run(|| async {
                let account = self
                    .store
                    .get_account(&caller.org_id, account_id)
                    .await?
                    .filter(|a| {
                        a.hold
                            .as_ref()
                            .is_some_and(|h| h.directory_id == directory_id)
                    });
                let Some(account) = account else {
                    return Ok(Decision::Apply(Plan::default(), None));
                };
                let ctx =
                    caller
                        .in_directory(directory_id)
                        .context(operation.clone(), Vec::new(), None);
                let plan = plan_hold_decision(&ctx, &account, decision).unwrap_or_default();
                Ok(Decision::Apply(plan, Some(account)))
            })
            .await?;
        let outcome = match &written.outcome {
            Some(account) => Some(HoldDecided {
                revoked: self.roles_taken(account, &written.plan).await?,
                account: account.clone(),
            }),
            None => None,
        };
        Ok(Written {
            outcome,
            plan: written.plan,
            dry_run: written.dry_run,
        })
    }

    /// The roles `account` (as it was) has and would no longer have as the plan writes it.
    async fn roles_taken(
        &self,
        account: &AccountRecord,
        plan: &Plan,
    ) -> Result<BTreeSet<String>, ScimError> {
        let Some(next) = plan.writes.iter().find_map(|w| match w {
            Write::Put(Record::Account(a), _) if a.id == account.id => Some(a),
            _ => None,
        }) else {
            return Ok(BTreeSet::new());
        };
        let (admin, synced) = self.store.account_groups(account).await?;
        let groups = effective_groups(admin, synced);
        let before = effective_roles(account, &groups);
        let after = effective_roles(next, &groups);
        Ok(before.difference(&after).cloned().collect())
    }

    /// Ends a directory's trip (once every hold is decided): its window starts afresh.
    pub async fn reset_safeguard(
        &self,
        caller: &Caller,
        directory_id: &str,
    ) -> Result<Written<bool>, ScimError> {
        self.run(|| async {
            let Some(sg) = self.store.get_safeguard(directory_id).await? else {
                return Ok(Decision::Apply(Plan::default(), false));
            };
            let ctx = caller.in_directory(directory_id).context(
                "POST /safeguard/holds".into(),
                Vec::new(),
                None,
            );
            match plan_reset(&ctx, &sg) {
                Some(plan) => Ok(Decision::Apply(plan, true)),
                None => Ok(Decision::Apply(Plan::default(), false)),
            }
        })
        .await
    }
}
