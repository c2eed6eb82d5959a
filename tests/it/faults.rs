//! Test-only fault injection for the store's DynamoDB client.
//!
//! [`FaultClient`] wraps the SDK's default HTTP client (`aws-smithy-http-client`, hyper 1.x
//! with rustls, as `aws-config`'s `default-https-client` builds it) and is installed with
//! `aws_config::defaults(..).http_client(..)`. It counts every HTTP attempt the SDK sends
//! through the store's client (SDK retries included) and makes the Nth one fail.
//!
//! Why an `HttpClient` and not an interceptor: an interceptor can fail an attempt, but it
//! cannot answer one without sending it (the orchestrator always transmits the request once
//! `read_before_transmit`/`modify_before_transmit` return `Ok`, and an `Err` there is a
//! client-side error, not a DynamoDB response the service code would see). A throttle, a
//! failed condition, a transaction conflict or a 500 must not reach the table, exactly as on
//! real DynamoDB, and must look to the SDK like DynamoDB's own answer (JSON 1.0 protocol
//! error body, parsed and classified by the SDK: the retry classifier sees a real
//! `ThrottlingException`, a real HTTP 500 ...). The connector is the one place that can both
//! answer on its own and, for a timeout, send first and drop the answer.
//!
//! Faults ([`Fault`]):
//! - `Throttling`: HTTP 400, `ProvisionedThroughputExceededException` on odd call numbers and
//!   `ThrottlingException` (on-demand tables) on even ones, so that a matrix covers both.
//! - `ConditionFailed`: on `TransactWriteItems` a `TransactionCanceledException` whose
//!   `CancellationReasons` has `{"Code":"ConditionalCheckFailed"}` first (and `None` for the
//!   other actions, one reason per action, as DynamoDB answers); on any other call the plain
//!   `ConditionalCheckFailedException`.
//! - `TransactionConflict`: on `TransactWriteItems` a `TransactionCanceledException` with
//!   reason `TransactionConflict`; on any other call `TransactionConflictException` (what a
//!   single-item write gets when it collides with a transaction in flight).
//! - `Timeout`: the request IS sent, its response is dropped and the SDK sees a
//!   `ConnectorError::timeout`: the write may have happened.
//! - `InternalError`: HTTP 500 `InternalServerError`.
//!
//! Modes ([`Mode`]): fail call N once, or fail every call from N on (a fault the write
//! service cannot retry away; for a failed condition or a transaction conflict, every write
//! from N on, since reads never fail those). SDK retries are on (`RetryConfig::standard()`, with a short
//! backoff so tests stay quick) or off (`RetryConfig::disabled()`: then the service's own
//! code sees every fault).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use scimlink::store::Store;
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    Throttling,
    ConditionFailed,
    TransactionConflict,
    Timeout,
    InternalError,
}

impl Fault {
    /// The status the service must answer when this fault defeats a request: throttling is
    /// 429; any other transient store fault, a timeout, or lost races exhausted is 503
    /// (both with `Retry-After`); never 500 (S7).
    pub fn expected_status(self) -> u16 {
        match self {
            Fault::Throttling => 429,
            _ => 503,
        }
    }
}

impl Fault {
    /// A failed condition or a transaction conflict only ever answers a write (DynamoDB
    /// never fails a read with one): injected at a read, nothing fails; when one persists
    /// (`Mode::FromOn`), the reads in between succeed, as when a write loses every race it
    /// runs (the service's lost races exhausted).
    pub fn writes_only(self) -> bool {
        matches!(self, Fault::ConditionFailed | Fault::TransactionConflict)
    }
}

