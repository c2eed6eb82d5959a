//! What the SCIM resource functions share: routing, auth, the per-request log line,
//! projections, dry runs, `If-Match`, and applying a decision (or logging its refusal).

use std::collections::HashMap;

use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};

use super::request::body_bytes;
use super::response::scim_json;
use super::{
    authenticate_directory, finish, query_params, request_id, store_error, unknown_directory,
    AppState, DirectoryAuth, Route, MAX_PAYLOAD_BYTES,
};
use crate::directory::model::OrgRecord;
use crate::directory::plan::Plan;
use crate::directory::users::{Refusal, WriteContext};
use crate::scim::error::ScimError;
use crate::scim::list::{
    etag, if_match_admits, parse_attr_list, project, render, AttrRef, RenderMeta,
};
use crate::scim::schema::ResourceType;
use crate::store::{ApplyError, Store};

/// How often a write loads and plans again after losing a race before answering 429.
pub const MAX_WRITE_ATTEMPTS: usize = 8;

/// One authenticated SCIM request of a directory.
pub struct ScimRequest<'a> {
    pub store: &'a Store,
    pub req: &'a Request,
    pub route: Route,
    pub auth: DirectoryAuth,
    pub rid: String,
    pub params: HashMap<String, String>,
    /// The directory's SCIM base URL as the client called it.
    pub base: String,
    /// Signs this deployment's paging cursors (X4).
    pub cursor_key: &'a crate::store::cursor::CursorKey,
}

/// Authenticates, serves with `serve`, and logs one line an admin can read: request id,
/// directory, method, status, and what the request cost in DynamoDB requests and capacity.
/// Never the token, never the body.
pub async fn handle<'a, F, Fut>(
    state: &'a AppState,
    req: &'a Request,
    resource: &str,
    serve: F,
) -> Response<Body>
where
    F: FnOnce(ScimRequest<'a>) -> Fut,
    Fut: std::future::Future<Output = Result<Response<Body>, ScimError>>,
{
    let store = &state.store;
    let before = store.metrics().snapshot();
    let started = std::time::Instant::now();
    let rid = request_id(req);
    let route = Route::parse(req.uri().path());
    let directory = route
        .as_ref()
        .map(|r| r.directory_id.clone())
        .unwrap_or_default();
    let result = async {
        let route = route
            .filter(|r| r.resource == resource)
            .ok_or_else(|| ScimError::not_found("no such endpoint"))?;
        // Oversized bodies are refused before anything is read.
        if body_bytes(req).len() > MAX_PAYLOAD_BYTES {
            return Err(ScimError::payload_too_large(MAX_PAYLOAD_BYTES));
        }
        let auth = authenticate_directory(store, req, &route.directory_id).await?;
        let params = query_params(req);
        crate::scim::limits::check_scim_request(route.id.as_deref(), &params)?;
        let base = super::request::scim_base_url(req, &route.directory_id);
        serve(ScimRequest {
            store,
            req,
            base,
            route,
            auth,
            rid: rid.clone(),
            params,
            cursor_key: &state.cursor_key,
        })
        .await
    }
    .await;
    let response = finish(result);
    let cost = store.metrics().snapshot() - before;
    tracing::info!(
        request_id = %rid,
        directory = %directory,
        method = %req.method(),
        resource,
        status = response.status().as_u16(),
        dynamodb_requests = cost.requests,
        read_units = cost.read_units,
        write_units = cost.write_units,
        millis = started.elapsed().as_millis() as u64,
        "scim request"
    );
    response
}

/// `attributes` / `excludedAttributes` of a request.
#[derive(Default)]
pub struct Projection {
    pub attributes: Vec<AttrRef>,
    pub excluded: Vec<AttrRef>,
}

impl Projection {
    /// Whether the response includes the attribute `name` (e.g. `members`, `groups`).
    pub fn includes(&self, name: &str) -> bool {
        if !self.attributes.is_empty() {
            return self
                .attributes
                .iter()
                .any(|a| a.container.is_none() && a.attr == name);
        }
        !self
            .excluded
            .iter()
            .any(|a| a.container.is_none() && a.attr == name && a.sub.is_none())
    }
}

/// The projection asked for by `params` (query parameters or a SearchRequest).
pub fn projection(
    rt: &'static ResourceType,
    params: &HashMap<String, String>,
) -> Result<Projection, ScimError> {
    let list = |name: &str| {
        params
            .get(name)
            .map(|a| parse_attr_list(rt, a))
            .transpose()
            .map(Option::unwrap_or_default)
    };
    Ok(Projection {
        attributes: list("attributes")?,
        excluded: list("excludedattributes")?,
    })
}

impl ScimRequest<'_> {
    pub fn directory_id(&self) -> &str {
        &self.auth.directory_id
    }

    pub fn projection(&self, rt: &'static ResourceType) -> Result<Projection, ScimError> {
        projection(rt, &self.params)
    }

    /// `?dryRun=true` (E3): plan, answer what would happen, commit nothing.
    pub fn dry_run(&self) -> bool {
        self.params
            .get("dryrun")
            .map(|v| v.eq_ignore_ascii_case("true"))
            .unwrap_or(false)
    }

    pub fn write_context(
        &self,
        operation: String,
        quirks: Vec<String>,
        org: Option<&OrgRecord>,
    ) -> Result<WriteContext, ScimError> {
        let org = org.ok_or_else(unknown_directory)?;
        Ok(WriteContext {
            org_id: org.id.clone(),
            verified_domains: org.verified_domains.clone(),
            default_groups: org.default_groups(),
            directory_id: self.auth.directory_id.clone(),
            idp: self.auth.idp.clone(),
            request_id: Some(self.rid.clone()),
            now: crate::clock::now(),
            operation,
            quirks,
        })
    }

    /// A write context for decisions that do not depend on the org's domains (groups).
    pub fn group_write_context(&self, operation: String, quirks: Vec<String>) -> WriteContext {
        WriteContext {
            org_id: self.auth.org_id.clone(),
            verified_domains: Vec::new(),
            default_groups: Vec::new(),
            directory_id: self.auth.directory_id.clone(),
            idp: self.auth.idp.clone(),
            request_id: Some(self.rid.clone()),
            now: crate::clock::now(),
            operation,
            quirks,
        }
    }

    /// S6: `If-Match` must admit the stored version.
    pub fn check_if_match(&self, version: u64) -> Result<(), ScimError> {
        if let Some(v) = self
            .req
            .headers()
            .get(http::header::IF_MATCH)
            .and_then(|v| v.to_str().ok())
        {
            if !if_match_admits(v, version) {
                return Err(ScimError::precondition_failed(format!(
                    "If-Match {v} does not match the current version {}",
                    etag(version)
                )));
            }
        }
        Ok(())
    }

    /// Applies a decision's plan (nothing on a dry run). `Ok(false)`: someone wrote first,
    /// load and plan again. A refusal's plan (its event) is written, then its error answered.
    pub async fn apply(&self, decision: Result<&Plan, Refusal>) -> Result<bool, ScimError> {
        match decision {
            Ok(plan) if self.dry_run() => {
                let _ = plan;
                Ok(true)
            }
            Ok(plan) => match self.store.apply(plan).await {
                Ok(()) => Ok(true),
                Err(ApplyError::Stale) => {
                    // Spread the retries of racing writers.
                    let jitter = rand::random::<u64>() % 20;
                    tokio::time::sleep(std::time::Duration::from_millis(5 + jitter)).await;
                    Ok(false)
                }
                Err(ApplyError::Store(e)) => Err(store_error(e)),
            },
            Err(refusal) => {
                if !self.dry_run() {
                    // The refusal is logged (L3, E1); a failure to log never hides the error.
                    if let Err(e) = self.store.apply(&refusal.plan).await {
                        tracing::warn!(error = %e, "could not log a refusal");
                    }
                }
                Err(refusal.error)
            }
        }
    }
}

