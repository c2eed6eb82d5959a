//! `scimlink-local pump`: the local stand-in for Lambda's event source mapping and schedule.
//! Reads DynamoDB Local's stream with `scimlink::events::pump` (the mapping's filter), and
//! invokes the `events` function through `cargo lambda watch`'s invoke endpoint
//! (`POST /2015-03-31/functions/events/invocations`) with batches of at most 100 records,
//! as Lambda does: a batch whose answer lists `batchItemFailures` is retried from the
//! lowest failed record, up to 5 times (MaximumRetryAttempts), then given up with a line
//! that says so (on AWS it would go to the dead-letter queue). Every `tick` it sends a
//! scheduled event (the one-minute retry on AWS).
//!
//! The same stream has a second reader on AWS, the `group-cleanup` function's mapping
//! (`CLEANUP_FILTER_PATTERN`: queued jobs of big groups: deletes, replaces, syncs). The pump keeps
//! those records too and hands them, in batches of 10, to `group-cleanup` from a task of
//! their own, so that a long clean-up never holds the events back (two mappings are two
//! independent pollers).

use std::time::{Duration, Instant};

use scimlink::events::pump::{batches, StartingPosition, StreamPump};
use scimlink::events::stream::{BatchResponse, StreamEvent, StreamRecord};
use serde_json::{json, Value};

type PumpResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Batch sizes and retries, as in the template's event source mappings.
const BATCH_SIZE: usize = 100;
const CLEANUP_BATCH_SIZE: usize = 10;
const MAX_RETRIES: u32 = 5;

pub struct PumpOptions {
    /// `cargo lambda watch`'s port.
    pub port: u16,
    pub interval: Duration,
    pub tick: Duration,
    pub table: String,
}

fn scheduled_event() -> Value {
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": scimlink::clock::now(),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:000000000000:rule/scimlink-local-retry"],
        "detail": {}
    })
}

/// `cargo lambda watch`'s invoke endpoint of a function.
fn invoke_url(port: u16, function: &str) -> String {
    format!("http://127.0.0.1:{port}/2015-03-31/functions/{function}/invocations")
}

async fn invoke(http: &reqwest::Client, url: &str, event: &Value) -> PumpResult<Value> {
    let resp = http
        .post(url)
        .header("content-type", "application/json")
        .body(event.to_string())
        .send()
        .await?;
    let status = resp.status();
    let function_error = resp.headers().get("x-amz-function-error").is_some();
    let body = resp.text().await?;
    if !status.is_success() || function_error {
        return Err(format!(
            "{url} failed ({status}): {}",
            body.chars().take(300).collect::<String>()
        )
        .into());
    }
    Ok(serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// One batch, retried from the lowest failed record as Lambda would.
async fn deliver(http: &reqwest::Client, url: &str, batch: StreamEvent) {
    let mut records = batch.records;
    let mut attempt = 0u32;
    loop {
        let outcome = invoke(
            http,
            url,
            &json!(StreamEvent {
                records: records.clone()
            }),
        )
        .await;
        let failed: Vec<String> = match &outcome {
            Ok(v) => serde_json::from_value::<BatchResponse>(v.clone())
                .map(|r| {
                    r.batch_item_failures
                        .into_iter()
                        .map(|f| f.item_identifier)
                        .collect()
                })
                .unwrap_or_default(),
            Err(e) => {
                eprintln!("[pump] {e}");
                records.iter().map(|r| r.id().to_string()).collect()
            }
        };
        if failed.is_empty() {
            return;
        }
        let from = records
            .iter()
            .position(|r| failed.iter().any(|f| f == r.id()))
            .unwrap_or(0);
        records.drain(..from);
        attempt += 1;
        if attempt > MAX_RETRIES {
            eprintln!(
                "[pump] giving up on {} records from sequence {} after {MAX_RETRIES} retries (on AWS: the dead-letter queue)",
                records.len(),
                records.first().map(|r| r.id()).unwrap_or("?")
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(200 << attempt.min(5))).await;
    }
}

pub async fn run(sdk: &aws_config::SdkConfig, options: PumpOptions) -> PumpResult<()> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB_STREAMS")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL_DYNAMODB"))
        .ok();
    let mut pump = StreamPump::new(
        sdk,
        endpoint.as_deref(),
        options.table.clone(),
        StartingPosition::TrimHorizon,
    );
    let url = invoke_url(options.port, "events");
    let cleanup_url = invoke_url(options.port, "group-cleanup");
    // The first invocation waits for `cargo lambda watch` to start the function.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .no_proxy()
        .build()?;
    eprintln!(
        "[pump] reading the stream of table {} and invoking the events function at {url}; a scheduled tick every {}s",
        options.table,
        options.tick.as_secs()
    );
    let (cleanups, mut waiting) = tokio::sync::mpsc::unbounded_channel::<StreamEvent>();
    {
        let http = http.clone();
        tokio::spawn(async move {
            while let Some(batch) = waiting.recv().await {
                deliver(&http, &cleanup_url, batch).await;
            }
        });
    }
    let mut next_tick = Instant::now() + options.tick;
    loop {
        let mut busy = false;
        match pump.poll_all().await {
            Ok(records) if !records.is_empty() => {
                busy = true;
                let (changes, jobs): (Vec<_>, Vec<_>) = records
                    .into_iter()
                    .filter(|r| r.is_change_insert() || r.is_cleanup_wake())
                    .partition(StreamRecord::is_change_insert);
                if !jobs.is_empty() {
                    eprintln!("[pump] {} clean-up job(s) -> group-cleanup", jobs.len());
                    for batch in batches(jobs, CLEANUP_BATCH_SIZE) {
                        let _ = cleanups.send(batch);
                    }
                }
                if !changes.is_empty() {
                    eprintln!("[pump] {} change record(s) -> events", changes.len());
                }
                for batch in batches(changes, BATCH_SIZE) {
                    deliver(&http, &url, batch).await;
                }
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("[pump] {e}");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
        if Instant::now() >= next_tick {
            match invoke(&http, &url, &scheduled_event()).await {
                Ok(v)
                    if v["delivered"].as_u64().unwrap_or(0) > 0
                        || v["failing"].as_u64().unwrap_or(0) > 0 =>
                {
                    eprintln!("[pump] scheduled retry: {v}");
                }
                Ok(_) => {}
                Err(e) => eprintln!("[pump] scheduled retry: {e}"),
            }
            next_tick = Instant::now() + options.tick;
        }
        // A busy stream is read again at once, as Lambda reads a shard.
        if !busy {
            tokio::time::sleep(options.interval).await;
        }
    }
}
