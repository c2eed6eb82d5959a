//! The `console` Lambda function: wiring only; the logic is
//! `scimlink::http::console::handle_console` (docs/CONSOLE.md).

use lambda_http::{run, service_fn, Error};
use scimlink::http::console::handle_console;

// One thread: Lambda hands an instance one event at a time, and a multi-threaded
// runtime only adds wake-ups between threads to each request's CPU (issue 12).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    run(service_fn(handle_console)).await
}
