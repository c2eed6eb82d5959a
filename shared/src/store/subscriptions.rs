//! Subscriptions and their queues (E5). A queue item is one event a subscription has not
//! had yet: put by the `events` function (idempotent: keyed by the event's order), removed
//! when a push is accepted or a poll acknowledges it.

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, PutRequest, WriteRequest};

use std::collections::{HashMap, HashSet};

use super::items::{data_item, from_data, get_s, key_map, n};
use super::keys;
use super::{service_error, Store, StoreError};
use crate::directory::model::{ChangeBatch, ChangeRecord, TokenRecord};
use crate::events::subscription::{DeliveryState, SubscriptionRecord};

/// The `type` of queue items.
pub const QUEUE_ITEM_TYPE: &str = "delivery";

/// Queue keys read a page at a time when looking for acknowledged jtis or purging.
const QUEUE_KEY_PAGE: usize = 200;

impl Store {
    pub async fn get_subscription(
        &self,
        org_id: &str,
        subscription_id: &str,
    ) -> Result<Option<SubscriptionRecord>, StoreError> {
        self.get_data(keys::subscription(org_id, subscription_id))
            .await
    }

    /// How delivery to a subscription is going (default when nothing was delivered yet).
    pub async fn delivery_state(
        &self,
        org_id: &str,
        subscription_id: &str,
    ) -> Result<DeliveryState, StoreError> {
        Ok(self
            .get_data(keys::subscription_state(org_id, subscription_id))
            .await?
            .unwrap_or_default())
    }

    /// Every subscription of an org (from GSI1: eventually consistent).
    pub async fn subscriptions_of_org(
        &self,
        org_id: &str,
    ) -> Result<Vec<SubscriptionRecord>, StoreError> {
        self.query_gsi1_data(keys::subscriptions_of(org_id)).await
    }

