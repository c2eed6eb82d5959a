//! The `scim-groups` Lambda function: wiring only; the logic is `scimlink::http::groups::handle_scim_groups`.

use lambda_http::{run, service_fn, Error, Request};
use scimlink::http::{groups::handle_scim_groups, init_tracing, AppState};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let state = AppState::from_env().await;
    run(service_fn(|req: Request| handle_scim_groups(&state, req))).await
}
