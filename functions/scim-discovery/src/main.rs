//! The `scim-discovery` Lambda function: wiring only; the logic is `scimlink::http::discovery::handle_scim_discovery`.

use lambda_http::{run, service_fn, Error, Request};
use scimlink::http::{discovery::handle_scim_discovery, init_tracing, AppState};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let state = AppState::from_env().await;
    run(service_fn(|req: Request| {
        handle_scim_discovery(&state, req)
    }))
    .await
}