    /// Puts `changes` in the subscription's queue (unconditional puts in batches of 25: a
    /// change enqueued twice is the same item).
    pub async fn enqueue(
        &self,
        sub: &SubscriptionRecord,
        changes: &[ChangeRecord],
    ) -> Result<(), StoreError> {
        let pk = keys::subscription_queue(&sub.org_id, &sub.id);
        let mut requests = Vec::with_capacity(changes.len());
        for c in changes {
            let mut item = data_item((pk.clone(), c.order_key()), QUEUE_ITEM_TYPE, c)?;
            item.insert("jti".into(), AttributeValue::S(c.id.clone()));
            item.insert("ttl".into(), n(queue_expiry()));
            requests.push(
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(item))
                            .build()
                            .map_err(|e| StoreError::Service(e.to_string()))?,
                    )
                    .build(),
            );
        }
        self.write_batches(requests).await
    }

    /// The oldest `limit` events of the queue, in delivery order (strongly consistent).
    pub async fn queue_head(
        &self,
        sub: &SubscriptionRecord,
        limit: i32,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        let page = self
            .query_page(
                self.query_partition(keys::subscription_queue(&sub.org_id, &sub.id))
                    .limit(limit),
                None,
            )
            .await?;
        page.items.iter().map(from_data).collect()
    }

    /// Removes delivered or acknowledged events, by their order keys.
    pub async fn dequeue(
        &self,
        sub: &SubscriptionRecord,
        order_keys: &[String],
    ) -> Result<(), StoreError> {
        let pk = keys::subscription_queue(&sub.org_id, &sub.id);
        let mut requests = Vec::with_capacity(order_keys.len());
        for k in order_keys {
            requests.push(
                WriteRequest::builder()
                    .delete_request(
                        DeleteRequest::builder()
                            .set_key(Some(key_map((pk.clone(), k.clone()))))
                            .build()
                            .map_err(|e| StoreError::Service(e.to_string()))?,
                    )
                    .build(),
            );
        }
        self.write_batches(requests).await
    }

    /// How many events wait in the queue (a `COUNT` query over the partition).
    pub async fn backlog(&self, sub: &SubscriptionRecord) -> Result<u64, StoreError> {
        self.count_partition(keys::subscription_queue(&sub.org_id, &sub.id))
            .await
    }

    /// The org's change events of one UTC day from `from` (an RFC 3339 time) on, in order:
    /// what a redelivery enqueues again.
    pub async fn changes_of_day(
        &self,
        org_id: &str,
        day: &str,
        from: &str,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        let pk = keys::changes(org_id, day);
        let query = if from.is_empty() {
            self.query_partition(pk)
        } else {
            self.query_partition(pk)
                .key_condition_expression("pk = :p AND sk >= :f")
                .expression_attribute_values(":f", AttributeValue::S(from.to_string()))
        };
        let items = self.query_all(query).await?;
        let mut out = Vec::new();
        for item in &items {
            let batch: ChangeBatch = from_data(item)?;
            out.extend(batch.events);
        }
        Ok(out)
    }

    /// The receiver tokens (poll credentials) of a subscription (from GSI1).
    pub async fn receiver_tokens(
        &self,
        org_id: &str,
        subscription_id: &str,
    ) -> Result<Vec<TokenRecord>, StoreError> {
        self.query_gsi1_data(keys::receiver_tokens_of(org_id, subscription_id))
            .await
    }

    /// The order keys of the queue items holding `jtis`, looked for among the queue's
    /// oldest `scan_limit` items (reading keys only, a page at a time, and stopping as soon
    /// as every jti is found). A receiver acknowledges what the queue's head gave it, so
    /// its acks are found there; a jti not found (already removed, or further back) is
    /// left alone: at worst its event is delivered again, never lost.
    pub async fn queue_order_keys(
        &self,
        sub: &SubscriptionRecord,
        jtis: &[String],
        scan_limit: usize,
    ) -> Result<HashMap<String, String>, StoreError> {
        let wanted: HashSet<&str> = jtis.iter().map(String::as_str).collect();
        let mut found = HashMap::new();
        if wanted.is_empty() {
            return Ok(found);
        }
        let mut start = None;
        let mut scanned = 0usize;
        while scanned < scan_limit {
            let page_size = (scan_limit - scanned).min(QUEUE_KEY_PAGE) as i32;
            let page = self
                .query_page(
                    self.query_partition(keys::subscription_queue(&sub.org_id, &sub.id))
                        .projection_expression("sk, jti")
                        .limit(page_size),
                    start,
                )
                .await?;
            scanned += page.items.len();
            for item in &page.items {
                if let (Some(jti), Some(sk)) = (get_s(item, "jti"), get_s(item, "sk")) {
                    if wanted.contains(jti) {
                        found.insert(jti.to_string(), sk.to_string());
                    }
                }
            }
            if found.len() == wanted.len() {
                break;
            }
            match page.next {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        Ok(found)
    }

    /// Removes what a deleted subscription leaves: every queue item and its delivery state.
    /// Not one transaction (a queue may hold any number of items); a purge cut short leaves
    /// items that expire by TTL like every queue item, and nothing reads a deleted
    /// subscription's queue.
    pub async fn purge_subscription(&self, sub: &SubscriptionRecord) -> Result<(), StoreError> {
        let pk = keys::subscription_queue(&sub.org_id, &sub.id);
        let mut start = None;
        loop {
            let page = self
                .query_page(
                    self.query_partition(pk.clone())
                        .projection_expression("sk")
                        .limit(QUEUE_KEY_PAGE as i32),
                    start,
                )
                .await?;
            let order_keys: Vec<String> = page
                .items
                .iter()
                .filter_map(|i| get_s(i, "sk").map(str::to_string))
                .collect();
            self.dequeue(sub, &order_keys).await?;
            match page.next {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        let state = WriteRequest::builder()
            .delete_request(
                DeleteRequest::builder()
                    .set_key(Some(key_map(keys::subscription_state(
                        &sub.org_id,
                        &sub.id,
                    ))))
                    .build()
                    .map_err(|e| StoreError::Service(e.to_string()))?,
            )
            .build();
        self.write_batches(vec![state]).await
    }

    async fn count_partition(&self, pk: String) -> Result<u64, StoreError> {
        let mut total = 0u64;
        let mut start = None;
        loop {
            let out = self
                .query_partition(pk.clone())
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start)
                .return_consumed_capacity(aws_sdk_dynamodb::types::ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(service_error)?;
            self.metrics.add_read_capacity(out.consumed_capacity());
            total += out.count.max(0) as u64;
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => return Ok(total),
            }
        }
    }

    /// `BatchWriteItem`s of 25, retrying what DynamoDB leaves unprocessed.
    pub(crate) async fn write_batches(
        &self,
        requests: Vec<WriteRequest>,
    ) -> Result<(), StoreError> {
        for chunk in requests.chunks(25) {
            let mut pending = chunk.to_vec();
            let mut attempt = 0u32;
            while !pending.is_empty() {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .return_consumed_capacity(
                        aws_sdk_dynamodb::types::ReturnConsumedCapacity::Total,
                    )
                    .send()
                    .await
                    .map_err(service_error)?;
                self.metrics.add_capacity(out.consumed_capacity());
                pending = out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(&self.table))
                    .unwrap_or_default();
                attempt += 1;
                if attempt > 10 {
                    return Err(StoreError::Throttled);
                }
                if !pending.is_empty() {
                    tokio::time::sleep(std::time::Duration::from_millis(20 << attempt.min(6)))
                        .await;
                }
            }
        }
        Ok(())
    }
}

/// Queue items expire like log events: a receiver gone for longer than the retention
/// loses nothing it could not also no longer redeliver.
fn queue_expiry() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp() + super::items::log_retention_days() * 86_400
}
