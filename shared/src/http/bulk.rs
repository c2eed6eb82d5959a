//! `POST /scim/v2/directories/{directoryId}/Bulk` (S8, RFC 7644 §3.7): the `scim-bulk`
//! function. The request is authenticated once; each operation is then served exactly as
//! its single request would be: a request is synthesized (method, path, body, `If-Match`
//! from `version`, the Bulk URL's `dryRun`) and routed through the same `/Users` or
//! `/Groups` endpoint code, so linking, the log, events and dry runs are the same. Parsing,
//! limits, `bulkId` references and the order of operations are `scim::bulk`.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use lambda_http::{Body, Request, Response};
use serde_json::{json, Map, Value};

use super::groups::GroupsEndpoint;
use super::request::json_body;
use super::response::scim_json;
use super::scim::{open_request, serve, RequestMeter, ScimRequest};
use super::users::UsersEndpoint;
use super::{finish, AppState, Route};
use crate::scim::bulk::{
    parse_bulk_request, schedule, unresolved_detail, BulkEndpoint, BulkEntry, BulkMethod,
    BulkOperation, BulkRequest, Step, BULK_RESPONSE, BULK_TIME_BUDGET,
};
use crate::scim::error::{ScimError, ScimType};
use crate::scim::limits::check_scim_request;

/// Entry point of the `scim-bulk` function. Logs one line per Bulk request (`RequestMeter`):
/// request id, directory, how many operations ran, were refused or were not run, the
/// statuses, and what the whole request cost in DynamoDB requests and capacity.
pub async fn handle_scim_bulk(
    state: &AppState,
    req: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let meter = RequestMeter::start(state, &req, "Bulk");
    let mut summary = None;
    let result = async {
        let route = meter
            .route
            .clone()
            .ok_or_else(|| ScimError::not_found("no such endpoint"))?;
        let ctx = open_request(state, &req, route, &meter.rid).await?;
        if ctx.req.method() != http::Method::POST || ctx.route.id.is_some() {
            return Err(ScimError::method_not_allowed(
                "/Bulk takes POST only (RFC 7644 §3.7)",
                "POST",
            ));
        }
        let request = parse_bulk_request(&json_body(ctx.req)?)?;
        let results = run_bulk(&ctx, &request).await;
        summary = Some(BulkSummary::of(&request, &results));
        Ok(scim_json(
            200,
            &bulk_response(&request.entries, &results),
            &[],
        ))
    }
    .await;
    let response = finish(result);
    meter.log(state, &req, &response, summary.as_ref());
    Ok(response)
}

/// What became of one operation.
#[derive(Debug)]
struct OperationResult {
    /// Whether it was run, rather than refused before running.
    ran: bool,
    status: u16,
    location: Option<String>,
    version: Option<String>,
    /// The body answered, for errors and dry runs.
    response: Option<Value>,
}

impl OperationResult {
    fn refused(e: &ScimError) -> Self {
        OperationResult {
            ran: false,
            status: e.status,
            location: None,
            version: None,
            response: Some(e.to_json()),
        }
    }

    fn failed(&self) -> bool {
        self.status >= 400
    }
}

/// Runs the operations in `schedule` order until `failOnErrors` errors or the time budget:
/// the results of those processed, by position in the request. Those not processed have
/// none (RFC 7644 §3.7.3: the response lists the operations processed).
async fn run_bulk(
    ctx: &ScimRequest<'_>,
    request: &BulkRequest,
) -> BTreeMap<usize, OperationResult> {
    let started = Instant::now();
    let mut created: HashMap<String, String> = HashMap::new();
    let mut results = BTreeMap::new();
    let mut errors = 0;
    for step in schedule(&request.entries) {
        let stop_for_errors = request.fail_on_errors.is_some_and(|max| errors >= max);
        if stop_for_errors || started.elapsed() > BULK_TIME_BUDGET {
            break;
        }
        let (index, result) = match step {
            Step::Refuse(i, refusal) => (i, OperationResult::refused(&refusal.error())),
            Step::Run(i) => match &request.entries[i].operation {
                Ok(op) => {
                    let (result, created_id) = run_operation(ctx, op, &created).await;
                    if let (Some(bulk_id), Some(id)) = (&op.bulk_id, created_id) {
                        created.insert(bulk_id.clone(), id);
                    }
                    (i, result)
                }
                Err(e) => (i, OperationResult::refused(e)),
            },
        };
        if result.failed() {
            errors += 1;
        }
        results.insert(index, result);
    }
    results
}

/// Serves one operation as its single request, its references substituted; with the id
/// of the resource a POST created (or would create, in a dry run).
async fn run_operation(
    ctx: &ScimRequest<'_>,
    op: &BulkOperation,
    created: &HashMap<String, String>,
) -> (OperationResult, Option<String>) {
    let op = match op.resolved(created) {
        Ok(op) => op,
        Err(bulk_id) => {
            let e = ScimError::new(
                409,
                Some(ScimType::InvalidValue),
                unresolved_detail(&bulk_id),
            );
            return (OperationResult::refused(&e), None);
        }
    };
    // Only `dryRun` of the Bulk URL applies to its operations (E3).
    let params: HashMap<String, String> = ctx
        .params
        .iter()
        .filter(|(k, _)| k.as_str() == "dryrun")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Err(e) = check_scim_request(op.id.as_deref(), &params) {
        return (OperationResult::refused(&e), None);
    }
    let single = match single_request(ctx, &op) {
        Ok(r) => r,
        Err(e) => return (OperationResult::refused(&e), None),
    };
    let single_ctx = ScimRequest {
        store: ctx.store,
        req: &single,
        route: Route {
            directory_id: ctx.route.directory_id.clone(),
            resource: op.endpoint.as_str().to_string(),
            id: op.id.clone(),
        },
        auth: ctx.auth.clone(),
        rid: ctx.rid.clone(),
        params,
        base: ctx.base.clone(),
        cursor_key: ctx.cursor_key,
    };
    let response = finish(match op.endpoint {
        BulkEndpoint::Users => serve::<UsersEndpoint>(single_ctx).await,
        BulkEndpoint::Groups => serve::<GroupsEndpoint>(single_ctx).await,
    });
    operation_result(ctx, &op, &response)
}

