//! The table definition, for DynamoDB Local (tests, `make run`, the benchmark).
//! `infra/template.yaml` declares the same table for AWS; keep the two in step.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
};

use super::{service_error, Store, StoreError};

pub const TABLE_GSI1: &str = super::keys::GSI1;

fn attr(name: &str) -> Result<AttributeDefinition, StoreError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| StoreError::Service(e.to_string()))
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(|e| StoreError::Service(e.to_string()))
}

/// Creates the table, with its stream as in infra/template.yaml, unless it exists.
/// Returns whether it created it.
pub async fn create_table_if_missing(store: &Store) -> Result<bool, StoreError> {
    create_table_with_stream(store, true).await
}

/// Creates the table unless it exists, with or without its stream. Tests that never read
/// the stream use a table without one: DynamoDB Local keeps every stream record of a long
/// run, and slows down as they pile up.
pub async fn create_table_with_stream(store: &Store, stream: bool) -> Result<bool, StoreError> {
    let existing = store
        .client()
        .list_tables()
        .send()
        .await
        .map_err(service_error)?;
    if existing.table_names().iter().any(|t| t == store.table()) {
        return Ok(false);
    }
    let gsi = GlobalSecondaryIndex::builder()
        .index_name(TABLE_GSI1)
        .key_schema(key("gsi1pk", KeyType::Hash)?)
        .key_schema(key("gsi1sk", KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .map_err(|e| StoreError::Service(e.to_string()))?;
    let created = store
        .client()
        .create_table()
        .table_name(store.table())
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk")?)
        .attribute_definitions(attr("sk")?)
        .attribute_definitions(attr("gsi1pk")?)
        .attribute_definitions(attr("gsi1sk")?)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .global_secondary_indexes(gsi)
        // The `events` function reads change items from the stream (E5); locally, the pump.
        .set_stream_specification(if stream {
            Some(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewImage)
                    .build()
                    .map_err(|e| StoreError::Service(e.to_string()))?,
            )
        } else {
            None
        })
        .send()
        .await;
    match created {
        Ok(_) => {
            // Log events expire through DynamoDB's TTL on `ttl`, as in infra/template.yaml.
            let ttl = aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("ttl")
                .build()
                .map_err(|e| StoreError::Service(e.to_string()))?;
            store
                .client()
                .update_time_to_live()
                .table_name(store.table())
                .time_to_live_specification(ttl)
                .send()
                .await
                .map_err(service_error)?;
            Ok(true)
        }
        // Another process created it between our list and create.
        Err(e)
            if e.as_service_error()
                .map(|s| s.is_resource_in_use_exception())
                .unwrap_or(false) =>
        {
            Ok(false)
        }
        Err(e) => Err(service_error(e)),
    }
}
