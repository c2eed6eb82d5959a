//! The `console` Lambda function: wiring only; the logic is
//! `scimlink::http::console::handle_console` (docs/CONSOLE.md).

use lambda_http::{run, service_fn, Error};
use scimlink::http::console::handle_console;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    run(service_fn(handle_console)).await
}