/// The single request an operation stands for.
fn single_request(ctx: &ScimRequest<'_>, op: &BulkOperation) -> Result<Request, ScimError> {
    let mut builder = http::Request::builder()
        .method(op.method.as_str())
        .uri(resource_url(ctx, op.endpoint, op.id.as_deref()));
    if let Some(version) = &op.version {
        let value = http::HeaderValue::from_str(version)
            .map_err(|_| ScimError::invalid_value("an operation's version is not a valid ETag"))?;
        builder = builder.header(http::header::IF_MATCH, value);
    }
    let body = op
        .data
        .as_ref()
        .map(|d| Body::Text(d.to_string()))
        .unwrap_or(Body::Empty);
    builder.body(body).map_err(|_| ScimError::internal())
}

/// `<base>/Users[/{id}]`.
fn resource_url(ctx: &ScimRequest<'_>, endpoint: BulkEndpoint, id: Option<&str>) -> String {
    match id {
        Some(id) => format!("{}/{}/{id}", ctx.base, endpoint.as_str()),
        None => format!("{}/{}", ctx.base, endpoint.as_str()),
    }
}

/// The operation's result from the single response: `status`, `location` (the resource's,
/// except for a POST that created nothing), `version` (its ETag), and `response` (the body)
/// for an error or a dry run. With the id a POST created.
fn operation_result(
    ctx: &ScimRequest<'_>,
    op: &BulkOperation,
    response: &Response<Body>,
) -> (OperationResult, Option<String>) {
    let status = response.status().as_u16();
    let header = |name: http::header::HeaderName| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let body: Option<Value> = match response.body() {
        Body::Text(t) => serde_json::from_str(t).ok(),
        Body::Binary(b) => serde_json::from_slice(b).ok(),
        _ => None,
    };
    let dry_run = ctx.dry_run();
    let created_id = match (op.method, status) {
        (BulkMethod::Post, 201) => body.as_ref().and_then(|b| b.get("id")),
        // A dry run answers what would be created, with the id it would have.
        (BulkMethod::Post, 200) if dry_run => body.as_ref().and_then(|b| b.pointer("/resource/id")),
        _ => None,
    }
    .and_then(Value::as_str)
    .map(str::to_string);
    let location = header(http::header::LOCATION).or_else(|| {
        op.id
            .as_deref()
            .map(|id| resource_url(ctx, op.endpoint, Some(id)))
    });
    let result = OperationResult {
        ran: true,
        status,
        location,
        version: header(http::header::ETAG),
        response: body.filter(|_| status >= 400 || dry_run),
    };
    (result, created_id)
}

/// The BulkResponse: the processed operations, in request order.
fn bulk_response(entries: &[BulkEntry], results: &BTreeMap<usize, OperationResult>) -> Value {
    let operations: Vec<Value> = results
        .iter()
        .map(|(i, r)| {
            let mut out = Map::new();
            let entry = entries.get(*i);
            let method = match entry.map(|e| &e.operation) {
                Some(Ok(op)) => op.method.as_str().to_string(),
                _ => entry.map(|e| e.method.clone()).unwrap_or_default(),
            };
            out.insert("method".into(), Value::String(method));
            if let Some(b) = entry.and_then(|e| e.bulk_id.clone()) {
                out.insert("bulkId".into(), Value::String(b));
            }
            if let Some(v) = &r.version {
                out.insert("version".into(), Value::String(v.clone()));
            }
            if let Some(l) = &r.location {
                out.insert("location".into(), Value::String(l.clone()));
            }
            out.insert("status".into(), Value::String(r.status.to_string()));
            if let Some(body) = &r.response {
                out.insert("response".into(), body.clone());
            }
            Value::Object(out)
        })
        .collect();
    json!({"schemas": [BULK_RESPONSE], "Operations": operations})
}

/// What the log line says of a Bulk request's operations.
pub(crate) struct BulkSummary {
    pub operations: usize,
    pub ran: usize,
    pub refused: usize,
    pub not_run: usize,
    by_status: BTreeMap<u16, usize>,
}

impl BulkSummary {
    fn of(request: &BulkRequest, results: &BTreeMap<usize, OperationResult>) -> Self {
        let mut by_status = BTreeMap::new();
        for r in results.values() {
            *by_status.entry(r.status).or_insert(0) += 1;
        }
        let ran = results.values().filter(|r| r.ran).count();
        BulkSummary {
            operations: request.entries.len(),
            ran,
            refused: results.len() - ran,
            not_run: request.entries.len() - results.len(),
            by_status,
        }
    }

    /// `201:50 409:1`.
    pub fn statuses(&self) -> String {
        self.by_status
            .iter()
            .map(|(s, n)| format!("{s}:{n}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}
