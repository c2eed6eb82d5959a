//! The `scim-users` Lambda function: wiring only; the logic is `scimlink::http::users::handle_scim_users`.

use lambda_http::{run, service_fn, Error, Request};
use scimlink::http::{init_tracing, users::handle_scim_users, AppState};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let state = AppState::from_env().await;
    run(service_fn(|req: Request| handle_scim_users(&state, req))).await
}
