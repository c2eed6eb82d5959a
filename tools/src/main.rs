//! `scimlink-local create-table`: creates the table on DynamoDB Local (`AWS_ENDPOINT_URL_DYNAMODB`,
//! `SCIMLINK_TABLE`). `scimlink-local bench`: the benchmark behind `make bench`.

use scimlink::store::{create_table_if_missing, Store};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let command = std::env::args().nth(1).unwrap_or_default();
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let table = std::env::var("SCIMLINK_TABLE").unwrap_or_else(|_| "scimlink".into());
    let store = Store::new(&sdk, table.clone());
    match command.as_str() {
        "create-table" => match create_table_if_missing(&store).await {
            Ok(true) => {
                println!("created table {table}");
                std::process::ExitCode::SUCCESS
            }
            Ok(false) => {
                println!("table {table} already exists");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("could not create table {table}: {e}");
                std::process::ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("usage: scimlink-local create-table");
            std::process::ExitCode::from(2)
        }
    }
}
