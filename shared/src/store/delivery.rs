//! A push subscription's `STATE` item (`keys::subscription_state`), written only by the
//! `events` function: its delivery figures (`data`, a `DeliveryState`), the lease that lets
//! one drainer at a time push its queue, and its entry in the backlog listing
//! (`keys::PUSH_BACKLOG` on GSI1) that the periodic retry reads.
//!
//! Attributes besides the key: `type = delivery-state`, `data`, `orgId`, `subscriptionId`;
//! `leaseOwner` and `leaseUntil` (epoch milliseconds) while a drainer holds it;
//! `drainWanted` when someone enqueued while the lease was held; `gsi1pk`/`gsi1sk` while
//! the queue is known to hold events no drain has delivered.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity, ReturnValue};

use super::items::{get_s, key_map, n, s, Item};
use super::keys;
use super::{service_error, Store, StoreError};
use crate::events::subscription::DeliveryState;

/// The `type` of `STATE` items.
pub const STATE_ITEM_TYPE: &str = "delivery-state";

/// How a release went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// The lease is free and the figures are written.
    Released,
    /// Someone enqueued while we held the lease and could not drain: we still hold it, and
    /// must look at the queue again (`clear_drain_wanted`, then drain).
    Wanted,
    /// The lease expired and someone else took it (or the item is gone): nothing written.
    Lost,
}

/// A push subscription with events waiting (from the backlog listing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BacklogEntry {
    pub org_id: String,
    pub subscription_id: String,
}

fn state_key(org_id: &str, subscription_id: &str) -> Item {
    key_map(keys::subscription_state(org_id, subscription_id))
}

/// `SET` clauses that make a new `STATE` item well-formed (so that `delivery_state` reads
/// the defaults), without touching an existing one's figures.
const INIT: &str = "#t = if_not_exists(#t, :type), #d = if_not_exists(#d, :empty), orgId = :org, subscriptionId = :sub";

