//! The `events` Lambda function: wiring only; the logic is `scimlink::events::push::EventsService`.
//! Invoked by the table's stream (change inserts, through the event source mapping) and
//! by the schedule (the retry of push subscriptions with a backlog).

use lambda_http::lambda_runtime::{run, service_fn, Error, LambdaEvent};
use scimlink::events::push::EventsService;
use serde_json::Value;

// One thread: Lambda hands an instance one event at a time, and a multi-threaded
// runtime only adds wake-ups between threads to each request's CPU (issue 12).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let service = EventsService::from_env().await?;
    run(service_fn(|event: LambdaEvent<Value>| async {
        service.handle(event.payload).await.map_err(Error::from)
    }))
    .await
}
