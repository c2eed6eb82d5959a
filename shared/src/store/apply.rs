//! Applying a `Plan`: one `TransactWriteItems` whose conditions are the loaded versions.

use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, DeleteRequest, Put, PutRequest, ReturnConsumedCapacity,
    TransactWriteItem, Update, WriteRequest,
};

use super::items::{key_map, record_item, record_key};
use super::keys;
use super::{service_error, Store, StoreError};
use crate::directory::plan::{Condition, Plan, Record, Write, MAX_TRANSACTION_ACTIONS};

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Someone else wrote first: load and plan again, never apply a stale plan.
    #[error("a condition failed: the loaded state is stale")]
    Stale,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn condition_expression(
    c: &Condition,
) -> Option<(&'static str, Option<(&'static str, AttributeValue)>)> {
    match c {
        Condition::Always => None,
        Condition::Absent => Some(("attribute_not_exists(pk)", None)),
        Condition::Version(v) => Some((
            "version = :v",
            Some((":v", AttributeValue::N(v.to_string()))),
        )),
        Condition::OwnedBy(o) => Some(("#owner = :o", Some((":o", AttributeValue::S(o.clone()))))),
    }
}

fn write_request(write: &Write) -> Result<WriteRequest, StoreError> {
    match write {
        Write::Put(record, Condition::Always) => Ok(WriteRequest::builder()
            .put_request(
                PutRequest::builder()
                    .set_item(Some(record_item(record)?))
                    .build()
                    .map_err(build_err)?,
            )
            .build()),
        Write::Delete(record, Condition::Always) => Ok(WriteRequest::builder()
            .delete_request(
                DeleteRequest::builder()
                    .set_key(Some(key_map(record_key(record))))
                    .build()
                    .map_err(build_err)?,
            )
            .build()),
        other => Err(StoreError::Service(format!(
            "not a batchable write: {other:?}"
        ))),
    }
}

fn transact_item(store: &Store, write: &Write) -> Result<TransactWriteItem, StoreError> {
    match write {
        Write::Put(record, cond) => {
            let mut put = Put::builder()
                .table_name(store.table())
                .set_item(Some(record_item(record)?));
            if let Some((expr, value)) = condition_expression(cond) {
                put = put.condition_expression(expr);
                if expr.contains("#owner") {
                    put = put.expression_attribute_names("#owner", "owner");
                }
                if let Some((name, v)) = value {
                    put = put.expression_attribute_values(name, v);
                }
            }
            Ok(TransactWriteItem::builder()
                .put(put.build().map_err(build_err)?)
                .build())
        }
        Write::Delete(record, cond) => {
            let mut del = Delete::builder()
                .table_name(store.table())
                .set_key(Some(key_map(record_key(record))));
            if let Some((expr, value)) = condition_expression(cond) {
                del = del.condition_expression(expr);
                if expr.contains("#owner") {
                    del = del.expression_attribute_names("#owner", "owner");
                }
                if let Some((name, v)) = value {
                    del = del.expression_attribute_values(name, v);
                }
            }
            Ok(TransactWriteItem::builder()
                .delete(del.build().map_err(build_err)?)
                .build())
        }
        // The group must still exist: an update would otherwise create a stub item. A group
        // whose membership a replace job is changing takes no direct member writes: the
        // request lost its race with the job's request and reloads.
        Write::TouchGroup {
            directory_id,
            group_id,
            last_modified,
        } => group_update(
            store,
            keys::group(directory_id, group_id),
            "attribute_exists(pk) AND attribute_not_exists(membersPending)",
            "SET lastModified = :lm ADD version :one",
            last_modified,
        ),
        Write::SettleGroup {
            directory_id,
            group_id,
            last_modified,
        } => group_update(
            store,
            keys::group(directory_id, group_id),
            "attribute_exists(pk)",
            "SET lastModified = :lm REMOVE membersPending ADD version :one",
            last_modified,
        ),
    }
}

/// A request the SDK's builder refused (a missing required field): a bug of ours, reported
/// as a store error rather than a panic.
fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Service(e.to_string())
}

/// An update of a group's item that moves its version and `lastModified`.
fn group_update(
    store: &Store,
    key: (String, String),
    condition: &str,
    expression: &str,
    last_modified: &str,
) -> Result<TransactWriteItem, StoreError> {
    let update = Update::builder()
        .table_name(store.table())
        .set_key(Some(key_map(key)))
        .condition_expression(condition)
        .update_expression(expression)
        .expression_attribute_values(":lm", AttributeValue::S(last_modified.to_string()))
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .build()
        .map_err(build_err)?;
    Ok(TransactWriteItem::builder().update(update).build())
}

impl Store {
    /// Applies `plan`: its transactions in order (one when it fits; the ordered, logged,
    /// idempotent parts of `Plan::transactions` when it does not). An empty plan sends
    /// nothing (L4). A failed part stops the rest: what committed is logged, and the
    /// retried request completes it.
    pub async fn apply(&self, plan: &Plan) -> Result<(), ApplyError> {
        self.apply_transactions(&plan.transactions()).await
    }

    /// Applies transactions in order (a plan's parts with their change items, from the
    /// write service), stopping at the first that fails.
    pub async fn apply_transactions(&self, parts: &[Vec<Write>]) -> Result<(), ApplyError> {
        for part in parts {
            self.transact(part).await?;
        }
        Ok(())
    }

    /// Bulk-loads records with unconditional puts (seeding a benchmark or an import): no
    /// guards are checked, so this is never a path a request takes.
    pub async fn put_all(&self, records: Vec<Record>) -> Result<(), ApplyError> {
        let writes: Vec<Write> = records
            .into_iter()
            .map(|r| Write::Put(r, Condition::Always))
            .collect();
        self.batch_write(&writes).await
    }

    /// Unconditional writes in `BatchWriteItem`s of 25, retrying what DynamoDB leaves
    /// unprocessed (`Store::write_batches`).
    async fn batch_write(&self, writes: &[Write]) -> Result<(), ApplyError> {
        let requests = writes
            .iter()
            .map(write_request)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.write_batches(requests).await?)
    }

    async fn transact(&self, writes: &[Write]) -> Result<(), ApplyError> {
        if writes.is_empty() {
            return Ok(());
        }
        if writes.len() > MAX_TRANSACTION_ACTIONS {
            return Err(StoreError::Service(format!(
                "a plan of {} writes exceeds one transaction; it must be split where each part is valid",
                writes.len()
            ))
            .into());
        }
        let items = writes
            .iter()
            .map(|w| transact_item(self, w))
            .collect::<Result<Vec<_>, _>>()?;
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match result {
            Ok(out) => {
                self.metrics.add_capacity(out.consumed_capacity());
                Ok(())
            }
            Err(e) => {
                if let Some(service) = e.as_service_error() {
                    if let aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(tc) = service {
                        let stale = tc.cancellation_reasons().iter().any(|r| {
                            matches!(r.code(), Some("ConditionalCheckFailed") | Some("TransactionConflict"))
                        });
                        if stale {
                            return Err(ApplyError::Stale);
                        }
                        let throttled = tc.cancellation_reasons().iter().any(|r| {
                            matches!(r.code(), Some("ThrottlingError") | Some("ProvisionedThroughputExceeded"))
                        });
                        if throttled {
                            return Err(StoreError::Throttled.into());
                        }
                    }
                    if matches!(
                        service,
                        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionInProgressException(_)
                    ) {
                        return Err(ApplyError::Stale);
                    }
                }
                Err(service_error(e).into())
            }
        }
    }
}
