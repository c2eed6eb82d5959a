//! Applying a `Plan`: one `TransactWriteItems` whose conditions are the loaded versions.

use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnConsumedCapacity, TransactWriteItem,
};

use super::items::{key_map, record_item, record_key};
use super::{service_error, Store, StoreError};
use crate::directory::plan::{Condition, Plan, Write};

/// DynamoDB's limit on the actions of one transaction.
pub const MAX_TRANSACTION_ACTIONS: usize = 100;

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

fn transact_item(store: &Store, write: &Write) -> Result<TransactWriteItem, StoreError> {
    let build_err = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Service(e.to_string());
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
    }
}

impl Store {
    /// Applies `plan` atomically. An empty plan sends nothing (L4: a no-op writes nothing).
    pub async fn apply(&self, plan: &Plan) -> Result<(), ApplyError> {
        if plan.is_empty() {
            return Ok(());
        }
        if plan.writes.len() > MAX_TRANSACTION_ACTIONS {
            return Err(StoreError::Service(format!(
                "a plan of {} writes exceeds one transaction; it must be split where each part is valid",
                plan.writes.len()
            ))
            .into());
        }
        let items = plan
            .writes
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
