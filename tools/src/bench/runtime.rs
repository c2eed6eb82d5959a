//! Per request, through the Lambda runtime (issue 12): each function's release binary runs
//! behind our own Runtime API (`runtime_api.rs`) exactly as Lambda runs it, and is handed
//! API Gateway events one at a time. For each operation: what DynamoDB bills and how long
//! the request waits for it (requests, sequential round trips, capacity: from the
//! function's own log line), and what the function's process spends (CPU per invocation,
//! median and 90th percentile). Then, per function: binary size and init time.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper::body::Bytes;
use scimlink::http::AppState;
use serde_json::{json, Value};

use super::{patch, setup, Bench, BenchResult};
use scimlink_tools::runtime_api::{Answer, Function};

pub const HEADING: &str = "## Per request, through the Lambda runtime";

/// The functions measured, by binary name.
pub const FUNCTIONS: [&str; 8] = [
    "scim-users",
    "scim-groups",
    "scim-discovery",
    "scim-bulk",
    "admin",
    "events",
    "group-cleanup",
    "console",
];
/// Starts of each function for its init time.
const INIT_RUNS: usize = 5;

/// One operation measured: its name, and per invocation its CPU time and its DynamoDB cost.
struct Row {
    name: &'static str,
    cpu: Vec<Duration>,
    requests: Vec<f64>,
    round_trips: Vec<f64>,
    read_units: Vec<f64>,
    write_units: Vec<f64>,
}

impl Row {
    /// The row without its first invocation (the one that verified the token and read it).
    fn without_first(mut self) -> Self {
        for v in [
            &mut self.requests,
            &mut self.round_trips,
            &mut self.read_units,
            &mut self.write_units,
        ] {
            if !v.is_empty() {
                v.remove(0);
            }
        }
        if !self.cpu.is_empty() {
            self.cpu.remove(0);
        }
        self
    }
}

