//! The real `scimlink` binary against the local stack: the admin function's handler served
//! in-process on a 127.0.0.1 port over DynamoDB Local (`SCIMLINK_TEST_DYNAMODB_ENDPOINT`,
//! which `make test` provides), the binary run as a process.

// Test set-up fails loudly (the binary itself never panics: the workspace lints hold there).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use scimlink::http::AppState;
use scimlink::store::{create_table_with_stream, Store};
use serde_json::{json, Value};

const OPERATOR_KEY: &str = "cli-test-operator-key";
const CURSOR_KEY: &str = "cli-test-cursor-key-0123456789abcdef012345";
const TABLE: &str = "scimlink-test";

/// The admin API (and SCIM) on 127.0.0.1, served until dropped.
struct Stack {
    state: AppState,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    org: String,
    directory: String,
    token: String,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    state: AppState,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = req.into_parts();
    let bytes = body.collect().await?.to_bytes();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let headers: Vec<(&str, String)> = parts
        .headers
        .iter()
        .filter(|(k, _)| *k == http::header::AUTHORIZATION)
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v.to_string())))
        .collect();
    let body = (!bytes.is_empty()).then(|| String::from_utf8_lossy(&bytes).into_owned());
    let answer =
        match scimlink::http::local::request(parts.method.as_str(), &path, None, body, &headers) {
            Ok(req) => scimlink::http::local::dispatch(&state, req).await.ok(),
            Err(_) => None,
        };
    let Some(answer) = answer else {
        let mut r = hyper::Response::new(Full::new(Bytes::from_static(b"{}")));
        *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        return Ok(r);
    };
    let (rparts, rbody) = answer.into_parts();
    let bytes = match rbody {
        lambda_http::Body::Text(t) => Bytes::from(t),
        lambda_http::Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    Ok(hyper::Response::from_parts(rparts, Full::new(bytes)))
}

impl Stack {
    /// A fresh org (verified domain example.com) with an Okta directory and its token, and
    /// the handler listening on 127.0.0.1.
    async fn start() -> Stack {
        let endpoint = std::env::var("SCIMLINK_TEST_DYNAMODB_ENDPOINT")
            .expect("SCIMLINK_TEST_DYNAMODB_ENDPOINT (make test starts DynamoDB Local)");
        let sdk = scimlink::aws::sdk_loader()
            .endpoint_url(endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "local", "local", None, None, "test",
            ))
            .load()
            .await;
        let store = Store::new(&sdk, TABLE);
        create_table_with_stream(&store, false)
            .await
            .expect("the test table");
        let state = AppState::new(store, Some(OPERATOR_KEY)).with_cursor_key(CURSOR_KEY);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("listen");
        let addr = listener.local_addr().expect("addr");
        let serving = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = serving.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| serve(state.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        let mut stack = Stack {
            state,
            addr,
            task,
            org: String::new(),
            directory: String::new(),
            token: String::new(),
        };
        let org = stack
            .api(
                "POST",
                "/admin/v1/orgs",
                Some(json!({"name": "CLI org", "verifiedDomains": ["example.com"]})),
            )
            .await;
        stack.org = org["id"].as_str().expect("org").to_string();
        let dir = stack
            .org_api(
                "POST",
                "/directories",
                Some(json!({"name": "Okta", "idp": "okta"})),
            )
            .await;
        stack.directory = dir["id"].as_str().expect("dir").to_string();
        let tok = stack
            .org_api(
                "POST",
                &format!("/directories/{}/tokens", stack.directory),
                None,
            )
            .await;
        stack.token = tok["token"].as_str().expect("token").to_string();
        stack
    }

    fn endpoint(&self) -> String {
        format!("http://{}/admin/v1", self.addr)
    }

    /// An in-process call with any token; answers (status, body).
    async fn raw(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let req = scimlink::http::local::request(
            method,
            path,
            Some(token),
            body.map(|b| b.to_string()),
            &[],
        )
        .expect("request");
        let resp = scimlink::http::local::dispatch(&self.state, req)
            .await
            .expect("answer");
        let status = resp.status().as_u16();
        let body = match resp.into_body() {
            lambda_http::Body::Text(t) => serde_json::from_str(&t).unwrap_or(Value::Null),
            _ => Value::Null,
        };
        (status, body)
    }

