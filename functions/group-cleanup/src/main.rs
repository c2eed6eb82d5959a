//! The `group-cleanup` Lambda function: wiring only; the logic is
//! `scimlink::events::cleanup::CleanupService`. Invoked by the table's stream with the
//! clean-up jobs of deleted big groups (its own event source mapping and filter).

use lambda_http::lambda_runtime::{run, service_fn, Error, LambdaEvent};
use scimlink::events::cleanup::CleanupService;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let service = CleanupService::from_env().await;
    run(service_fn(|event: LambdaEvent<Value>| async {
        service.handle(event.payload).await.map_err(Error::from)
    }))
    .await
}
