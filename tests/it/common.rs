//! Test harness: a fresh org, directory and token per test, and helpers to call handlers.

use lambda_http::{Body, Request};
use scimlink::http::AppState;
use scimlink::store::{create_table_with_stream, MetricsSnapshot, Store};
use serde_json::{json, Value};

pub const OPERATOR_KEY: &str = "test-operator-key";
/// The tests' `SCIMLINK_CURSOR_KEY` (X4).
pub const CURSOR_KEY: &str = "test-cursor-key-0123456789abcdef0123456789";
/// The table of the tests that never read the stream: without one (see
/// `create_table_with_stream`).
pub const TABLE: &str = "scimlink-test";
/// The table of the events tests (E5), with its stream, read by their pumps.
pub const STREAM_TABLE: &str = "scimlink-test-stream";

/// A store on the test table of DynamoDB Local, created if missing. One client per test:
/// each `#[tokio::test]` has its own runtime, and connections must not cross runtimes.
pub async fn store() -> Store {
    store_on(TABLE, false).await
}

/// A store on the stream table (E5 tests), created if missing.
pub async fn stream_store() -> Store {
    store_on(STREAM_TABLE, true).await
}

async fn store_on(table: &str, stream: bool) -> Store {
    let endpoint = endpoint();
    let sdk = scimlink::aws::sdk_loader()
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local", "local", None, None, "test",
        ))
        .load()
        .await;
    let store = Store::new(&sdk, table);
    create_table_with_stream(&store, stream)
        .await
        .expect("create the test table");
    store
}

/// A pump on the stream table's stream (the code of `make run`'s pump), positioned at its
/// end: what the test writes from now on is what it reads.
pub async fn stream_pump() -> scimlink::events::pump::StreamPump {
    let sdk = scimlink::aws::sdk_loader()
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local", "local", None, None, "test",
        ))
        .load()
        .await;
    let mut pump = scimlink::events::pump::StreamPump::new(
        &sdk,
        Some(&endpoint()),
        STREAM_TABLE,
        scimlink::events::pump::StartingPosition::Latest,
    );
    pump.poll_all().await.expect("the test table has a stream");
    pump
}

/// DynamoDB Local's endpoint (`SCIMLINK_TEST_DYNAMODB_ENDPOINT`).
pub fn endpoint() -> String {
    std::env::var("SCIMLINK_TEST_DYNAMODB_ENDPOINT").unwrap_or_else(|_| {
        panic!("SCIMLINK_TEST_DYNAMODB_ENDPOINT is not set: run the tests with `make test`, which starts DynamoDB Local")
    })
}

pub struct Response {
    pub status: u16,
    pub body: Value,
    pub headers: http::HeaderMap,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// Asserts an RFC 7644 error body with this status and scimType.
    pub fn assert_error(&self, status: u16, scim_type: Option<&str>) {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(
            self.body["status"],
            status.to_string(),
            "body: {}",
            self.body
        );
        assert_eq!(
            self.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
            "body: {}",
            self.body
        );
        assert_eq!(
            self.body.get("scimType").and_then(Value::as_str),
            scim_type,
            "body: {}",
            self.body
        );
    }
}

pub struct Call<'a> {
    pub method: &'a str,
    pub path: String,
    pub body: Option<String>,
    pub token: Option<String>,
    pub headers: Vec<(&'a str, String)>,
}

pub fn request(call: Call<'_>) -> Request {
    scimlink::http::local::request(
        call.method,
        &call.path,
        call.token.as_deref(),
        call.body,
        &call.headers,
    )
    .expect("request")
}

