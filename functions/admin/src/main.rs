//! The `admin` Lambda function: wiring only; the logic is `scimlink::http::admin::handle_admin`.

use lambda_http::{run, service_fn, Error, Request};
use scimlink::http::{admin::handle_admin, init_tracing, AppState};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let state = AppState::from_env().await;
    run(service_fn(|req: Request| handle_admin(&state, req))).await
}
