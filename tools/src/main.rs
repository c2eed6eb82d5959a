//! `scimlink-local create-table`: creates the table on DynamoDB Local (`AWS_ENDPOINT_URL_DYNAMODB`,
//! `SCIMLINK_TABLE`). `scimlink-local bench [members]`: the benchmark behind `make bench`;
//! it writes BENCHMARKS.md. `scimlink-local bench-push [events]`: only its push-latency
//! section, updated in place in BENCHMARKS.md; `bench-events` and `bench-bulk` likewise
//! regenerate only their sections, and `bench-big-groups [members]` the DELETE, the
//! membership-replacing PUT and the held group's sync of big groups and their jobs.
//! `scimlink-local pump [--port P] [--interval-ms N] [--tick-seconds N]`: the local event
//! source mapping (`make run` starts it). `scimlink-local receive [--port P] [--secret S]`:
//! a loopback SET receiver that prints what arrives (and verifies it, given the secret).
//! `scimlink-local bench-runtime [--invocations N] [--bin-dir DIR]`: only the per-request
//! section (the functions' release binaries behind a Runtime API of our own).

mod bench;
mod pump;

use scimlink::http::AppState;
use scimlink::store::{create_table_if_missing, Store};

type BenchOutcome = Result<String, Box<dyn std::error::Error + Send + Sync>>;

/// Prints a benchmark's report and writes BENCHMARKS.md as `place` makes it from the report.
fn write_benchmarks(
    what: &str,
    report: BenchOutcome,
    place: impl FnOnce(&str) -> String,
) -> std::process::ExitCode {
    match report {
        Ok(report) => {
            println!("{report}");
            match std::fs::write("BENCHMARKS.md", place(&report)) {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("could not write BENCHMARKS.md: {e}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("{what}benchmark failed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// A section's report put in place of the one under `heading` in BENCHMARKS.md (or added).
fn update_section(heading: &str, section: BenchOutcome, what: &str) -> std::process::ExitCode {
    let current = std::fs::read_to_string("BENCHMARKS.md").unwrap_or_default();
    write_benchmarks(&format!("{what} "), section, |s| {
        bench::replace_section(&current, heading, s.trim_start())
    })
}

/// The value after `--name` on the command line.
fn flag(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn flag_u64(name: &str, default: u64) -> u64 {
    flag(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The per-request section: the functions' release binaries (`--bin-dir`, else the
/// workspace's `target/release`) behind the bench's Runtime API, `--invocations` requests
/// per operation (500).
async fn runtime_section(store: &Store) -> BenchOutcome {
    let bin_dir = flag("--bin-dir")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(bench::runtime::release_dir);
    let invocations = flag_u64("--invocations", 500) as usize;
    bench::runtime::section(
        AppState::new(store.clone(), Some("bench-operator-key")),
        &bin_dir,
        invocations,
    )
    .await
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let command = std::env::args().nth(1).unwrap_or_default();
    if command == "receive" {
        let port = flag_u64("--port", 9100) as u16;
        let secret = flag("--secret").or_else(|| std::env::var("SCIMLINK_RECEIVER_SECRET").ok());
        return match scimlink_tools::receiver::Receiver::start(port, secret.clone(), true).await {
            Ok(r) => {
                eprintln!(
                    "[receiver] listening on {} ({}); Ctrl-C stops it",
                    r.url(),
                    if secret.is_some() {
                        "verifying signatures"
                    } else {
                        "signatures not checked: pass --secret"
                    }
                );
                std::future::pending::<()>().await;
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("could not listen on 127.0.0.1:{port}: {e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let sdk = scimlink::aws::sdk_loader().load().await;
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
            let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").ok();
            let report = match bench::run(
                AppState::new(store.clone(), Some("bench-operator-key")),
                large,
            )
            .await
            {
                Ok(report) => {
                    bench::push_section(&sdk, endpoint.as_deref(), &store, bench::PUSH_EVENTS)
                        .await
                        .map(|section| format!("{report}\n{section}"))
                }
                Err(e) => Err(e),
            };
            let report = match report {
                Ok(report) => bench::big_group_section(
                    AppState::new(store.clone(), Some("bench-operator-key")),
                    &sdk,
                    endpoint.as_deref(),
                    large,
                )
                .await
                .map(|section| format!("{report}\n{section}")),
                Err(e) => Err(e),
            };
            let report = match report {
                Ok(report) => runtime_section(&store)
                    .await
                    .map(|section| format!("{report}\n{section}")),
                Err(e) => Err(e),
            };
            write_benchmarks("", report, str::to_string)
        }
        "pump" => {
            let options = pump::PumpOptions {
                port: flag_u64("--port", 9000) as u16,
                interval: std::time::Duration::from_millis(flag_u64("--interval-ms", 250)),
                tick: std::time::Duration::from_secs(flag_u64("--tick-seconds", 10)),
                table,
            };
            match pump::run(&sdk, options).await {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("pump failed: {e}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
        "bench-events" => update_section(
            bench::EVENTS_HEADING,
            bench::events_only(AppState::new(store, Some("bench-operator-key"))).await,
            "events",
        ),
        "bench-bulk" => update_section(
            bench::BULK_HEADING,
            bench::bulk_only(AppState::new(store, Some("bench-operator-key"))).await,
            "bulk",
        ),
        "bench-big-groups" => {
            let members = std::env::args()
                .nth(2)
                .and_then(|n| n.parse().ok())
                .unwrap_or(100_000);
            let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").ok();
            update_section(
                bench::BIG_GROUP_HEADING,
                bench::big_group_section(
                    AppState::new(store, Some("bench-operator-key")),
                    &sdk,
                    endpoint.as_deref(),
                    members,
                )
                .await,
                "big groups",
            )
        }
        "bench-runtime" => update_section(
            bench::runtime::HEADING,
            runtime_section(&store).await,
            "runtime",
        ),
        "bench-push" => {
            let events = std::env::args()
                .nth(2)
                .and_then(|n| n.parse().ok())
                .unwrap_or(bench::PUSH_EVENTS);
            let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").ok();
            update_section(
                bench::PUSH_HEADING,
                bench::push_section(&sdk, endpoint.as_deref(), &store, events).await,
                "push",
            )
        }
        _ => {
            eprintln!("usage: scimlink-local create-table | bench [members] | bench-events | bench-bulk | bench-push [events] | bench-big-groups [members] | bench-runtime [--invocations N] [--bin-dir DIR] | pump [--port P] | receive [--port P] [--secret S]");
            std::process::ExitCode::from(2)
        }
    }
}
