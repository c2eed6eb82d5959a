//! Subscriptions to an org's events (E5): create, pause, resume, rotate, delete and
//! redeliver, each one write of the service with its log event (E1). The decisions are
//! `directory::subscriptions`; this loads what they need and applies them.

use super::{found, Caller, Decision, Writer, Written};
use crate::directory::model::TokenRecord;
use crate::directory::subscriptions::{
    new_subscription, plan_create_subscription, plan_delete_subscription, plan_redelivery,
    plan_subscription_change, redelivery_window, NewSubscription, SubscriptionChange,
};
use crate::events::subscription::DeliveryMethod;
use crate::events::subscription::SubscriptionRecord;
use crate::scim::error::ScimError;
use crate::store::log_retention_days;

/// What a redelivery did (or, on a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redelivery {
    /// The start, as stored times are written.
    pub from: String,
    /// The UTC days read.
    pub days: usize,
    /// Events of those days the subscription wants: queued again (or that would be).
    pub events: u64,
}

impl Writer<'_> {
    /// A new subscription with id `id`, and its receiver token when it is polled (the token
    /// is minted by the caller, who shows its secret once).
    pub async fn create_subscription(
        &self,
        caller: &Caller,
        operation: &str,
        id: &str,
        new: NewSubscription,
        receiver_token: Option<TokenRecord>,
    ) -> Result<Written<SubscriptionRecord>, ScimError> {
        self.run(|| async {
            // From GSI1, eventually consistent: two creates racing at the limit may both
            // pass; the limit bounds fan-out, it is not an invariant to the unit.
            let existing = self.store.subscriptions_of_org(&caller.org_id).await?.len();
            let ctx = caller.context(operation.to_string(), Vec::new(), None);
            let sub = new_subscription(&ctx, id, existing, new.clone())?;
            let plan = plan_create_subscription(&ctx, &sub, receiver_token.as_ref());
            Ok(Decision::Apply(plan, sub))
        })
        .await
    }

    /// Pause, resume or rotate the secret of one of the caller's org's subscriptions
    /// (404 for an unknown one, or another org's: the key names the org).
    pub async fn change_subscription(
        &self,
        caller: &Caller,
        operation: &str,
        subscription_id: &str,
        change: SubscriptionChange,
    ) -> Result<Written<SubscriptionRecord>, ScimError> {
        let resumed = matches!(change, SubscriptionChange::Resume);
        let written = self
            .run(|| async {
                let sub = self.subscription(caller, subscription_id).await?;
                let ctx = caller.context(operation.to_string(), Vec::new(), None);
                Ok(match plan_subscription_change(&ctx, &sub, change) {
                    Some((next, plan)) => Decision::Apply(plan, next),
                    // Already as asked: nothing to write (L4).
                    None => Decision::Apply(Default::default(), sub),
                })
            })
            .await?;
        // A resumed push subscription's backlog is drained by the next retry tick.
        let sub = &written.outcome;
        if resumed && !written.dry_run && matches!(sub.delivery, DeliveryMethod::Push { .. }) {
            self.store.mark_push_backlog(&sub.org_id, &sub.id).await?;
        }
        Ok(written)
    }

    /// Deletes a subscription and its receiver tokens in one transaction, then its queue
    /// and delivery state (see `Store::purge_subscription`).
    pub async fn delete_subscription(
        &self,
        caller: &Caller,
        operation: &str,
        subscription_id: &str,
    ) -> Result<Written<SubscriptionRecord>, ScimError> {
        let written = self
            .run(|| async {
                let sub = self.subscription(caller, subscription_id).await?;
                let tokens = self
                    .store
                    .receiver_tokens(&caller.org_id, subscription_id)
                    .await?;
                let ctx = caller.context(operation.to_string(), Vec::new(), None);
                let plan = plan_delete_subscription(&ctx, &sub, &tokens);
                Ok(Decision::Apply(plan, sub))
            })
            .await?;
        if !written.dry_run {
            self.store.purge_subscription(&written.outcome).await?;
        }
        Ok(written)
    }

    /// Queues again every change of the org since `from` that the subscription wants, read
    /// day by day from the org's change partitions (within the retention of change events,
    /// `SCIMLINK_LOG_RETENTION_DAYS`). Queue items are keyed by the event's order, so an
    /// event still queued is not queued twice, and a redelivery cut short is safely
    /// repeated. A dry run counts and queues nothing.
    pub async fn redeliver(
        &self,
        caller: &Caller,
        operation: &str,
        subscription_id: &str,
        from: &str,
    ) -> Result<Written<Redelivery>, ScimError> {
        let sub = self.subscription(caller, subscription_id).await?;
        let (from, days) = redelivery_window(from, &crate::clock::now(), log_retention_days())?;
        let mut events = 0u64;
        for day in &days {
            let changes: Vec<_> = self
                .store
                .changes_of_day(&caller.org_id, day, &from)
                .await?
                .into_iter()
                .filter(|c| sub.wants(&c.event))
                .collect();
            if !self.dry_run && !changes.is_empty() {
                self.store.enqueue(&sub, &changes).await?;
                // A push subscription's queue is drained by the next retry tick.
                if matches!(sub.delivery, DeliveryMethod::Push { .. }) {
                    self.store.mark_push_backlog(&sub.org_id, &sub.id).await?;
                }
            }
            events += changes.len() as u64;
        }
        let done = Redelivery {
            from,
            days: days.len(),
            events,
        };
        self.run(|| async {
            let ctx = caller.context(operation.to_string(), Vec::new(), None);
            let plan = plan_redelivery(&ctx, &sub, &done.from, events);
            Ok(Decision::Apply(plan, done.clone()))
        })
        .await
    }

    /// A subscription of the caller's org, read strongly consistent, or 404.
    async fn subscription(
        &self,
        caller: &Caller,
        subscription_id: &str,
    ) -> Result<SubscriptionRecord, ScimError> {
        found(
            self.store
                .get_subscription(&caller.org_id, subscription_id)
                .await?,
            "subscription",
            subscription_id,
        )
    }
}
