//! A loopback SET receiver (RFC 8935) for the local stack, the tests and the benchmark: an
//! HTTP/1 server on 127.0.0.1 that verifies every SET with the subscription's signing
//! secret and records its `jti` and arrival time. It can be told to fail (a status), hang,
//! redirect or reject, to exercise the pusher's retries and X5.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use serde_json::Value;

/// How the receiver answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Verify and record, 202 (a bad signature: 400 `authentication_failed`).
    Accept,
    /// Answer this status, record nothing.
    Fail(u16),
    /// Wait this long, then answer 202 without recording (the pusher has given up).
    Hang(Duration),
    /// 302 to this URL, record nothing.
    Redirect(String),
    /// 400 `invalid_request` (RFC 8935 §2.3): the SET is refused.
    Reject,
}

/// One SET that arrived and verified.
#[derive(Debug, Clone)]
pub struct Received {
    pub jti: String,
    pub claims: Value,
    pub at: Instant,
    /// `Content-Type: application/secevent+jwt` and `Accept: application/json` were sent.
    pub headers_ok: bool,
}

#[derive(Debug)]
struct Shared {
    mode: Mutex<Mode>,
    secret: Mutex<Option<String>>,
    received: Mutex<Vec<Received>>,
    attempts: AtomicU64,
    invalid: AtomicU64,
    print: bool,
}

/// A running receiver; stops when dropped.
#[derive(Debug)]
pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    /// On 127.0.0.1:`port` (0: any free port). `secret`: the subscription's signing secret
    /// (without one, signatures are not checked). `print`: a line per SET on stderr.
    pub async fn start(port: u16, secret: Option<String>, print: bool) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            mode: Mutex::new(Mode::Accept),
            secret: Mutex::new(secret),
            received: Mutex::new(Vec::new()),
            attempts: AtomicU64::new(0),
            invalid: AtomicU64::new(0),
            print,
        });
        let task = tokio::spawn(crate::serve::serve(
            listener,
            shared.clone(),
            |shared: Arc<Shared>, req| async move { answer(&shared, req).await },
        ));
        Ok(Receiver { addr, shared, task })
    }

    pub fn url(&self) -> String {
        format!("http://{}/events", self.addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        if let Ok(mut m) = self.shared.mode.lock() {
            *m = mode;
        }
    }

    pub fn set_secret(&self, secret: Option<String>) {
        if let Ok(mut s) = self.shared.secret.lock() {
            *s = secret;
        }
    }

    /// Every SET that verified, in arrival order (duplicates included).
    pub fn received(&self) -> Vec<Received> {
        self.shared
            .received
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    pub fn jtis(&self) -> Vec<String> {
        self.received().into_iter().map(|r| r.jti).collect()
    }

    /// `jtis` without duplicates, in order of first arrival (what a receiver keeps).
    pub fn unique_jtis(&self) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        self.jtis()
            .into_iter()
            .filter(|j| seen.insert(j.clone()))
            .collect()
    }

    /// POSTs received, whatever the answer.
    pub fn attempts(&self) -> u64 {
        self.shared.attempts.load(Ordering::SeqCst)
    }

    /// SETs whose signature did not verify.
    pub fn invalid(&self) -> u64 {
        self.shared.invalid.load(Ordering::SeqCst)
    }

    /// Waits until `n` distinct jtis arrived, up to `timeout`. Returns whether they did.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            if self.unique_jtis().len() >= n {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.unique_jtis().len() >= n
    }
}

fn respond(status: u16, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    if !body.is_empty() {
        r.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
    }
    r
}

async fn answer(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    shared.attempts.fetch_add(1, Ordering::SeqCst);
    let header = |name: hyper::header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let headers_ok = header(hyper::header::CONTENT_TYPE)
        == scimlink::events::outbound::SET_CONTENT_TYPE
        && header(hyper::header::ACCEPT) == "application/json";
    let mode = shared
        .mode
        .lock()
        .map(|m| m.clone())
        .unwrap_or(Mode::Accept);
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return respond(
                400,
                r#"{"err":"invalid_request","description":"unreadable body"}"#,
            )
        }
    };
    match mode {
        Mode::Fail(status) => return respond(status, ""),
        Mode::Hang(d) => {
            tokio::time::sleep(d).await;
            return respond(202, "");
        }
        Mode::Redirect(to) => {
            let mut r = respond(302, "");
            if let Ok(v) = hyper::header::HeaderValue::from_str(&to) {
                r.headers_mut().insert(hyper::header::LOCATION, v);
            }
            return r;
        }
        Mode::Reject => {
            return respond(
                400,
                r#"{"err":"invalid_request","description":"refused by the test receiver"}"#,
            )
        }
        Mode::Accept => {}
    }
    let token = String::from_utf8_lossy(&body).trim().to_string();
    let secret = shared.secret.lock().ok().and_then(|s| s.clone());
    let claims = match &secret {
        Some(secret) => match scimlink::events::set::verify(&token, secret) {
            Ok(c) => c,
            Err(_) => {
                shared.invalid.fetch_add(1, Ordering::SeqCst);
                return respond(
                    400,
                    r#"{"err":"authentication_failed","description":"bad signature"}"#,
                );
            }
        },
        None => unverified_claims(&token).unwrap_or(Value::Null),
    };
    let jti = claims["jti"].as_str().unwrap_or_default().to_string();
    if shared.print {
        let event = claims["events"]
            .as_object()
            .and_then(|m| m.keys().next().cloned())
            .unwrap_or_default();
        eprintln!(
            "[receiver] {} jti={jti} {event} sub_id={} {}",
            if secret.is_some() {
                "verified"
            } else {
                "unverified"
            },
            claims["sub_id"],
            claims["scimlink"]["org"]
        );
    }
    if let Ok(mut r) = shared.received.lock() {
        r.push(Received {
            jti,
            claims,
            at: Instant::now(),
            headers_ok,
        });
    }
    respond(202, "")
}

fn unverified_claims(token: &str) -> Option<Value> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}