    /// An admin call with the operator key that must succeed.
    async fn api(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, body) = self.raw(method, path, OPERATOR_KEY, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {body}"
        );
        body
    }

    async fn org_api(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.api(method, &format!("/admin/v1/orgs/{}{path}", self.org), body)
            .await
    }

    /// A SCIM call of the directory's IdP that must succeed.
    async fn scim(&self, method: &str, path: &str, body: Value) -> Value {
        let path = format!("/scim/v2/directories/{}{path}", self.directory);
        let (status, body) = self.raw(method, &path, &self.token, Some(body)).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {body}"
        );
        body
    }

    async fn create_user(&self, email: &str) -> String {
        let u = self
            .scim(
                "POST",
                "/Users",
                json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": email,
                    "name": {"givenName": "Test", "familyName": "User"},
                    "emails": [{"primary": true, "value": email, "type": "work"}],
                    "externalId": format!("ext-{email}"),
                    "active": true
                }),
            )
            .await;
        u["id"].as_str().expect("id").to_string()
    }

    async fn create_group(&self, name: &str, members: &[String]) -> String {
        let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
        let g = self
            .scim(
                "POST",
                "/Groups",
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name, "members": members}),
            )
            .await;
        g["id"].as_str().expect("id").to_string()
    }

    async fn roles(&self, account: &str) -> Vec<String> {
        let a = self
            .org_api("GET", &format!("/accounts/{account}/access"), None)
            .await;
        serde_json::from_value(a["roles"].clone()).expect("roles")
    }

    /// Runs `scimlink args` configured by the environment for this stack.
    async fn cli(&self, args: &[&str]) -> Run {
        self.cli_with(
            args,
            &[
                ("SCIMLINK_ADMIN_URL", self.endpoint()),
                ("SCIMLINK_ADMIN_KEY", OPERATOR_KEY.to_string()),
                ("ORG_ID", self.org.clone()),
                ("DIRECTORY_ID", self.directory.clone()),
            ],
        )
        .await
    }

    /// `scimlink --json conflicts review DIR GROUP extra...`, parsed.
    async fn review_json(&self, group: &str, extra: &[&str]) -> Value {
        let mut args = vec!["--json", "conflicts", "review", &self.directory, group];
        args.extend_from_slice(extra);
        self.cli(&args).await.ok().json()
    }

    async fn cli_with(&self, args: &[&str], env: &[(&str, String)]) -> Run {
        run_cli(args, env, &std::env::temp_dir()).await
    }
}

/// The process's exit code and output.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
    fn ok(self) -> Run {
        if std::env::var_os("SCIMLINK_CLI_TEST_SHOW").is_some() {
            eprintln!("----\n{}{}", self.stdout, self.stderr);
        }
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
}