/// What a request of the operation is: method, path below the directory's base, body.
type Call = (&'static str, String, Option<Value>);

/// The whole section: `invocations` requests per operation against the release binaries in
/// `bin_dir`, on the table the environment names.
pub async fn section(state: AppState, bin_dir: &Path, invocations: usize) -> BenchResult<String> {
    let (bench, _, _) = setup(&state).await?;
    let env = function_env(None);
    let mut users = Function::start(&bin_dir.join("scim-users"), &env).await?;
    let mut groups = Function::start(&bin_dir.join("scim-groups"), &env).await?;
    // Warm both instances as Lambda's first request would (the token is then verified).
    run_op(&mut users, &bench, "warm-up", 1, 200, |_| {
        ("GET", "/Users?count=1".into(), None)
    })
    .await?;
    run_op(&mut groups, &bench, "warm-up", 1, 200, |_| {
        ("GET", "/Groups?count=1".into(), None)
    })
    .await?;

    let n = invocations;
    let user_body = |i: usize, title: &str| {
        let email = format!("rt{i}@bench.example.com");
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": email,
               "name": {"givenName": "Run", "familyName": format!("Time{i}")}, "title": title,
               "emails": [{"value": email, "type": "work", "primary": true}], "active": true})
    };
    let mut rows = Vec::new();
    let (create, answers) =
        run_op_answers(&mut users, &bench, "create (POST /Users)", n, 201, |i| {
            ("POST", "/Users".into(), Some(user_body(i, "Engineer")))
        })
        .await?;
    rows.push(create);
    let ids: Vec<String> = answers
        .iter()
        .map(|a| a["id"].as_str().unwrap_or_default().to_string())
        .collect();
    if ids.iter().any(String::is_empty) {
        return Err("a create answered without an id".into());
    }
    let id = |i: usize| ids[i % ids.len()].clone();
    rows.push(
        run_op(&mut users, &bench, "GET /Users/{id}", n, 200, |i| {
            ("GET", format!("/Users/{}", id(i)), None)
        })
        .await?,
    );
    rows.push(
        run_op(&mut users, &bench, "filter userName eq", n, 200, |i| {
            let filter = format!("userName eq \"rt{i}@bench.example.com\"");
            ("GET", format!("/Users?filter={}", encode(&filter)), None)
        })
        .await?,
    );
    rows.push(
        run_op(&mut users, &bench, "PUT /Users/{id}", n, 200, |i| {
            (
                "PUT",
                format!("/Users/{}", id(i)),
                Some(user_body(i, "Manager")),
            )
        })
        .await?,
    );
    rows.push(
        run_op(&mut users, &bench, "PATCH user (title)", n, 200, |i| {
            let op = json!({"op": "replace", "path": "title", "value": format!("Lead {i}")});
            ("PATCH", format!("/Users/{}", id(i)), Some(patch(op)))
        })
        .await?,
    );
    let (status, group) = bench
        .scim("POST", "/Groups", Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Runtime"})))
        .await?;
    if status != 201 {
        return Err(format!("create group: {status} {group}").into());
    }
    let gid = group["id"].as_str().ok_or("no group id")?.to_string();
    rows.push(
        run_op(
            &mut groups,
            &bench,
            "PATCH group (add one member)",
            n,
            204,
            |i| {
                let op = json!({"op": "add", "path": "members", "value": [{"value": id(i)}]});
                ("PATCH", format!("/Groups/{gid}"), Some(patch(op)))
            },
        )
        .await?,
    );
    rows.push(
        run_op(&mut users, &bench, "DELETE /Users/{id}", n, 204, |i| {
            ("DELETE", format!("/Users/{}", id(i)), None)
        })
        .await?,
    );
    let mut doomed = Vec::new();
    for i in 0..n {
        let (status, g) = bench
            .scim("POST", "/Groups", Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": format!("Doomed {i}")})))
            .await?;
        if status != 201 {
            return Err(format!("create group: {status} {g}").into());
        }
        doomed.push(g["id"].as_str().unwrap_or_default().to_string());
    }
    rows.push(
        run_op(&mut groups, &bench, "DELETE /Groups/{id}", n, 204, |i| {
            ("DELETE", format!("/Groups/{}", doomed[i]), None)
        })
        .await?,
    );
    drop(users);
    drop(groups);

    // The floor: an authenticated request that reads nothing once its token is verified
    // (the runtime's event and answer, the routing, the log line), so each row above is
    // this plus its DynamoDB requests.
    let mut discovery = Function::start(&bin_dir.join("scim-discovery"), &env).await?;
    rows.push(
        run_op(
            &mut discovery,
            &bench,
            "GET /ServiceProviderConfig (no DynamoDB request)",
            n + 1,
            200,
            |_| ("GET", "/ServiceProviderConfig".into(), None),
        )
        .await?
        .without_first(),
    );
    drop(discovery);

    // The same reads and create on an instance that reads the token on every request.
    let mut uncached = Function::start(&bin_dir.join("scim-users"), &function_env(Some(0))).await?;
    let mut without_cache = Vec::new();
    without_cache.push(
        run_op(&mut uncached, &bench, "create (POST /Users)", n, 201, |i| {
            ("POST", "/Users".into(), Some(user_body(n + i, "Engineer")))
        })
        .await?,
    );
    let (status, keep) = bench
        .scim("POST", "/Users", Some(user_body(3 * n, "Kept")))
        .await?;
    let kept = keep["id"]
        .as_str()
        .filter(|_| status == 201)
        .ok_or("create user")?
        .to_string();
    without_cache.push(
        run_op(&mut uncached, &bench, "GET /Users/{id}", n, 200, |_| {
            ("GET", format!("/Users/{kept}"), None)
        })
        .await?,
    );
    without_cache.push(
        run_op(&mut uncached, &bench, "filter userName eq", n, 200, |i| {
            let filter = format!("userName eq \"rt{}@bench.example.com\"", n + i);
            ("GET", format!("/Users?filter={}", encode(&filter)), None)
        })
        .await?,
    );
    drop(uncached);

    let mut sizes = Vec::new();
    for name in FUNCTIONS {
        let binary = bin_dir.join(name);
        let size = std::fs::metadata(&binary)?.len();
        let mut inits = Vec::new();
        for _ in 0..INIT_RUNS {
            match Function::start(&binary, &env).await {
                Ok(f) => inits.push(f.init),
                // Reported in its row, not fatal: the per-request rows above still stand.
                Err(e) => eprintln!("{name} did not start: {e}"),
            }
        }
        inits.sort();
        sizes.push((
            name,
            size,
            inits.get(inits.len() / 2).copied().unwrap_or_default(),
        ));
    }
    Ok(report(&rows, &without_cache, &sizes, n))
}

/// The environment a function gets on the local stack: the table and DynamoDB Local's
/// endpoint, the credentials, the region (the bench's own environment has them).
/// `token_cache_seconds` overrides `SCIMLINK_TOKEN_CACHE_SECONDS`.
fn function_env(token_cache_seconds: Option<u64>) -> Vec<(String, String)> {
    [
        "SCIMLINK_TABLE",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
        "SCIMLINK_TOKEN_CACHE_SECONDS",
    ]
    .into_iter()
    .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
    .chain([
        (
            "SCIMLINK_OPERATOR_KEY".to_string(),
            super::OPERATOR_KEY.to_string(),
        ),
        ("AWS_LAMBDA_LOG_LEVEL".to_string(), "INFO".to_string()),
        // The events function signs with it; without it (or shorter than 32 bytes, the
        // key's minimum) it ends at init as Lambda would.
        (
            "SCIMLINK_EVENTS_KEY".to_string(),
            "bench-events-key-of-at-least-32-bytes".to_string(),
        ),
    ])
    .chain(token_cache_seconds.map(|s| ("SCIMLINK_TOKEN_CACHE_SECONDS".to_string(), s.to_string())))
    .collect()
}

async fn run_op(
    function: &mut Function,
    bench: &Bench,
    name: &'static str,
    n: usize,
    expect: u16,
    call: impl Fn(usize) -> Call,
) -> BenchResult<Row> {
    Ok(run_op_answers(function, bench, name, n, expect, call)
        .await?
        .0)
}

/// Runs `n` requests of one operation through `function`, checking each answer's status.
/// Returns the row and each answer's body.
async fn run_op_answers(
    function: &mut Function,
    bench: &Bench,
    name: &'static str,
    n: usize,
    expect: u16,
    call: impl Fn(usize) -> Call,
) -> BenchResult<(Row, Vec<Value>)> {
    let mut row = Row {
        name,
        cpu: Vec::new(),
        requests: Vec::new(),
        round_trips: Vec::new(),
        read_units: Vec::new(),
        write_units: Vec::new(),
    };
    let mut bodies = Vec::new();
    for i in 0..n {
        let (method, path, body) = call(i);
        let event = api_gateway_event(
            method,
            &format!("{}{path}", bench.base),
            &bench.token,
            body.as_ref(),
        );
        let (answer, cpu) = function.invoke(event).await?;
        let response: Value = match answer {
            Answer::Response(b) => serde_json::from_slice(&b)?,
            Answer::Error(b) => {
                return Err(format!(
                    "{name}: the function failed: {}",
                    String::from_utf8_lossy(&b)
                )
                .into())
            }
        };
        let status = response["statusCode"].as_u64().unwrap_or_default();
        let body: Value = response["body"]
            .as_str()
            .and_then(|b| serde_json::from_str(b).ok())
            .unwrap_or(Value::Null);
        if status != u64::from(expect) {
            return Err(format!("{name} {method} {path}: {status} {body}").into());
        }
        let cost = request_cost(function)?;
        row.cpu.push(cpu);
        row.requests
            .push(cost["dynamodb_requests"].as_f64().unwrap_or_default());
        row.round_trips
            .push(cost["round_trips"].as_f64().unwrap_or_default());
        row.read_units
            .push(cost["read_units"].as_f64().unwrap_or_default());
        row.write_units
            .push(cost["write_units"].as_f64().unwrap_or_default());
        bodies.push(body);
    }
    Ok((row, bodies))
}

/// The fields of the function's "scim request" (or "discovery request") log line of the
/// invocation just answered.
fn request_cost(function: &mut Function) -> BenchResult<Value> {
    let mut found = None;
    while let Ok(line) = function.log.try_recv() {
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if v["fields"]["message"] == "scim request" || v["fields"]["message"] == "discovery request"
        {
            found = Some(v["fields"].clone());
        }
    }
    found.ok_or_else(|| "the function logged no request line".into())
}

/// An API Gateway HTTP API (payload 2.0) event, as the template's routes send it.
fn api_gateway_event(
    method: &str,
    path_and_query: &str,
    token: &str,
    body: Option<&Value>,
) -> Bytes {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    // As API Gateway's routes name them: `{directoryId}`, and `{id}` below a resource.
    let segments: Vec<&str> = path.split('/').collect();
    let mut parameters = json!({"directoryId": segments.get(4).copied().unwrap_or_default()});
    if let Some(id) = segments.get(6) {
        parameters["id"] = json!(id);
    }
    let event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "authorization": format!("Bearer {token}"),
            "accept": "application/scim+json",
            "content-type": "application/scim+json",
            "host": "bench.execute-api.us-east-1.amazonaws.com",
            "user-agent": "Okta SCIM Client 1.0.0"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "bench",
            "domainName": "bench.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "bench",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.10", "userAgent": "Okta SCIM Client 1.0.0"},
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": "$default",
            "stage": "$default",
            "time": "30/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1796032800000u64
        },
        "pathParameters": parameters,
        "isBase64Encoded": false,
        "body": body.map(Value::to_string),
    });
    Bytes::from(event.to_string())
}

