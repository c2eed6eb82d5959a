//! The `scim-discovery` Lambda function: wiring only; the logic is `scimlink::http::discovery::handle_scim_discovery`.

use lambda_http::{run, service_fn, Error, Request};
use scimlink::http::{discovery::handle_scim_discovery, AppState};

// One thread: Lambda hands an instance one event at a time, and a multi-threaded
// runtime only adds wake-ups between threads to each request's CPU (issue 12).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // Level from AWS_LAMBDA_LOG_LEVEL (else RUST_LOG, else INFO); JSON lines when
    // AWS_LAMBDA_LOG_FORMAT=JSON, as the template and the local stack set it.
    lambda_http::tracing::init_default_subscriber();
    let state = AppState::from_env().await;
    run(service_fn(|req: Request| {
        handle_scim_discovery(&state, req)
    }))
    .await
}