pub async fn dispatch(state: &AppState, req: Request) -> Response {
    let (method, path) = (req.method().to_string(), req.uri().path().to_string());
    let resp = scimlink::http::local::dispatch(state, req)
        .await
        .expect("handlers answer client errors as responses");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    if status != 204 {
        assert_eq!(
            headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(|c| c.starts_with("application/")),
            Some(true),
            "every response with a body is JSON"
        );
    }
    let body = match resp.into_body() {
        Body::Text(t) => serde_json::from_str(&t).unwrap_or(Value::String(t)),
        Body::Binary(b) => serde_json::from_slice(&b).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    // Every admin answer of every test is checked against docs/openapi.json.
    crate::contract::check(&method, &path, status, &headers, &body);
    Response {
        status,
        body,
        headers,
    }
}

/// One test's tenant: an organization with a directory and its SCIM token.
pub struct TestDirectory {
    pub state: AppState,
    pub org_id: String,
    pub directory_id: String,
    pub token: String,
}

impl TestDirectory {
    /// A new org (verified domain `example.com`) with one directory of the given IdP.
    pub async fn new(idp: &str) -> Self {
        Self::on(
            AppState::new(store().await, Some(OPERATOR_KEY)).with_cursor_key(CURSOR_KEY),
            idp,
        )
        .await
    }

    /// The same on another state (a private table, a store with injected faults).
    pub async fn on(state: AppState, idp: &str) -> Self {
        let org = admin(
            &state,
            "POST",
            "/admin/v1/orgs",
            Some(json!({"name": "Test org", "verifiedDomains": ["example.com"]})),
        )
        .await;
        assert_eq!(org.status, 201, "{}", org.body);
        let org_id = org.body["id"].as_str().expect("org id").to_string();
        Self::in_org(state, org_id, idp).await
    }

    /// Another directory of the same org (for cross-directory rules).
    pub async fn sibling(&self, idp: &str) -> Self {
        Self::in_org(self.state.clone(), self.org_id.clone(), idp).await
    }

    async fn in_org(state: AppState, org_id: String, idp: &str) -> Self {
        let dir = admin(
            &state,
            "POST",
            &format!("/admin/v1/orgs/{org_id}/directories"),
            Some(json!({"name": "Test IdP", "idp": idp})),
        )
        .await;
        assert_eq!(dir.status, 201, "{}", dir.body);
        let directory_id = dir.body["id"].as_str().expect("dir id").to_string();
        let tok = admin(
            &state,
            "POST",
            &format!("/admin/v1/orgs/{org_id}/directories/{directory_id}/tokens"),
            None,
        )
        .await;
        assert_eq!(tok.status, 201, "{}", tok.body);
        let token = tok.body["token"].as_str().expect("token").to_string();
        TestDirectory {
            state,
            org_id,
            directory_id,
            token,
        }
    }

    pub fn base(&self) -> String {
        format!("/scim/v2/directories/{}", self.directory_id)
    }

    /// A SCIM call with this directory's token; `path` is relative to the SCIM base.
    pub async fn scim(
        &self,
        method: &'static str,
        path: impl Into<String>,
        body: Option<Value>,
    ) -> Response {
        self.scim_with(method, &path.into(), body.map(|b| b.to_string()), &[])
            .await
    }

    pub async fn scim_with(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
        headers: &[(&str, String)],
    ) -> Response {
        let req = request(Call {
            method,
            path: format!("{}{path}", self.base()),
            body,
            token: Some(self.token.clone()),
            headers: headers.to_vec(),
        });
        dispatch(&self.state, req).await
    }

    /// A raw call: any path, any token.
    pub async fn call(&self, call: Call<'_>) -> Response {
        dispatch(&self.state, request(call)).await
    }

    /// DynamoDB requests and capacity the handlers have used so far in this test.
    pub fn cost(&self) -> MetricsSnapshot {
        self.state.store.metrics().snapshot()
    }

    /// Runs `f` and returns what it cost in DynamoDB requests and capacity.
    pub async fn measure<T>(
        &self,
        f: impl std::future::Future<Output = T>,
    ) -> (T, MetricsSnapshot) {
        let before = self.cost();
        let out = f.await;
        (out, self.cost() - before)
    }

    pub async fn create_user(&self, body: Value) -> Value {
        let r = self.scim("POST", "/Users", Some(body)).await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body
    }

    pub async fn user_count(&self) -> u64 {
        let r = self.scim("GET", "/Users?count=0", None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["totalResults"].as_u64().expect("totalResults")
    }
}

pub async fn admin(state: &AppState, method: &str, path: &str, body: Option<Value>) -> Response {
    call_as(state, Some(OPERATOR_KEY), method, path, body).await
}

/// A call with any token (or none) on any state (another deployment's).
pub async fn call_as(
    state: &AppState,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Response {
    dispatch(
        state,
        request(Call {
            method,
            path: path.to_string(),
            body: body.map(|b| b.to_string()),
            token: token.map(str::to_string),
            headers: Vec::new(),
        }),
    )
    .await
}

/// A minimal Okta-style user.
pub fn okta_user(user_name: &str, email: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": true, "value": email, "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": format!("ext-{user_name}"),
        "groups": [],
        "password": "s3cret!",
        "active": true
    })
}

/// A PatchOp body.
pub fn patch_op(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

impl TestDirectory {
    /// Creates `n` users and returns their ids.
    pub async fn users(&self, prefix: &str, n: usize) -> Vec<String> {
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let name = format!("{prefix}{i}@example.com");
            ids.push(
                self.create_user(okta_user(&name, &name)).await["id"]
                    .as_str()
                    .expect("id")
                    .to_string(),
            );
        }
        ids
    }

    pub async fn create_group(&self, name: &str, members: &[String]) -> String {
        let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
        let r = self
            .scim(
                "POST",
                "/Groups",
                Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name, "members": members})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_str().expect("id").to_string()
    }

    /// The member ids of a group, sorted.
    pub async fn members(&self, group_id: &str) -> Vec<String> {
        let r = self.scim("GET", &format!("/Groups/{group_id}"), None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        member_ids(&r.body)
    }
}

/// The member ids of a group as a SCIM answer shows it, sorted.
pub fn member_ids(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> = group["members"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["value"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

impl TestDirectory {
    /// The org's products: site `acme` with Jira (roles `user`, `admin`) and Confluence
    /// (`user`).
    pub async fn jira_and_confluence(&self) {
        let r = self
            .org_admin(
                "POST",
                "/sites",
                Some(json!({"id": "acme", "name": "acme.example.net"})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        for product in [
            json!({"id": "jira", "name": "Jira", "siteId": "acme", "roles": ["user", "admin"]}),
            json!({"id": "confluence", "name": "Confluence", "siteId": "acme", "roles": ["user"]}),
        ] {
            let r = self.org_admin("POST", "/products", Some(product)).await;
            assert_eq!(r.status, 201, "{}", r.body);
        }
    }

    /// Gives the org group of the IdP group `name` (G1) the product `roles`; returns its id.
    pub async fn grant_group_roles(&self, name: &str, roles: &[&str]) -> String {
        let groups = self.org_admin("GET", "/org-groups", None).await;
        let og = groups.body["groups"]
            .as_array()
            .and_then(|a| a.iter().find(|g| g["name"] == name))
            .and_then(|g| g["id"].as_str())
            .expect("the IdP group's org group")
            .to_string();
        let r = self
            .org_admin(
                "PUT",
                &format!("/org-groups/{og}/roles"),
                Some(json!({ "roles": roles })),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        og
    }

    /// An admin call on this test's org, with the operator key; `path` is under `/admin/v1/orgs/{org}`.
    pub async fn org_admin(&self, method: &str, path: &str, body: Option<Value>) -> Response {
        admin(
            &self.state,
            method,
            &format!("/admin/v1/orgs/{}{path}", self.org_id),
            body,
        )
        .await
    }

    /// The account of an email, as the admin API shows it.
    pub async fn account_of(&self, email: &str) -> Value {
        let r = self
            .org_admin("GET", &format!("/links?email={email}"), None)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    }

    /// The id of the account of an email.
    pub async fn account_id(&self, email: &str) -> String {
        self.account_of(email).await["id"]
            .as_str()
            .expect("account id")
            .to_string()
    }

    /// An account's access as the admin API shows it (G7, G8): roles, groups, sources.
    pub async fn access(&self, account: &str) -> Value {
        let r = self
            .org_admin("GET", &format!("/accounts/{account}/access"), None)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    }

    /// An account's effective roles.
    pub async fn roles(&self, account: &str) -> Vec<String> {
        serde_json::from_value(self.access(account).await["roles"].clone()).expect("roles")
    }

    /// The messages of a log query under the org (`/events?...`, `/directories/{d}/events?...`),
    /// newest first (E1).
    pub async fn log_messages(&self, query: &str) -> Vec<String> {
        let r = self.org_admin("GET", query, None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter_map(|e| e["message"].as_str().map(str::to_string))
            .collect()
    }

    pub async fn account_count(&self) -> usize {
        let r = self.org_admin("GET", "/accounts?limit=500", None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["accounts"]
            .as_array()
            .map(Vec::len)
            .unwrap_or_default()
    }
}