fn init_values(org_id: &str, subscription_id: &str) -> [(&'static str, AttributeValue); 4] {
    [
        (":type", s(STATE_ITEM_TYPE)),
        (":empty", s("{}")),
        (":org", s(org_id)),
        (":sub", s(subscription_id)),
    ]
}

fn is_condition_failure<E>(
    e: &aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

impl Store {
    /// Takes the delivery lease of a subscription until `until_ms` (epoch ms), unless
    /// another drainer holds one that has not expired at `now_ms`. Returns the delivery
    /// figures when taken. Creates the `STATE` item when it is missing.
    pub async fn acquire_delivery_lease(
        &self,
        org_id: &str,
        subscription_id: &str,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<Option<DeliveryState>, StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(state_key(org_id, subscription_id)))
            .update_expression(format!("SET leaseOwner = :me, leaseUntil = :until, {INIT}"))
            .condition_expression(
                "attribute_not_exists(leaseUntil) OR leaseUntil < :now OR leaseOwner = :me",
            )
            .expression_attribute_names("#t", "type")
            .expression_attribute_names("#d", "data")
            .expression_attribute_values(":me", s(owner))
            .expression_attribute_values(":until", n(until_ms))
            .expression_attribute_values(":now", n(now_ms))
            .return_values(ReturnValue::AllNew)
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        for (k, v) in init_values(org_id, subscription_id) {
            update = update.expression_attribute_values(k, v);
        }
        match update.send().await {
            Ok(out) => {
                self.metrics.add_capacity(out.consumed_capacity());
                let state = out
                    .attributes()
                    .and_then(|a| get_s(a, "data"))
                    .map(serde_json::from_str::<DeliveryState>)
                    .transpose()
                    .map_err(|e| StoreError::Corrupt(format!("delivery state: {e}")))?
                    .unwrap_or_default();
                Ok(Some(state))
            }
            Err(e) if is_condition_failure(&e) => Ok(None),
            Err(e) => Err(service_error(e)),
        }
    }

    /// Asks the lease holder to look at the queue again before it lets go (events were
    /// enqueued while it held the lease), and lists the subscription in the backlog, so that
    /// the periodic retry drains it should the holder have died.
    pub async fn request_push_drain(
        &self,
        org_id: &str,
        subscription_id: &str,
    ) -> Result<(), StoreError> {
        self.set_backlog_entry(org_id, subscription_id, true).await
    }

    /// Lists the subscription in the backlog (its queue holds events that no drain will
    /// deliver now: a paused or disabled push subscription, or a redelivery).
    pub async fn mark_push_backlog(
        &self,
        org_id: &str,
        subscription_id: &str,
    ) -> Result<(), StoreError> {
        self.set_backlog_entry(org_id, subscription_id, false).await
    }

    async fn set_backlog_entry(
        &self,
        org_id: &str,
        subscription_id: &str,
        wanted: bool,
    ) -> Result<(), StoreError> {
        let (pk, _) = keys::subscription_state(org_id, subscription_id);
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(state_key(org_id, subscription_id)))
            .update_expression(format!(
                "SET gsi1pk = :g, gsi1sk = :gs, {INIT}{}",
                if wanted { ", drainWanted = :w" } else { "" }
            ))
            .expression_attribute_names("#t", "type")
            .expression_attribute_names("#d", "data")
            .expression_attribute_values(":g", s(keys::PUSH_BACKLOG))
            .expression_attribute_values(":gs", s(pk))
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        if wanted {
            update = update.expression_attribute_values(":w", AttributeValue::Bool(true));
        }
        for (k, v) in init_values(org_id, subscription_id) {
            update = update.expression_attribute_values(k, v);
        }
        let out = update.send().await.map_err(service_error)?;
        self.metrics.add_capacity(out.consumed_capacity());
        Ok(())
    }

    /// Takes the subscription out of the backlog listing (it was deleted, or is not a push
    /// subscription any more). Never creates the item.
    pub async fn unmark_push_backlog(
        &self,
        org_id: &str,
        subscription_id: &str,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(state_key(org_id, subscription_id)))
            .update_expression("REMOVE gsi1pk, gsi1sk, drainWanted")
            .condition_expression("attribute_exists(pk)")
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match result {
            Ok(out) => {
                self.metrics.add_capacity(out.consumed_capacity());
                Ok(())
            }
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(service_error(e)),
        }
    }

    /// Writes the delivery figures and lets the lease go. `backlog_left`: the queue still
    /// holds events (the drain stopped on a failure or ran out of time), so the subscription
    /// stays in (or joins) the backlog listing; otherwise it leaves it. With
    /// `honour_wanted`, a `drainWanted` set meanwhile keeps the lease and answers
    /// [`Release::Wanted`].
    pub async fn release_delivery_lease(
        &self,
        org_id: &str,
        subscription_id: &str,
        owner: &str,
        state: &DeliveryState,
        backlog_left: bool,
        honour_wanted: bool,
    ) -> Result<Release, StoreError> {
        let (pk, _) = keys::subscription_state(org_id, subscription_id);
        let data = serde_json::to_string(state).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let expression = if backlog_left {
            "SET #d = :d, gsi1pk = :g, gsi1sk = :gs REMOVE leaseOwner, leaseUntil, drainWanted"
        } else {
            "SET #d = :d REMOVE leaseOwner, leaseUntil, drainWanted, gsi1pk, gsi1sk"
        };
        let condition = if honour_wanted {
            "leaseOwner = :me AND attribute_not_exists(drainWanted)"
        } else {
            "leaseOwner = :me"
        };
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(state_key(org_id, subscription_id)))
            .update_expression(expression)
            .condition_expression(condition)
            .expression_attribute_names("#d", "data")
            .expression_attribute_values(":d", s(data))
            .expression_attribute_values(":me", s(owner))
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        if backlog_left {
            update = update
                .expression_attribute_values(":g", s(keys::PUSH_BACKLOG))
                .expression_attribute_values(":gs", s(pk));
        }
        match update.send().await {
            Ok(out) => {
                self.metrics.add_capacity(out.consumed_capacity());
                Ok(Release::Released)
            }
            Err(e) if is_condition_failure(&e) => {
                let item = self
                    .get_item(keys::subscription_state(org_id, subscription_id))
                    .await?;
                let ours = item
                    .as_ref()
                    .and_then(|i| get_s(i, "leaseOwner"))
                    .is_some_and(|o| o == owner);
                Ok(if ours && honour_wanted {
                    Release::Wanted
                } else {
                    Release::Lost
                })
            }
            Err(e) => Err(service_error(e)),
        }
    }

    /// Clears `drainWanted` and extends the lease to `until_ms`, while we still hold it.
    /// Returns whether we did.
    pub async fn clear_drain_wanted(
        &self,
        org_id: &str,
        subscription_id: &str,
        owner: &str,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(state_key(org_id, subscription_id)))
            .update_expression("SET leaseUntil = :until REMOVE drainWanted")
            .condition_expression("leaseOwner = :me")
            .expression_attribute_values(":me", s(owner))
            .expression_attribute_values(":until", n(until_ms))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match result {
            Ok(out) => {
                self.metrics.add_capacity(out.consumed_capacity());
                Ok(true)
            }
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(service_error(e)),
        }
    }

    /// Every push subscription listed in the backlog (GSI1, eventually consistent).
    pub async fn push_backlog_entries(&self) -> Result<Vec<BacklogEntry>, StoreError> {
        let items = self
            .query_all(self.query_gsi1(keys::PUSH_BACKLOG.to_string()))
            .await?;
        Ok(items.iter().filter_map(backlog_entry).collect())
    }
}

fn backlog_entry(item: &HashMap<String, AttributeValue>) -> Option<BacklogEntry> {
    Some(BacklogEntry {
        org_id: get_s(item, "orgId")?.to_string(),
        subscription_id: get_s(item, "subscriptionId")?.to_string(),
    })
}
