//! The `events` Lambda function: wiring only; the logic is `scimlink::events::push::EventsService`.
//! Invoked by the table's stream (change inserts, through the event source mapping) and
//! by the schedule (the retry of push subscriptions with a backlog).

use lambda_http::lambda_runtime::{run, service_fn, Error, LambdaEvent};
use scimlink::events::push::EventsService;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let service = EventsService::from_env().await?;
    run(service_fn(|event: LambdaEvent<Value>| async {
        service.handle(event.payload).await.map_err(Error::from)
    }))
    .await
}
