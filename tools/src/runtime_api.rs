//! The Lambda Runtime API, served by us: what Lambda offers a function's process
//! (`GET /2018-06-01/runtime/invocation/next`, `POST .../invocation/{id}/response` and
//! `.../error`, `POST .../init/error`). The bench starts a function's release binary with
//! `AWS_LAMBDA_RUNTIME_API` pointing here, hands it API Gateway events one at a time, and
//! measures what Lambda would bill and what the process spends: the time from the process's
//! start to its first poll (init) and the CPU time of each invocation, from one poll to the
//! next (the event's parsing, the handler, the answer, the log line, the next poll).

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{mpsc, Mutex};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// How long the bench waits for a poll or an answer before it gives up on the function.
const PATIENCE: Duration = Duration::from_secs(30);

/// What the function answered to one invocation.
#[derive(Debug)]
pub enum Answer {
    /// `POST /invocation/{id}/response`: the function's result (an API Gateway response).
    Response(Bytes),
    /// `POST /invocation/{id}/error` or `/init/error`.
    Error(Bytes),
}

struct Shared {
    events: Mutex<mpsc::UnboundedReceiver<(String, Bytes)>>,
    polls: mpsc::UnboundedSender<Instant>,
    answers: mpsc::UnboundedSender<Answer>,
}

/// One function process behind our Runtime API.
pub struct Function {
    child: tokio::process::Child,
    pid: u32,
    events: mpsc::UnboundedSender<(String, Bytes)>,
    polls: mpsc::UnboundedReceiver<Instant>,
    answers: mpsc::UnboundedReceiver<Answer>,
    /// The function's log lines (stdout), as they come.
    pub log: mpsc::UnboundedReceiver<String>,
    server: tokio::task::JoinHandle<()>,
    /// From the process's start to its first poll of `/invocation/next`.
    pub init: Duration,
    next_id: u64,
}

impl Drop for Function {
    fn drop(&mut self) {
        self.server.abort();
        let _ = self.child.start_kill();
    }
}

impl Function {
    /// Starts `binary` as Lambda would, with `env` added to its environment, and waits for
    /// its first poll.
    pub async fn start(binary: &Path, env: &[(String, String)]) -> Result<Function, Error> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr: SocketAddr = listener.local_addr()?;
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (polls_tx, polls_rx) = mpsc::unbounded_channel();
        let (answers_tx, answers_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            events: Mutex::new(events_rx),
            polls: polls_tx,
            answers: answers_tx,
        });
        let server = tokio::spawn(crate::serve::serve(
            listener,
            shared,
            |shared: Arc<Shared>, req| async move { answer(&shared, req).await },
        ));
        let name = binary
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let started = Instant::now();
        let mut child = tokio::process::Command::new(binary)
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().ok_or("the function exited at once")?;
        let (log_tx, log_rx) = mpsc::unbounded_channel();
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if log_tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let mut function = Function {
            child,
            pid,
            events: events_tx,
            polls: polls_rx,
            answers: answers_rx,
            log: log_rx,
            server,
            init: Duration::ZERO,
            next_id: 0,
        };
        let first_poll = function.wait_poll().await?;
        function.init = first_poll - started;
        Ok(function)
    }

    /// Waits until the function asks for its next event.
    pub async fn wait_poll(&mut self) -> Result<Instant, Error> {
        tokio::time::timeout(PATIENCE, self.polls.recv())
            .await
            .map_err(|_| "the function did not poll for an event")?
            .ok_or_else(|| "the runtime API stopped".into())
    }

    /// Hands the function one event (after its poll) and waits for its answer and its next
    /// poll: the answer and the CPU time the process spent from this poll to the next.
    pub async fn invoke(&mut self, event: Bytes) -> Result<(Answer, Duration), Error> {
        let before = cpu_time(self.pid)?;
        self.next_id += 1;
        self.events
            .send((format!("bench-{}", self.next_id), event))
            .map_err(|_| "the runtime API stopped")?;
        let answer = tokio::time::timeout(PATIENCE, self.answers.recv())
            .await
            .map_err(|_| "the function did not answer")?
            .ok_or("the runtime API stopped")?;
        self.wait_poll().await?;
        let after = cpu_time(self.pid)?;
        Ok((answer, after.saturating_sub(before)))
    }

    /// CPU time of the whole process so far.
    pub fn cpu(&self) -> Result<Duration, Error> {
        cpu_time(self.pid)
    }
}

/// The CPU time of every thread of `pid` (`/proc/<pid>/task/*/schedstat`, nanoseconds on
/// the CPU: far finer than the clock ticks of `/proc/<pid>/stat`).
fn cpu_time(pid: u32) -> Result<Duration, Error> {
    let mut nanos: u64 = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let Ok(task) = task else { continue };
        // A thread may end between the listing and the read: it is simply not counted.
        let Ok(stat) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        nanos += stat
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Ok(Duration::from_nanos(nanos))
}

async fn answer(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let reply = |status: u16, body: Bytes| {
        let mut r = Response::new(Full::new(body));
        *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
        r
    };
    if method == hyper::Method::GET && path == "/2018-06-01/runtime/invocation/next" {
        let _ = shared.polls.send(Instant::now());
        let next = shared.events.lock().await.recv().await;
        let Some((id, event)) = next else {
            return reply(500, Bytes::new());
        };
        let deadline = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() + 30_000)
            .unwrap_or_default();
        let mut r = reply(200, event);
        let headers = r.headers_mut();
        for (name, value) in [
            ("lambda-runtime-aws-request-id", id),
            ("lambda-runtime-deadline-ms", deadline.to_string()),
            (
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:bench".to_string(),
            ),
            (
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000".to_string(),
            ),
            ("content-type", "application/json".to_string()),
        ] {
            if let Ok(v) = hyper::header::HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
        return r;
    }
    if method == hyper::Method::POST {
        let body = match req.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => Bytes::new(),
        };
        let answer = if path.ends_with("/response") {
            Answer::Response(body)
        } else {
            Answer::Error(body)
        };
        let _ = shared.answers.send(answer);
        return reply(202, Bytes::from_static(b"{\"status\":\"OK\"}"));
    }
    reply(404, Bytes::new())
}