/// The DynamoDB operations that write.
pub fn is_write(op: &str) -> bool {
    matches!(
        op,
        "TransactWriteItems" | "BatchWriteItem" | "PutItem" | "DeleteItem" | "UpdateItem"
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Only call N fails.
    Once,
    /// Call N and every later call fail (every later write, for `Fault::writes_only`).
    FromOn,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Injection {
    pub fault: Fault,
    pub at: usize,
    pub mode: Mode,
}

/// One HTTP attempt seen while armed: its number (from 1), DynamoDB operation, and the fault
/// it got, if any.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub n: usize,
    pub op: String,
    pub fault: Option<Fault>,
}

/// The shared switchboard: counts attempts while armed and decides which fail.
#[derive(Debug, Default)]
pub struct Faults {
    armed: AtomicBool,
    calls: AtomicUsize,
    injection: Mutex<Option<Injection>>,
    attempts: Mutex<Vec<Attempt>>,
}

impl Faults {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Starts counting from zero; with `Some`, injects that fault.
    pub fn arm(&self, injection: Option<Injection>) {
        self.calls.store(0, Ordering::SeqCst);
        *lock(&self.injection) = injection;
        lock(&self.attempts).clear();
        self.armed.store(true, Ordering::SeqCst);
    }

    /// Stops counting and injecting (setup and checks run disarmed).
    pub fn disarm(&self) {
        self.armed.store(false, Ordering::SeqCst);
        *lock(&self.injection) = None;
    }

    /// Attempts counted since the last `arm`.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn attempts(&self) -> Vec<Attempt> {
        lock(&self.attempts).clone()
    }

    /// The attempts that got a fault.
    pub fn injected(&self) -> Vec<Attempt> {
        lock(&self.attempts)
            .iter()
            .filter(|a| a.fault.is_some())
            .cloned()
            .collect()
    }

    fn decide(&self, op: &str) -> Option<(usize, Fault)> {
        if !self.armed.load(Ordering::SeqCst) {
            return None;
        }
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let fault = lock(&self.injection).and_then(|i| match i.mode {
            Mode::Once if n == i.at && (is_write(op) || !i.fault.writes_only()) => Some(i.fault),
            Mode::FromOn if n >= i.at && (is_write(op) || !i.fault.writes_only()) => Some(i.fault),
            _ => None,
        });
        lock(&self.attempts).push(Attempt {
            n,
            op: op.to_string(),
            fault,
        });
        fault.map(|f| (n, f))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The DynamoDB operation of a request (`X-Amz-Target: DynamoDB_20120810.GetItem`).
fn operation(req: &HttpRequest) -> String {
    req.headers()
        .get("x-amz-target")
        .and_then(|t| t.rsplit('.').next())
        .unwrap_or("?")
        .to_string()
}

const NS: &str = "com.amazonaws.dynamodb.v20120810";

/// DynamoDB's JSON 1.0 error answer.
fn error_response(status: u16, body: Value) -> HttpResponse {
    let mut resp = HttpResponse::new(
        StatusCode::try_from(status).expect("a valid status"),
        SdkBody::from(body.to_string()),
    );
    resp.headers_mut()
        .insert("content-type", "application/x-amz-json-1.0");
    resp.headers_mut().insert(
        "x-amzn-requestid",
        "FAULTINJECTED0000000000000000000000000000000000000",
    );
    resp
}

/// `TransactionCanceledException` with one reason per action of the request, `code` first.
fn cancelled(req: &HttpRequest, code: &str, message: &str) -> HttpResponse {
    let actions = req
        .body()
        .bytes()
        .and_then(|b| serde_json::from_slice::<Value>(b).ok())
        .and_then(|v| v["TransactItems"].as_array().map(Vec::len))
        .unwrap_or(1)
        .max(1);
    let mut reasons = vec![json!({"Code": code, "Message": message})];
    reasons.extend((1..actions).map(|_| json!({"Code": "None"})));
    let names: Vec<&str> = std::iter::once(code)
        .chain((1..actions).map(|_| "None"))
        .collect();
    error_response(
        400,
        json!({
            "__type": format!("{NS}#TransactionCanceledException"),
            "Message": format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{}]", names.join(", ")),
            "CancellationReasons": reasons,
        }),
    )
}

fn fault_response(req: &HttpRequest, op: &str, n: usize, fault: Fault) -> HttpResponse {
    let transact = op == "TransactWriteItems";
    match fault {
        Fault::Throttling if n % 2 == 1 => error_response(
            400,
            json!({"__type": format!("{NS}#ProvisionedThroughputExceededException"), "message": "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API."}),
        ),
        Fault::Throttling => error_response(
            400,
            json!({"__type": "com.amazon.coral.availability#ThrottlingException", "message": "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table or index so please try again shortly."}),
        ),
        Fault::ConditionFailed if transact => cancelled(
            req,
            "ConditionalCheckFailed",
            "The conditional request failed",
        ),
        Fault::ConditionFailed => error_response(
            400,
            json!({"__type": format!("{NS}#ConditionalCheckFailedException"), "message": "The conditional request failed"}),
        ),
        Fault::TransactionConflict if transact => cancelled(
            req,
            "TransactionConflict",
            "Transaction is ongoing for the item",
        ),
        Fault::TransactionConflict => error_response(
            400,
            json!({"__type": format!("{NS}#TransactionConflictException"), "message": "Transaction is ongoing for the item"}),
        ),
        Fault::InternalError | Fault::Timeout => error_response(
            500,
            json!({"__type": format!("{NS}#InternalServerError"), "message": "Internal server error"}),
        ),
    }
}

/// The wrapping `HttpClient`.
#[derive(Debug, Clone)]
pub struct FaultClient {
    inner: SharedHttpClient,
    faults: Arc<Faults>,
}

impl FaultClient {
    pub fn new(faults: Arc<Faults>) -> Self {
        let inner = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        FaultClient { inner, faults }
    }
}

impl HttpClient for FaultClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(FaultConnector {
            inner: self.inner.http_connector(settings, components),
            faults: self.faults.clone(),
        })
    }
}

#[derive(Debug)]
struct FaultConnector {
    inner: SharedHttpConnector,
    faults: Arc<Faults>,
}

impl HttpConnector for FaultConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let op = operation(&request);
        match self.faults.decide(&op) {
            None => self.inner.call(request),
            Some((_, Fault::Timeout)) => {
                // Sent: the table may change. The answer is lost on the way back.
                let sent = self.inner.call(request);
                HttpConnectorFuture::new(async move {
                    let _ = sent.await;
                    Err(ConnectorError::timeout(
                        format!("injected: {op} timed out after it was sent").into(),
                    ))
                })
            }
            Some((n, fault)) => {
                HttpConnectorFuture::ready(Ok(fault_response(&request, &op, n, fault)))
            }
        }
    }
}

/// SDK retries on (standard mode, 3 attempts, millisecond backoff) or off.
pub fn retry_config(sdk_retries: bool) -> aws_config::retry::RetryConfig {
    if sdk_retries {
        aws_config::retry::RetryConfig::standard()
            .with_initial_backoff(Duration::from_millis(2))
            .with_max_backoff(Duration::from_millis(20))
    } else {
        aws_config::retry::RetryConfig::disabled()
    }
}

/// A store on `table` of DynamoDB Local whose client goes through `faults`.
pub async fn store(table: &str, faults: Arc<Faults>, sdk_retries: bool) -> Store {
    let sdk = scimlink::aws::sdk_loader()
        .endpoint_url(crate::common::endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local", "local", None, None, "test",
        ))
        .http_client(FaultClient::new(faults))
        .retry_config(retry_config(sdk_retries))
        .load()
        .await;
    Store::new(&sdk, table)
}