/// A stored SCIM resource, as rendering needs it.
pub struct Stored<'a> {
    pub id: &'a str,
    pub doc: &'a Value,
    pub version: u64,
    pub created: &'a str,
    pub last_modified: &'a str,
}

impl ScimRequest<'_> {
    /// `<base URL>/Users/{id}` (or `/Groups/...`).
    pub fn location(&self, rt: &ResourceType, id: &str) -> String {
        format!("{}{}/{id}", self.base, rt.endpoint)
    }

    /// The resource as a client sees it: its document, `id`, `meta`, and one multi-valued
    /// attribute kept outside the document (`groups` of a user, `members` of a group) when
    /// it was read and is not empty.
    pub fn render(
        &self,
        rt: &ResourceType,
        r: Stored<'_>,
        outside: Option<(&str, Vec<Value>)>,
    ) -> Value {
        let mut v = render(
            r.doc,
            RenderMeta {
                id: r.id,
                resource_type: rt.name,
                created: r.created,
                last_modified: r.last_modified,
                location: self.location(rt, r.id),
                version: r.version,
            },
        );
        if let (Some((name, list)), Some(obj)) =
            (outside.filter(|(_, l)| !l.is_empty()), v.as_object_mut())
        {
            obj.insert(name.into(), Value::Array(list));
        }
        v
    }

    /// A rendered resource, projected, with its ETag (and `Location` when created).
    pub fn resource_response(
        &self,
        rt: &'static ResourceType,
        status: u16,
        rendered: &Value,
        p: &Projection,
    ) -> Response<Body> {
        let body = project(rt, rendered, &p.attributes, &p.excluded);
        let version = rendered
            .pointer("/meta/version")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut headers = vec![("ETag", version)];
        if status == 201 {
            let id = rendered
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            headers.push(("Location", self.location(rt, id)));
        }
        scim_json(status, &body, &headers)
    }
}

/// Races lost `MAX_WRITE_ATTEMPTS` times in a row: the client should retry shortly.
pub fn contended() -> ScimError {
    ScimError::throttled(1)
}

/// The documented dry-run answer (E3): the resource as it would be, the decision, the
/// writes it would make and the log lines it would leave.
pub fn dry_run_response(resource: Value, decision: Value, plan: &Plan) -> Response<Body> {
    let events: Vec<Value> = plan
        .events()
        .map(|e| json!({"outcome": e.outcome, "message": e.message}))
        .collect();
    scim_json(
        200,
        &json!({
            "schemas": ["urn:scimlink:api:messages:2.0:DryRun"],
            "resource": resource,
            "decision": decision,
            "writes": plan.writes.len(),
            "events": events,
        }),
        &[],
    )
}