/// A query parameter's value, percent-encoded.
fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn median<T: Copy + PartialOrd>(v: &[T]) -> Option<T> {
    percentile(v, 50)
}

fn percentile<T: Copy + PartialOrd>(v: &[T], p: usize) -> Option<T> {
    let mut sorted = v.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    sorted
        .get((sorted.len().saturating_sub(1)) * p / 100)
        .copied()
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}

fn report(
    rows: &[Row],
    without_cache: &[Row],
    functions: &[(&str, u64, Duration)],
    n: usize,
) -> String {
    let mut out = format!(
        "{HEADING}\n\nEach function's release binary (`target/release/<function>`) runs as Lambda runs it: \
         started with `AWS_LAMBDA_RUNTIME_API` pointing at the bench's own Runtime API \
         (tools/src/runtime_api.rs), JSON log lines as the template configures, one API Gateway \
         event at a time, {n} requests per operation on a warm instance. CPU is the process's \
         time on the CPU (all threads, `/proc/<pid>/task/*/schedstat`) from one poll for an \
         event to the next: parsing the event, the handler, the answer, the log line. \
         DynamoDB figures come from the function's own log line of each request (the median; \
         the most is given when it differs). Round trips are sequential: requests sent side by \
         side count once. The token is verified once per instance and trusted for \
         {ttl} s after (docs/DECISIONS.md); a cold instance's first request adds one request and \
         one round trip.\n\n\
         | operation | round trips | DynamoDB requests | RCU | WCU | CPU median µs | CPU p90 µs |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
        ttl = scimlink::http::tokens::TokenCache::from_env().ttl().as_secs(),
    );
    out += &table(rows);
    out += "\n### The token check: cached on the instance, or read on every request\n\n\
            The same operations on an instance started with `SCIMLINK_TOKEN_CACHE_SECONDS=0`: \
            the token item is read before anything else on every request.\n\n\
            | operation | round trips | DynamoDB requests | RCU | WCU | CPU median µs | CPU p90 µs |\n\
            |---|---:|---:|---:|---:|---:|---:|\n";
    out += &table(without_cache);
    out += "\n### Per function: binary size and init\n\n\
            Size of the stripped release binary (the Lambda package's `bootstrap`). Init is from \
            the process's start to its first poll for an event (the median of 5 starts): the \
            runtime, the AWS SDK's configuration, the state built once per cold start.\n\n\
            | function | binary MB | init ms |\n|---|---:|---:|\n";
    for (name, size, init) in functions {
        out += &format!(
            "| {name} | {:.2} | {:.1} |\n",
            *size as f64 / 1_048_576.0,
            init.as_secs_f64() * 1000.0
        );
    }
    out
}

fn table(rows: &[Row]) -> String {
    let micros = |d: Option<Duration>| d.map_or(0, |d| d.as_micros());
    let mut out = String::new();
    for r in rows {
        let cell = |v: &[f64]| {
            let m = median(v).unwrap_or_default();
            let top = max(v);
            if (top - m).abs() > f64::EPSILON {
                format!("{m} (≤ {top})")
            } else {
                format!("{m}")
            }
        };
        out += &format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            r.name,
            cell(&r.round_trips),
            cell(&r.requests),
            cell(&r.read_units),
            cell(&r.write_units),
            micros(median(&r.cpu)),
            micros(percentile(&r.cpu, 90)),
        );
    }
    out
}

/// `target/release` of this workspace, or `CARGO_TARGET_DIR/release`.
pub fn release_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"))
        .join("release")
}
