//! `scimlink-local create-table`: creates the table on DynamoDB Local (`AWS_ENDPOINT_URL_DYNAMODB`,
//! `SCIMLINK_TABLE`). `scimlink-local bench [members]`: the benchmark behind `make bench`;
//! it writes BENCHMARKS.md.

mod bench;

use scimlink::http::AppState;
use scimlink::store::{create_table_if_missing, Store};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let command = std::env::args().nth(1).unwrap_or_default();
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let table = std::env::var("SCIMLINK_TABLE").unwrap_or_else(|_| "scimlink".into());
    let store = Store::new(&sdk, table.clone());
    let created = match create_table_if_missing(&store).await {
        Ok(created) => created,
        Err(e) => {
            eprintln!("could not create table {table}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match command.as_str() {
        "create-table" => {
            println!(
                "table {table} {}",
                if created { "created" } else { "already exists" }
            );
            std::process::ExitCode::SUCCESS
        }
        "bench" => {
            let large = std::env::args()
                .nth(2)
                .and_then(|n| n.parse().ok())
                .unwrap_or(100_000);
            match bench::run(AppState::new(store, Some("bench-operator-key")), large).await {
                Ok(report) => {
                    println!("{report}");
                    match std::fs::write("BENCHMARKS.md", &report) {
                        Ok(()) => std::process::ExitCode::SUCCESS,
                        Err(e) => {
                            eprintln!("could not write BENCHMARKS.md: {e}");
                            std::process::ExitCode::FAILURE
                        }
                    }
                }
                Err(e) => {
                    eprintln!("benchmark failed: {e}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
        _ => {
            eprintln!("usage: scimlink-local create-table | bench [members]");
            std::process::ExitCode::from(2)
        }
    }
}
