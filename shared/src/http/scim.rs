//! What the SCIM resource functions share: routing, auth, the per-request log line,
//! projections, dry runs, `If-Match`, and the caller the write service writes as.

use std::collections::HashMap;

use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};

use super::bulk::BulkSummary;
use super::request::{body_bytes, json_body};
use super::response::scim_json;
use super::{
    authenticate_directory, finish, query_params, request_id, AppState, DirectoryAuth, Route,
    MAX_PAYLOAD_BYTES,
};
use crate::directory::plan::Plan;
use crate::scim::error::ScimError;
use crate::scim::list::{parse_attr_list, project, render, AttrRef, RenderMeta};
use crate::scim::schema::{ResourceType, SEARCH_REQUEST};
use crate::store::{MetricsSnapshot, Store};
use crate::write::{Caller, Writer};

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

/// The operations of one SCIM resource endpoint (RFC 7644 §3), `/Users` or `/Groups`:
/// [`handle`] routes every request of the endpoint to one of them.
pub(crate) trait ResourceEndpoint {
    /// The endpoint's name in the path: `Users`, `Groups`.
    const NAME: &'static str;
    /// GET of the endpoint, and POST `/.search` (its SearchRequest as the same parameters).
    async fn list(
        ctx: &ScimRequest<'_>,
        params: &HashMap<String, String>,
    ) -> Result<Response<Body>, ScimError>;
    async fn create(ctx: &ScimRequest<'_>) -> Result<Response<Body>, ScimError>;
    async fn get(ctx: &ScimRequest<'_>, id: &str) -> Result<Response<Body>, ScimError>;
    async fn replace(ctx: &ScimRequest<'_>, id: &str) -> Result<Response<Body>, ScimError>;
    async fn patch(ctx: &ScimRequest<'_>, id: &str) -> Result<Response<Body>, ScimError>;
    async fn delete(ctx: &ScimRequest<'_>, id: &str) -> Result<Response<Body>, ScimError>;
}

/// Routes a request of endpoint `E` by method and path (405 with `Allow` otherwise).
/// `/Bulk` runs each of its operations through here as well.
pub(crate) async fn serve<E: ResourceEndpoint>(
    ctx: ScimRequest<'_>,
) -> Result<Response<Body>, ScimError> {
    let method = ctx.req.method().as_str();
    match (method, ctx.route.id.as_deref()) {
        ("GET", None) => E::list(&ctx, &ctx.params).await,
        ("POST", Some(".search")) => {
            let params = search_params(&json_body(ctx.req)?)?;
            E::list(&ctx, &params).await
        }
        ("POST", None) => E::create(&ctx).await,
        ("GET", Some(id)) => E::get(&ctx, id).await,
        ("PUT", Some(id)) => E::replace(&ctx, id).await,
        ("PATCH", Some(id)) => E::patch(&ctx, id).await,
        ("DELETE", Some(id)) => E::delete(&ctx, id).await,
        (_, id) => Err(ScimError::method_not_allowed(
            format!("{method} is not supported here"),
            if id.is_some() {
                "GET, PUT, PATCH, DELETE"
            } else {
                "GET, POST"
            },
        )),
    }
}

/// Authenticates, routes to endpoint `E`, and logs one line an admin can read: request id,
/// directory, method, status, and what the request cost in DynamoDB requests and capacity.
/// Never the token, never the body.
pub(crate) async fn handle<E: ResourceEndpoint>(state: &AppState, req: &Request) -> Response<Body> {
    let meter = RequestMeter::start(state, req, E::NAME);
    let result = async {
        let route = meter
            .route
            .clone()
            .ok_or_else(|| ScimError::not_found("no such endpoint"))?;
        serve::<E>(open_request(state, req, route, &meter.rid).await?).await
    }
    .await;
    let response = finish(result);
    meter.log(state, req, &response, None);
    response
}

/// A SCIM request from its start to its one log line: its id, route, and the DynamoDB
/// requests and capacity it used.
pub(crate) struct RequestMeter {
    pub rid: String,
    pub route: Option<Route>,
    resource: &'static str,
    before: MetricsSnapshot,
    started: std::time::Instant,
}

impl RequestMeter {
    pub fn start(state: &AppState, req: &Request, resource: &'static str) -> Self {
        RequestMeter {
            rid: request_id(req),
            route: Route::for_resource(req, resource),
            resource,
            before: state.store.metrics().snapshot(),
            started: std::time::Instant::now(),
        }
    }

    /// The line an admin can read: request id, directory, method, status, cost, and a Bulk
    /// request's counts. Never the token, never a body.
    pub fn log(
        &self,
        state: &AppState,
        req: &Request,
        response: &Response<Body>,
        bulk: Option<&BulkSummary>,
    ) {
        let cost = state.store.metrics().snapshot() - self.before;
        let directory = self.route.as_ref().map(|r| r.directory_id.as_str());
        tracing::info!(
            request_id = %self.rid,
            directory = directory.unwrap_or_default(),
            method = %req.method(),
            resource = self.resource,
            status = response.status().as_u16(),
            operations = bulk.map(|b| b.operations),
            ran = bulk.map(|b| b.ran),
            refused = bulk.map(|b| b.refused),
            not_run = bulk.map(|b| b.not_run),
            statuses = bulk.map(BulkSummary::statuses).as_deref(),
            dynamodb_requests = cost.requests,
            round_trips = cost.round_trips,
            read_units = cost.read_units,
            write_units = cost.write_units,
            millis = self.started.elapsed().as_millis() as u64,
            "scim request"
        );
    }
}

/// The checks every SCIM request of a directory passes before it is served: the body
/// size (before anything is read), the bearer token (X1, X2), the path id and the flags.
pub(crate) async fn open_request<'a>(
    state: &'a AppState,
    req: &'a Request,
    route: Route,
    rid: &str,
) -> Result<ScimRequest<'a>, ScimError> {
    if body_bytes(req).len() > MAX_PAYLOAD_BYTES {
        return Err(ScimError::payload_too_large(MAX_PAYLOAD_BYTES));
    }
    let auth = authenticate_directory(state, req, &route.directory_id).await?;
    let params = query_params(req);
    crate::scim::limits::check_scim_request(route.id.as_deref(), &params)?;
    let base = super::request::scim_base_url(req, &route.directory_id);
    Ok(ScimRequest {
        store: &state.store,
        req,
        base,
        route,
        auth,
        rid: rid.to_string(),
        params,
        cursor_key: &state.cursor_key,
    })
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

    /// Who writes, for the write service.
    pub fn caller(&self) -> Caller {
        Caller {
            org_id: self.auth.org_id.clone(),
            directory_id: self.auth.directory_id.clone(),
            idp: self.auth.idp.clone(),
            request_id: self.rid.clone(),
        }
    }

    /// The write service of this request (a dry run when `?dryRun=true`).
    /// Its deprovisionings count toward the directory's safeguard (E4).
    pub fn writer(&self) -> Writer<'_> {
        Writer::new(self.store, self.dry_run()).safeguarded_by(self.directory_id())
    }

    /// The `If-Match` header (S6), checked by the write service against the stored version.
    pub fn if_match(&self) -> Option<&str> {
        self.req
            .headers()
            .get(http::header::IF_MATCH)
            .and_then(|v| v.to_str().ok())
    }
}

/// The parameters of a SearchRequest body, as a GET would carry them.
pub fn search_params(body: &Value) -> Result<HashMap<String, String>, ScimError> {
    let body = crate::scim::limits::search_request(body)?;
    let schemas_ok = body
        .get("schemas")
        .and_then(Value::as_array)
        .map(|s| s.iter().any(|v| v.as_str() == Some(SEARCH_REQUEST)))
        .unwrap_or(true);
    if !schemas_ok {
        return Err(ScimError::invalid_value(format!(
            "a search request must have the schema {SEARCH_REQUEST}"
        )));
    }
    let mut params = HashMap::new();
    for (k, v) in body {
        let text = match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Array(a) => Some(
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            _ => None,
        };
        if let Some(t) = text {
            params.insert(k.to_lowercase(), t);
        }
    }
    Ok(params)
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
            "writes": plan.len(),
            "events": events,
        }),
        &[],
    )
}
