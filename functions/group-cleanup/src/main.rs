//! The `group-cleanup` Lambda function: wiring only; the logic is
//! `scimlink::events::cleanup::CleanupService`. Invoked by the table's stream with the
//! jobs of big groups: deletes' clean-ups, membership replaces and held-group syncs (its
//! own event source mapping and filter).

use lambda_http::lambda_runtime::{run, service_fn, Error, LambdaEvent};
use scimlink::events::cleanup::CleanupService;
use serde_json::Value;

// One thread: Lambda hands an instance one event at a time, and a multi-threaded
// runtime only adds wake-ups between threads to each request's CPU (issue 12).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let service = CleanupService::from_env().await;
    run(service_fn(|event: LambdaEvent<Value>| async {
        service.handle(event.payload).await.map_err(Error::from)
    }))
    .await
}
