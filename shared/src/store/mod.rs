//! DynamoDB single-table storage: keys, item (de)serialization, loading what plans need,
//! applying a `Plan` as one transaction, and counting what every request costs.

mod access;
mod accounts;
mod apply;
pub mod cursor;
mod delivery;
mod groups;
mod items;
pub mod keys;
mod listing;
mod load;
mod log;
mod metrics;
mod safeguard;
mod subscriptions;
mod table;

use std::sync::Arc;

use aws_sdk_dynamodb::Client;

pub use access::MemberAccounts;
pub use accounts::Page;
pub use apply::ApplyError;
pub use delivery::{BacklogEntry, Release};
pub use items::{
    event_from_item, group_from_item, item_size, log_retention_days, record_item, record_key,
    user_from_item, Item,
};
pub use items::{CHANGE_ITEM_TYPE, CLEANUP_ITEM_TYPE};
pub use keys::{
    external_id_guard as keys_external_id_guard, user_name_guard as keys_user_name_guard,
};
pub use listing::{Listing, MAX_CURSOR_SCAN, MAX_FILTER_SCAN};
pub use load::ItemPage;
pub use log::{day_text, log_cursor_scope, EventFilter, LogPosition};
pub use metrics::{Metrics, MetricsSnapshot};
pub use subscriptions::QUEUE_ITEM_TYPE;
pub use table::{create_table_if_missing, create_table_with_stream, TABLE_GSI1};

/// The table and a client for it. Cheap to clone; built once per cold start.
#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    table: String,
    metrics: Arc<Metrics>,
}

/// Errors from DynamoDB that a request cannot recover from by itself.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// DynamoDB throttled us; the client should retry after a short wait.
    #[error("DynamoDB throttled the request")]
    Throttled,
    /// A stored item could not be read back: a bug or a manual edit, never a client error.
    #[error("corrupt item {0}")]
    Corrupt(String),
    /// DynamoDB could not be reached or failed on its side (a 5xx, a timeout, a broken
    /// connection) after the SDK's own retries: transient, the client may retry.
    #[error("DynamoDB unavailable: {0}")]
    Unavailable(String),
    /// A read examined its bound of records without finishing (a filter no index answers).
    #[error("more than {0} records to examine")]
    ScanLimit(usize),
    #[error("DynamoDB error: {0}")]
    Service(String),
}

impl Store {
    /// A store over `table`, counting every DynamoDB request sent (attempts included).
    pub fn new(sdk_config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        let metrics = Arc::new(Metrics::default());
        let config = aws_sdk_dynamodb::config::Builder::from(sdk_config)
            .interceptor(metrics::CountRequests(metrics.clone()))
            .build();
        Store {
            client: Client::from_conf(config),
            table: table.into(),
            metrics,
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

pub(crate) fn service_error<E>(
    e: aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_dynamodb::error::SdkError;
    let transient = match &e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(s) => s.raw().status().is_server_error(),
        _ => false,
    };
    if transient {
        return StoreError::Unavailable(format!("{e:?}").chars().take(300).collect());
    }
    let code = e
        .as_service_error()
        .and_then(|s| s.code())
        .unwrap_or_default()
        .to_string();
    if matches!(
        code.as_str(),
        "ProvisionedThroughputExceededException" | "ThrottlingException" | "RequestLimitExceeded"
    ) {
        return StoreError::Throttled;
    }
    // A single write that met a transaction in progress on its item: transient.
    if code == "TransactionConflictException" {
        return StoreError::Unavailable(code);
    }
    let message = e
        .as_service_error()
        .and_then(|s| s.message())
        .map(str::to_string)
        .unwrap_or_else(|| format!("{e:?}"));
    StoreError::Service(format!("{code} {message}"))
}