fn command(args: &[&str], env: &[(&str, String)], dir: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_scimlink"));
    cmd.args(args).current_dir(dir).kill_on_drop(true);
    for v in [
        "SCIMLINK_ADMIN_URL",
        "ADMIN_BASE_URL",
        "SCIMLINK_ADMIN_KEY",
        "OPERATOR_KEY",
        "ORG_ID",
        "DIRECTORY_ID",
    ] {
        cmd.env_remove(v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn finished(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn run_cli(args: &[&str], env: &[(&str, String)], dir: &Path) -> Run {
    let out = command(args, env, dir)
        .output()
        .await
        .expect("run scimlink");
    finished(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnose_an_invited_then_provisioned_email_shows_the_verdict() {
    let s = Stack::start().await;
    let invited = s
        .cli(&["invite", "ada@example.com", "--display-name", "Ada"])
        .await
        .ok();
    assert!(invited.stdout.contains("invited"), "{}", invited.stdout);
    // Before the IdP: the account exists, nothing links it.
    let before = s.cli(&["diagnose", "ada@example.com"]).await.ok();
    assert!(
        before
            .stdout
            .contains("no directory has provisioned this email"),
        "{}",
        before.stdout
    );
    let user = s.create_user("ada@example.com").await;
    let run = s.cli(&["diagnose", "ada@example.com"]).await.ok();
    assert!(run.stdout.contains("Verdict:"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains(&format!("is linked to SCIM user {user}")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Next step: Nothing to do."),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("took-over") || run.stdout.contains("linked"),
        "{}",
        run.stdout
    );
    // --json is the API's answer as it is.
    let api = s
        .org_api("GET", "/diagnose?email=ada@example.com", None)
        .await;
    let cli = s
        .cli(&["--json", "diagnose", "ada@example.com"])
        .await
        .ok()
        .json();
    assert_eq!(cli["verdict"], api["verdict"]);
    assert_eq!(cli["account"]["origin"], "invited");
    assert_eq!(cli["scimUsers"][0]["id"], user.as_str());
}

/// The admins' `jira-users` has a and b; the IdP pushes `JIRA-Users` with b, c and d: held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_review_then_sync_all_dry_run_and_for_real() {
    let s = Stack::start().await;
    s.org_api(
        "POST",
        "/sites",
        Some(json!({"id": "acme", "name": "acme.example.net"})),
    )
    .await;
    s.org_api(
        "POST",
        "/products",
        Some(json!({"id": "jira", "name": "Jira", "siteId": "acme", "roles": ["user", "admin"]})),
    )
    .await;
    let og = s
        .org_api(
            "POST",
            "/org-groups",
            Some(json!({"name": "jira-users", "roles": ["jira/user"]})),
        )
        .await["id"]
        .as_str()
        .expect("og")
        .to_string();
    let mut accounts = Vec::new();
    for e in ["a@example.com", "b@example.com", "c@example.com"] {
        let r = s.cli(&["--json", "invite", e]).await.ok().json();
        accounts.push(r["id"].as_str().expect("id").to_string());
    }
    let (a, c) = (accounts[0].clone(), accounts[2].clone());
    s.org_api(
        "POST",
        &format!("/org-groups/{og}/members"),
        Some(json!({"accountIds": [accounts[0], accounts[1]]})),
    )
    .await;
    let mut users = Vec::new();
    for e in ["b@example.com", "c@example.com", "d@example.com"] {
        users.push(s.create_user(e).await);
    }
    let group = s.create_group("JIRA-Users", &users).await;
    // A hostile IdP group name, held too: it must not reach the terminal as escapes.
    s.org_api(
        "POST",
        "/org-groups",
        Some(json!({"name": "ops\u{1b}[2J\u{1b}]0;pwned\u{7}", "roles": []})),
    )
    .await;
    let hostile = s
        .create_group("ops\u{1b}[2J\u{1b}]0;pwned\u{7}", &users[..1])
        .await;

    let list = s.cli(&["conflicts", "list"]).await.ok();
    assert!(list.stdout.contains("JIRA-Users"), "{}", list.stdout);
    assert!(list.stdout.contains(&hostile), "{}", list.stdout);
    assert!(
        !list.stdout.contains('\u{1b}') && !list.stdout.contains('\u{7}'),
        "{:?}",
        list.stdout
    );
    assert!(list.stdout.contains("ops"), "{}", list.stdout);
    let invited = s.cli(&["accounts", "get", &a]).await.ok();
    assert!(
        invited.stdout.contains("managed by: admin"),
        "{}",
        invited.stdout
    );

    // The review shows the numbers the API gives.
    let api = s
        .org_api("GET", &format!("/conflicts/{}/{group}", s.directory), None)
        .await;
    assert_eq!(
        (api["added"].as_u64(), api["removed"].as_u64()),
        (Some(2), Some(1))
    );
    let review = s
        .cli(&["conflicts", "review", &s.directory, &group])
        .await
        .ok();
    assert!(
        review.stdout.contains(&format!(
            "{} added, {} removed, {} unchanged",
            api["added"], api["removed"], api["unchanged"]
        )),
        "{}",
        review.stdout
    );
    assert!(
        review.stdout.contains("a@example.com") && review.stdout.contains("-jira/user"),
        "{}",
        review.stdout
    );
    assert!(
        review.stdout.contains("d@example.com") && review.stdout.contains("+jira/user"),
        "{}",
        review.stdout
    );
    let json_review = s.review_json(&group, &[]).await;
    assert_eq!(json_review["accountsAdded"], api["accountsAdded"]);
    assert_eq!(json_review["accountsRemoved"], api["accountsRemoved"]);
    // Paged: one account a page, every page with --all.
    let paged = s.review_json(&group, &["--limit", "1"]).await;
    assert_eq!(paged["accountsAdded"].as_array().map(Vec::len), Some(1));
    assert_eq!(paged["nextOffset"], 1);
    let all = s.review_json(&group, &["--limit", "1", "--all"]).await;
    assert_eq!(all["accountsAdded"].as_array().map(Vec::len), Some(2));

    // A dry run: exit 0, the changes, nothing changed.
    let dry = s.cli(&["conflicts", "sync-all", "--dry-run"]).await.ok();
    assert!(
        dry.stdout.contains("dry run: nothing was changed"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains("2 of 2 held groups would sync"),
        "{}",
        dry.stdout
    );
    assert_eq!(s.roles(&a).await, vec!["jira/user"]);
    assert_eq!(s.roles(&c).await, Vec::<String>::new());
    assert_eq!(s.org_api("GET", "/conflicts", None).await["total"], 2);

    let real = s
        .cli(&["--json", "conflicts", "sync-all"])
        .await
        .ok()
        .json();
    assert_eq!(
        (real["synced"].as_u64(), real["done"].as_bool()),
        (Some(2), Some(true)),
        "{real}"
    );
    assert_eq!(
        s.roles(&a).await,
        Vec::<String>::new(),
        "a lost access, as reviewed"
    );
    assert_eq!(s.roles(&c).await, vec!["jira/user"], "c gained it");
    let access = s.cli(&["accounts", "access", &c]).await.ok();
    assert!(
        access.stdout.contains("jira/user") && access.stdout.contains("group 'jira-users'"),
        "{}",
        access.stdout
    );
    let none = s.cli(&["conflicts", "list"]).await.ok();
    assert!(none.stdout.contains("no held group"), "{}", none.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lists_filters_and_follows_new_events() {
    let s = Stack::start().await;
    s.cli(&["invite", "first@example.com"]).await.ok();
    s.create_user("first@example.com").await;
    let table = s.cli(&["log", "--limit", "10"]).await.ok();
    assert!(
        table.stdout.contains("first@example.com"),
        "{}",
        table.stdout
    );
    let filtered = s
        .cli(&[
            "--json",
            "log",
            "--email",
            "first@example.com",
            "-d",
            &s.directory,
        ])
        .await
        .ok()
        .json();
    let events = filtered["events"].as_array().expect("events").clone();
    assert!(!events.is_empty());
    assert!(
        events
            .iter()
            .all(|e| e["email"] == "first@example.com" && e["directoryId"] == s.directory.as_str()),
        "{events:?}"
    );
    // --limit pages with the API's cursors.
    let one = s.cli(&["--json", "log", "--limit", "1"]).await.ok().json();
    assert_eq!(one["events"].as_array().map(Vec::len), Some(1));

    // --follow picks up an event that happens while it runs, then stops on its own.
    let env = [
        ("SCIMLINK_ADMIN_URL", s.endpoint()),
        ("SCIMLINK_ADMIN_KEY", OPERATOR_KEY.to_string()),
        ("ORG_ID", s.org.clone()),
    ];
    let child = command(
        &["log", "--follow", "--follow-for", "6", "--interval", "1"],
        &env,
        &std::env::temp_dir(),
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("spawn");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    s.org_api(
        "POST",
        "/invites",
        Some(json!({"email": "later@example.com"})),
    )
    .await;
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("--follow-for stops it")
        .expect("output");
    let run = finished(out).ok();
    let first = run
        .stdout
        .find("first@example.com")
        .expect("the first events");
    let later = run
        .stdout
        .find("later@example.com")
        .unwrap_or_else(|| panic!("the new event: {}", run.stdout));
    assert!(first < later, "newest last: {}", run.stdout);

    // Without --follow-for it runs until SIGTERM (or Ctrl-C), and exits 0.
    let child = command(
        &["log", "--follow", "--interval", "1"],
        &env,
        &std::env::temp_dir(),
    )
    .stdout(std::process::Stdio::piped())
    .spawn()
    .expect("spawn");
    // Once it has printed the log, it is following (it listens for signals from its start).
    let mut child = child;
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let first_line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the log printed")
        .expect("read");
    assert!(first_line.is_some());
    let pid = child.id().expect("running").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("SIGTERM stops --follow")
        .expect("status");
    assert_eq!(status.code(), Some(0), "a clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_for_not_found_a_bad_key_usage_and_an_unreachable_api() {
    let s = Stack::start().await;
    let missing = s.cli(&["accounts", "get", "no-such-account"]).await;
    assert_eq!(missing.code, 3, "{}", missing.stderr);
    assert!(missing.stderr.contains("not found"), "{}", missing.stderr);
    let missing = s
        .cli(&["conflicts", "review", &s.directory, "no-such-group"])
        .await;
    assert_eq!(missing.code, 3, "{}", missing.stderr);

    let bad_key = "sladm_wrong-key-value";
    let refused = s
        .cli_with(
            &["accounts", "list", "--key", bad_key],
            &[
                ("SCIMLINK_ADMIN_URL", s.endpoint()),
                ("ORG_ID", s.org.clone()),
            ],
        )
        .await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("401"), "{}", refused.stderr);
    assert!(!refused.stderr.contains(bad_key) && !refused.stdout.contains(bad_key));

    let invalid = s.cli(&["log", "--since", "yesterday"]).await;
    assert_eq!(invalid.code, 2, "{}", invalid.stderr);
    assert!(invalid.stderr.contains("not a date"), "{}", invalid.stderr);

    let usage = s.cli(&["conflicts", "frobnicate"]).await;
    assert_eq!(usage.code, 1, "{}", usage.stderr);
    let no_key = s
        .cli_with(
            &["accounts", "list"],
            &[("SCIMLINK_ADMIN_URL", s.endpoint())],
        )
        .await;
    assert_eq!(no_key.code, 1, "{}", no_key.stderr);
    let help = s.cli(&["--help"]).await.ok();
    assert!(help.stdout.contains("Exit codes"), "{}", help.stdout);

    let unreachable = s
        .cli_with(
            &["accounts", "list"],
            &[
                (
                    "SCIMLINK_ADMIN_URL",
                    "http://127.0.0.1:9/admin/v1".to_string(),
                ),
                ("SCIMLINK_ADMIN_KEY", OPERATOR_KEY.to_string()),
                ("ORG_ID", s.org.clone()),
            ],
        )
        .await;
    assert_eq!(unreachable.code, 4, "{}", unreachable.stderr);
    assert!(!unreachable.stderr.contains(OPERATOR_KEY));
}

/// `.local/endpoint.env` is found from a subdirectory; a flag wins over it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_from_the_endpoint_file_and_flags() {
    let s = Stack::start().await;
    let root = std::env::temp_dir().join(format!("scimlink-cli-{}", s.org));
    let sub = root.join("a/b");
    std::fs::create_dir_all(root.join(".local")).expect("dir");
    std::fs::create_dir_all(&sub).expect("dir");
    std::fs::write(
        root.join(".local/endpoint.env"),
        format!(
            "SCIM_BASE_URL=http://x\nADMIN_BASE_URL={}\nOPERATOR_KEY={OPERATOR_KEY}\nORG_ID={}\nDIRECTORY_ID={}\n",
            s.endpoint(),
            s.org,
            s.directory
        ),
    )
    .expect("write");
    let org = run_cli(&["--json", "orgs", "get"], &[], &sub)
        .await
        .ok()
        .json();
    assert_eq!(org["id"], s.org.as_str());
    let dirs = run_cli(&["directories", "list"], &[], &sub).await.ok();
    assert!(
        dirs.stdout.contains(&format!(
            "http://{}/scim/v2/directories/{}",
            s.addr, s.directory
        )),
        "{}",
        dirs.stdout
    );
    let created = run_cli(&["--json", "tokens", "create"], &[], &sub)
        .await
        .ok()
        .json();
    let id = created["id"].as_str().expect("id").to_string();
    assert!(created["token"]
        .as_str()
        .is_some_and(|t| t.starts_with("scim_")));
    let listed = run_cli(&["tokens", "list"], &[], &sub).await.ok();
    assert!(listed.stdout.contains(&id), "{}", listed.stdout);
    run_cli(&["tokens", "revoke", &id], &[], &sub).await.ok();
    let flag = run_cli(&["orgs", "get", "--key", "wrong"], &[], &sub).await;
    assert_eq!(flag.code, 2, "{}", flag.stderr);
    let _ = std::fs::remove_dir_all(&root);
}

/// A server answering canned responses in order (the last one again once they run out),
/// recording each request's method and path: for answers the real stack gives only under
/// load, like sync-all's `202` when a call runs out of time.
async fn canned(
    answers: Vec<(u16, Value)>,
) -> (
    SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    tokio::task::JoinHandle<()>,
) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("listen");
    let addr = listener.local_addr().expect("addr");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let answers = std::sync::Arc::new(answers);
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (log, answers) = (log.clone(), answers.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                    let (log, answers) = (log.clone(), answers.clone());
                    async move {
                        let n = {
                            let mut l = log.lock().expect("log");
                            l.push(format!("{} {}", req.method(), req.uri()));
                            l.len() - 1
                        };
                        let (status, body) = answers
                            .get(n)
                            .or(answers.last())
                            .cloned()
                            .unwrap_or((500, Value::Null));
                        let mut r = hyper::Response::new(Full::new(Bytes::from(body.to_string())));
                        *r.status_mut() = http::StatusCode::from_u16(status).expect("status");
                        Ok::<_, hyper::Error>(r)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, seen, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_all_resumes_on_202_until_done() {
    let group = |i: u32| json!({"groupId": format!("g{i}"), "name": format!("Team-{i}")});
    let (addr, seen, task) = canned(vec![
        (
            202,
            json!({"total": 3, "synced": 2, "syncedGroups": [group(1), group(2)], "refused": [], "skipped": [], "remaining": 1, "done": false, "dryRun": false}),
        ),
        (
            200,
            json!({"total": 1, "synced": 1, "syncedGroups": [group(3)], "refused": [], "skipped": [], "remaining": 0, "done": true, "dryRun": false}),
        ),
    ])
    .await;
    let env = [
        ("SCIMLINK_ADMIN_URL", format!("http://{addr}/admin/v1")),
        ("SCIMLINK_ADMIN_KEY", "k".to_string()),
        ("ORG_ID", "o1".to_string()),
    ];
    let run = run_cli(&["conflicts", "sync-all"], &env, &std::env::temp_dir())
        .await
        .ok();
    assert!(
        run.stdout.contains("3 of 3 held groups synced"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("Team-3"), "{}", run.stdout);
    assert_eq!(
        *seen.lock().expect("seen"),
        vec!["POST /admin/v1/orgs/o1/conflicts/sync-all"; 2]
    );
    // --json: one object over both calls.
    seen.lock().expect("seen").clear();
    let out = run_cli(
        &["--json", "conflicts", "sync-all"],
        &env,
        &std::env::temp_dir(),
    )
    .await
    .ok()
    .json();
    assert_eq!(
        (out["synced"].as_u64(), out["calls"].as_u64()),
        (Some(3), Some(2)),
        "{out}"
    );
    assert_eq!(out["done"], true);
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safeguard_settings_holds_and_org_directory_account_listing() {
    let s = Stack::start().await;
    let mut users = Vec::new();
    for i in 0..4 {
        users.push(s.create_user(&format!("sg{i}@example.com")).await);
    }
    let set = s
        .cli(&[
            "--json",
            "safeguard",
            "set",
            "--enabled",
            "true",
            "--min-count",
            "1",
            "--share-percent",
            "1",
        ])
        .await
        .ok()
        .json();
    assert_eq!(
        (set["enabled"].as_bool(), set["minCount"].as_u64()),
        (Some(true), Some(1)),
        "{set}"
    );
    let got = s.cli(&["safeguard", "get"]).await.ok();
    assert!(
        got.stdout.contains("enabled:        true"),
        "{}",
        got.stdout
    );
    // The IdP deactivates three: one goes through, two are held.
    for u in &users[..3] {
        s.scim(
            "PATCH",
            &format!("/Users/{u}"),
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                   "Operations": [{"op": "replace", "path": "active", "value": false}]}),
        )
        .await;
    }
    let holds = s.cli(&["safeguard", "holds"]).await.ok();
    assert!(holds.stdout.contains("2 held"), "{}", holds.stdout);
    let dry = s.cli(&["safeguard", "approve", "--dry-run"]).await.ok();
    assert!(
        dry.stdout.contains("2 holds would be approved"),
        "{}",
        dry.stdout
    );
    let released = s.cli(&["--json", "safeguard", "release"]).await.ok().json();
    assert_eq!(released["decided"], 2, "{released}");
    let holds = s.cli(&["safeguard", "holds"]).await.ok();
    assert!(holds.stdout.contains("0 held"), "{}", holds.stdout);

    let org = s
        .cli(&[
            "--json",
            "orgs",
            "create",
            "--name",
            "Second",
            "--domain",
            "second.example",
        ])
        .await
        .ok()
        .json();
    let second = org["id"].as_str().expect("id").to_string();
    let dir = s
        .cli(&[
            "--org",
            &second,
            "directories",
            "create",
            "--name",
            "Entra",
            "--idp",
            "entra",
        ])
        .await
        .ok();
    assert!(
        dir.stdout.contains("/scim/v2/directories/"),
        "{}",
        dir.stdout
    );
    for e in ["p@example.com", "q@example.com", "r@example.com"] {
        s.cli(&["invite", e]).await.ok();
    }
    let page = s
        .cli(&["--json", "accounts", "list", "--limit", "2"])
        .await
        .ok()
        .json();
    assert_eq!(page["accounts"].as_array().map(Vec::len), Some(2));
    assert!(page["nextCursor"].is_string());
    let all = s
        .cli(&["accounts", "list", "--limit", "2", "--all"])
        .await
        .ok();
    for e in ["p@example.com", "q@example.com", "r@example.com"] {
        assert!(all.stdout.contains(e), "{}", all.stdout);
    }
}
