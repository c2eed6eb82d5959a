//! RFC 7644 §3.7 Bulk, the protocol part (S8): parsing a BulkRequest, its limits, the
//! `bulkId` references between its operations, the order they run in, and substituting
//! the ids of created resources. No I/O: `http::bulk` runs each operation through the
//! same endpoint code as the single request. docs/BULK.md describes the contract.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value};

use super::error::{ScimError, ScimType};
use super::limits::check_len;
use super::resource::kind;

pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

/// `maxOperations` (ServiceProviderConfig): operations run one after the other, each a few
/// sequential DynamoDB round trips, and the whole request must answer inside API Gateway's
/// 30 s (the arithmetic is in docs/DECISIONS.md, "Bulk limits").
pub const MAX_BULK_OPERATIONS: usize = 100;
/// `maxPayloadSize` (ServiceProviderConfig): the same as any request (`MAX_PAYLOAD_BYTES`),
/// so that no operation can carry more than it could alone.
pub const MAX_BULK_PAYLOAD_BYTES: usize = crate::http::MAX_PAYLOAD_BYTES;
/// A `bulkId` (X4): it never reaches a key, but it is echoed and held in memory per
/// operation. Its characters are URI-unreserved (`A-Z a-z 0-9 - . _ ~`), so that a
/// `bulkId:<id>` reference ends unambiguously inside a path or a filter.
pub const MAX_BULK_ID_BYTES: usize = 64;
/// Operations stop being started past this time; those not started are left out of the
/// response like those after `failOnErrors` (the Lambda timeout is 29 s).
pub const BULK_TIME_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);

/// The prefix of a reference to the resource a POST of the same request creates.
const REFERENCE_PREFIX: &str = "bulkId:";

/// The method of an operation: the writes RFC 7644 §3.7 allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkMethod {
    Post,
    Put,
    Patch,
    Delete,
}

impl BulkMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            BulkMethod::Post => "POST",
            BulkMethod::Put => "PUT",
            BulkMethod::Patch => "PATCH",
            BulkMethod::Delete => "DELETE",
        }
    }
}

/// The endpoint an operation's `path` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkEndpoint {
    Users,
    Groups,
}

impl BulkEndpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            BulkEndpoint::Users => "Users",
            BulkEndpoint::Groups => "Groups",
        }
    }
}

/// One valid operation, its references not yet substituted.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkOperation {
    pub method: BulkMethod,
    pub endpoint: BulkEndpoint,
    /// The resource id of the path (absent for POST); may be a `bulkId:` reference.
    pub id: Option<String>,
    pub bulk_id: Option<String>,
    /// `version`: sent as `If-Match` (S6).
    pub version: Option<String>,
    /// `data`: the body of the single request (absent for DELETE).
    pub data: Option<Value>,
}

/// One entry of `Operations`: what the response echoes, and the operation or why it is
/// refused before it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkEntry {
    /// `method` as sent (echoed in the response), when it is a string.
    pub method: String,
    pub bulk_id: Option<String>,
    pub operation: Result<BulkOperation, ScimError>,
}

/// A parsed BulkRequest.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkRequest {
    /// `failOnErrors`: stop once this many operations have failed (`None`: run them all).
    pub fail_on_errors: Option<usize>,
    pub entries: Vec<BulkEntry>,
}

/// 413 past `maxOperations` (RFC 7644 §3.7.4: the body names the limit).
pub fn too_many_operations(n: usize) -> ScimError {
    ScimError::new(
        413,
        None,
        format!("the bulk request has {n} operations; maxOperations is {MAX_BULK_OPERATIONS}"),
    )
}

/// The attribute `name` of a SCIM object, its name compared case-insensitively (RFC 7643 §2.1).
fn attribute<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// Parses and checks a BulkRequest: what is wrong with the request as a whole refuses it
/// (400, or 413 past `maxOperations`); what is wrong with one operation refuses only that
/// operation.
pub fn parse_bulk_request(body: &Value) -> Result<BulkRequest, ScimError> {
    let obj = body.as_object().ok_or_else(|| {
        ScimError::invalid_syntax(format!(
            "a bulk request is a JSON object with the schema {BULK_REQUEST}, not {}",
            kind(body)
        ))
    })?;
    let schemas_ok = attribute(obj, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|v| v.as_str() == Some(BULK_REQUEST)));
    if !schemas_ok {
        return Err(ScimError::invalid_syntax(format!(
            "a bulk request must have the schema {BULK_REQUEST}"
        )));
    }
    let fail_on_errors = match attribute(obj, "failOnErrors") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64().filter(|n| *n >= 1) {
            Some(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            None => {
                return Err(ScimError::invalid_value(
                    "failOnErrors must be a positive integer",
                ))
            }
        },
    };
    let operations = attribute(obj, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ScimError::invalid_syntax("a bulk request must have an array of Operations")
        })?;
    if operations.len() > MAX_BULK_OPERATIONS {
        return Err(too_many_operations(operations.len()));
    }
    let entries: Vec<BulkEntry> = operations.iter().map(parse_entry).collect();
    let mut seen = BTreeSet::new();
    for id in entries.iter().filter_map(|e| e.bulk_id.as_deref()) {
        if !seen.insert(id) {
            return Err(ScimError::invalid_value(format!(
                "bulkId '{id}' is used by more than one operation; a bulkId is unique within a request"
            )));
        }
    }
    Ok(BulkRequest {
        fail_on_errors,
        entries,
    })
}

fn parse_entry(op: &Value) -> BulkEntry {
    let obj = op.as_object();
    let text = |name: &str| {
        obj.and_then(|o| attribute(o, name))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let method = text("method").unwrap_or_default();
    // A bulkId that breaks its limits is not echoed back (it may be anything).
    let bulk_id = text("bulkId").filter(|b| check_bulk_id(b).is_ok());
    BulkEntry {
        operation: parse_operation(op),
        method,
        bulk_id,
    }
}

fn parse_operation(op: &Value) -> Result<BulkOperation, ScimError> {
    let obj = op.as_object().ok_or_else(|| {
        ScimError::invalid_syntax(format!("an operation is a JSON object, not {}", kind(op)))
    })?;
    let string = |name: &str| -> Result<Option<String>, ScimError> {
        match attribute(obj, name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(ScimError::invalid_syntax(format!(
                "an operation's '{name}' is a string, not {}",
                kind(v)
            ))),
        }
    };
    let method = match string("method")?.map(|m| m.to_ascii_uppercase()).as_deref() {
        Some("POST") => BulkMethod::Post,
        Some("PUT") => BulkMethod::Put,
        Some("PATCH") => BulkMethod::Patch,
        Some("DELETE") => BulkMethod::Delete,
        Some(other) => {
            return Err(ScimError::invalid_syntax(format!(
                "an operation's method is POST, PUT, PATCH or DELETE, not '{}'",
                other.chars().take(16).collect::<String>()
            )))
        }
        None => return Err(ScimError::invalid_syntax("an operation must have a method")),
    };
    let path =
        string("path")?.ok_or_else(|| ScimError::invalid_path("an operation must have a path"))?;
    let (endpoint, id) = parse_path(&path)?;
    match (method, &id) {
        (BulkMethod::Post, Some(_)) => {
            return Err(ScimError::invalid_path(format!(
                "a POST operation's path is /Users or /Groups, not '{}'",
                shorten(&path)
            )))
        }
        (BulkMethod::Put | BulkMethod::Patch | BulkMethod::Delete, None) => {
            return Err(ScimError::invalid_path(format!(
                "a {} operation's path names a resource: /{}/{{id}}",
                method.as_str(),
                endpoint.as_str()
            )))
        }
        _ => {}
    }
    let bulk_id = string("bulkId")?;
    if let Some(b) = &bulk_id {
        check_bulk_id(b)?;
    }
    if method == BulkMethod::Post && bulk_id.is_none() {
        return Err(ScimError::invalid_syntax(
            "a POST operation must have a bulkId (RFC 7644 §3.7)",
        ));
    }
    let data = match (method, attribute(obj, "data")) {
        (BulkMethod::Delete, _) => None,
        (_, Some(d @ Value::Object(_))) => Some(d.clone()),
        (_, Some(d)) => {
            return Err(ScimError::invalid_syntax(format!(
                "an operation's data is a JSON object, not {}",
                kind(d)
            )))
        }
        (_, None) => {
            return Err(ScimError::invalid_syntax(format!(
                "a {} operation must have data",
                method.as_str()
            )))
        }
    };
    Ok(BulkOperation {
        method,
        endpoint,
        id,
        bulk_id,
        version: string("version")?,
        data,
    })
}

fn shorten(s: &str) -> String {
    s.chars().take(80).collect()
}

/// `/Users`, `/Users/{id}`, `/Groups`, `/Groups/{id}`; anything else is `invalidPath`.
fn parse_path(path: &str) -> Result<(BulkEndpoint, Option<String>), ScimError> {
    let bad = || {
        ScimError::invalid_path(format!(
            "an operation's path is /Users, /Users/{{id}}, /Groups or /Groups/{{id}}, not '{}'",
            shorten(path)
        ))
    };
    let rest = path.strip_prefix('/').ok_or_else(bad)?;
    let (resource, id) = match rest.split_once('/') {
        Some((r, id)) => (r, Some(id)),
        None => (rest, None),
    };
    let endpoint = match resource {
        "Users" => BulkEndpoint::Users,
        "Groups" => BulkEndpoint::Groups,
        _ => return Err(bad()),
    };
    match id {
        Some(id) if id.is_empty() || id.contains('/') || id == ".search" => Err(bad()),
        id => Ok((endpoint, id.map(str::to_string))),
    }
}

/// X4: a `bulkId` is 1 to `MAX_BULK_ID_BYTES` URI-unreserved characters.
pub fn check_bulk_id(bulk_id: &str) -> Result<(), ScimError> {
    check_len("bulkId", bulk_id, MAX_BULK_ID_BYTES)?;
    if bulk_id.is_empty() || !bulk_id.bytes().all(is_bulk_id_byte) {
        return Err(ScimError::invalid_value(
            "a bulkId is made of letters, digits, '-', '.', '_' and '~'",
        ));
    }
    Ok(())
}

fn is_bulk_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Each `bulkId:<id>` in `text`: where it starts, where it ends, and the id.
fn reference_spans(text: &str) -> impl Iterator<Item = (usize, usize, &str)> {
    text.match_indices(REFERENCE_PREFIX)
        .filter_map(move |(at, _)| {
            let start = at + REFERENCE_PREFIX.len();
            let len = text[start..]
                .bytes()
                .take_while(|b| is_bulk_id_byte(*b))
                .count();
            (len > 0).then(|| (at, start + len, &text[start..start + len]))
        })
}

fn visit_strings<'a>(v: &'a Value, f: &mut impl FnMut(&'a str)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().for_each(|x| visit_strings(x, f)),
        Value::Object(m) => m.values().for_each(|x| visit_strings(x, f)),
        _ => {}
    }
}

impl BulkOperation {
    /// The bulkIds this operation references, in its path or anywhere in its data.
    pub fn references(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut note = |s: &str| {
            out.extend(reference_spans(s).map(|(_, _, id)| id.to_string()));
        };
        if let Some(id) = &self.id {
            note(id);
        }
        if let Some(data) = &self.data {
            visit_strings(data, &mut note);
        }
        out
    }

    /// The operation with every reference replaced by the id of the resource its POST
    /// created; `Err(bulkId)` names the first reference without one (its POST failed or did
    /// not run).
    pub fn resolved(&self, created: &HashMap<String, String>) -> Result<BulkOperation, String> {
        Ok(BulkOperation {
            id: self
                .id
                .as_deref()
                .map(|s| substitute(s, created))
                .transpose()?,
            data: self
                .data
                .as_ref()
                .map(|d| substitute_value(d, created))
                .transpose()?,
            ..self.clone()
        })
    }
}

fn substitute(text: &str, created: &HashMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (start, end, id) in reference_spans(text) {
        let resource_id = created.get(id).ok_or_else(|| id.to_string())?;
        out.push_str(&text[copied..start]);
        out.push_str(resource_id);
        copied = end;
    }
    out.push_str(&text[copied..]);
    Ok(out)
}

fn substitute_value(v: &Value, created: &HashMap<String, String>) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => Value::String(substitute(s, created)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|x| substitute_value(x, created))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| Ok((k.clone(), substitute_value(x, created)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// Why an operation is answered without running.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The operation itself is invalid (method, path, bulkId, data).
    Invalid(ScimError),
    /// It references a bulkId that no POST of the request has.
    UnknownBulkId(String),
    /// It is part of a cycle of bulkId references.
    Cycle,
    /// It references the bulkId of an operation refused before running.
    RefusedReference(String),
}

impl Refusal {
    /// RFC 7644 §3.7.3 answers a reference that cannot be resolved with 409 `invalidValue`;
    /// §3.7.1 allows 409 for circular references, which are not resolved (docs/BULK.md).
    pub fn error(&self) -> ScimError {
        let conflict = |detail: String| ScimError::new(409, Some(ScimType::InvalidValue), detail);
        match self {
            Refusal::Invalid(e) => e.clone(),
            Refusal::UnknownBulkId(id) => conflict(format!(
                "bulkId '{id}' is not the bulkId of a POST operation of this request"
            )),
            Refusal::Cycle => conflict(
                "the bulkId references of this operation form a cycle; circular references \
                 are not resolved, and no operation of the cycle was applied"
                    .into(),
            ),
            Refusal::RefusedReference(id) => conflict(unresolved_detail(id)),
        }
    }
}

/// The detail of a reference to a POST that failed or did not run.
pub fn unresolved_detail(bulk_id: &str) -> String {
    format!("bulkId '{bulk_id}' cannot be resolved: its POST operation failed")
}

/// One step of a bulk request, in the order they happen.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Run(usize),
    Refuse(usize, Refusal),
}

#[derive(Clone, Copy, PartialEq)]
enum Visit {
    New,
    OnPath,
    Ran,
    Refused,
}

/// The order of a bulk request's steps: the operations in request order, except that a POST
/// runs just before the first operation that references its bulkId (RFC 7644 §3.7.2 lets a
/// reference point forward). Operations on a cycle of references, and those that depend on
/// a refused one, are refused where they would have run. Walks without recursion.
pub fn schedule(entries: &[BulkEntry]) -> Vec<Step> {
    let posts: HashMap<&str, usize> = entries
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match &e.operation {
            Ok(op) if op.method == BulkMethod::Post => op.bulk_id.as_deref().map(|b| (b, i)),
            _ => None,
        })
        .collect();
    // Each operation's references: the POSTs it needs, or the first unknown bulkId.
    let needs: Vec<Result<Vec<(String, usize)>, Refusal>> = entries
        .iter()
        .map(|e| match &e.operation {
            Err(err) => Err(Refusal::Invalid(err.clone())),
            Ok(op) => op
                .references()
                .into_iter()
                .map(|b| match posts.get(b.as_str()) {
                    Some(i) => Ok((b, *i)),
                    None => Err(Refusal::UnknownBulkId(b)),
                })
                .collect(),
        })
        .collect();
    let mut state = vec![Visit::New; entries.len()];
    let mut on_cycle = vec![false; entries.len()];
    let mut steps = Vec::with_capacity(entries.len());
    for root in 0..entries.len() {
        if state[root] != Visit::New {
            continue;
        }
        // (operation, index of the next reference to look at)
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        state[root] = Visit::OnPath;
        while let Some(&(op, next)) = path.last() {
            let refs = match &needs[op] {
                Ok(refs) => refs.as_slice(),
                Err(_) => &[],
            };
            if let Some((_, dep)) = refs.get(next) {
                let top = path.len() - 1;
                path[top].1 += 1;
                match state[*dep] {
                    Visit::New => {
                        state[*dep] = Visit::OnPath;
                        path.push((*dep, 0));
                    }
                    Visit::OnPath => {
                        // Every operation on the path from `dep` up is on the cycle.
                        let from = path.iter().rposition(|(o, _)| o == dep).unwrap_or(0);
                        for (o, _) in &path[from..] {
                            on_cycle[*o] = true;
                        }
                    }
                    Visit::Ran | Visit::Refused => {}
                }
                continue;
            }
            path.pop();
            // All its references are settled now: the first refused one refuses it.
            let refused = refs
                .iter()
                .find(|(_, d)| state[*d] == Visit::Refused)
                .map(|(b, _)| b.clone());
            let refusal = match (&needs[op], on_cycle[op], refused) {
                (Err(r), _, _) => Some(r.clone()),
                (Ok(_), true, _) => Some(Refusal::Cycle),
                (Ok(_), false, Some(b)) => Some(Refusal::RefusedReference(b)),
                (Ok(_), false, None) => None,
            };
            state[op] = match refusal {
                Some(r) => {
                    steps.push(Step::Refuse(op, r));
                    Visit::Refused
                }
                None => {
                    steps.push(Step::Run(op));
                    Visit::Ran
                }
            };
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(ops: Value) -> Value {
        json!({"schemas": [BULK_REQUEST], "Operations": ops})
    }

    fn post(bulk_id: &str, data: Value) -> Value {
        json!({"method": "POST", "path": "/Users", "bulkId": bulk_id, "data": data})
    }

    fn entries(ops: Value) -> Vec<BulkEntry> {
        parse_bulk_request(&request(ops)).unwrap().entries
    }

    fn status(r: &Result<BulkOperation, ScimError>) -> Option<(u16, Option<ScimType>)> {
        r.as_ref().err().map(|e| (e.status, e.scim_type))
    }

    /// S8: the request as a whole: schema, Operations, failOnErrors, duplicate bulkIds,
    /// and 413 past maxOperations.
    #[test]
    fn s8_request_level_checks() {
        let e = |v: Value| parse_bulk_request(&v).unwrap_err();
        assert_eq!(e(json!([])).scim_type, Some(ScimType::InvalidSyntax));
        assert_eq!(
            e(json!({"schemas": ["urn:x"], "Operations": []})).scim_type,
            Some(ScimType::InvalidSyntax)
        );
        assert_eq!(
            e(json!({"schemas": [BULK_REQUEST]})).scim_type,
            Some(ScimType::InvalidSyntax)
        );
        for bad in [json!(0), json!(-1), json!("1"), json!(1.5)] {
            let v = json!({"schemas": [BULK_REQUEST], "failOnErrors": bad, "Operations": []});
            assert_eq!(e(v).scim_type, Some(ScimType::InvalidValue));
        }
        let dup = request(json!([post("a", json!({})), post("a", json!({}))]));
        assert_eq!(e(dup).scim_type, Some(ScimType::InvalidValue));
        let many: Vec<Value> = (0..=MAX_BULK_OPERATIONS)
            .map(|i| post(&format!("u{i}"), json!({})))
            .collect();
        let err = e(request(Value::Array(many)));
        assert_eq!(err.status, 413);
        assert!(err.detail.contains(&MAX_BULK_OPERATIONS.to_string()));
        let ok = parse_bulk_request(
            &json!({"schemas": [BULK_REQUEST], "failonerrors": 2, "operations": []}),
        )
        .unwrap();
        assert_eq!(ok.fail_on_errors, Some(2));
    }

    /// S8: each operation: method, path, bulkId on POST, data; each refusal is the
    /// operation's own 400.
    #[test]
    fn s8_operation_checks() {
        let es = entries(json!([
            {"method": "GET", "path": "/Users/1"},
            {"method": "POST", "path": "/Users", "data": {}},
            {"method": "POST", "path": "/Users/1", "bulkId": "a", "data": {}},
            {"method": "PUT", "path": "/Users", "data": {}},
            {"method": "PATCH", "path": "/Schemas/x", "data": {}},
            {"method": "DELETE", "path": "Users/1"},
            {"method": "PUT", "path": "/Users/1/x", "data": {}},
            {"method": "PUT", "path": "/Users/1"},
            {"method": "POST", "path": "/Groups", "bulkId": "has space", "data": {}},
            {"method": "POST", "path": "/Groups", "bulkId": "x".repeat(MAX_BULK_ID_BYTES + 1), "data": {}},
            {"method": "delete", "path": "/Groups/g1", "version": "W/\"3\""},
            "not an object",
        ]));
        let got: Vec<_> = es.iter().map(|e| status(&e.operation)).collect();
        let syntax = Some((400, Some(ScimType::InvalidSyntax)));
        let path = Some((400, Some(ScimType::InvalidPath)));
        let value = Some((400, Some(ScimType::InvalidValue)));
        assert_eq!(
            got,
            [syntax, syntax, path, path, path, path, path, syntax, value, value, None, syntax]
        );
        let delete = es[10].operation.as_ref().unwrap();
        assert_eq!(delete.method, BulkMethod::Delete);
        assert_eq!(delete.endpoint, BulkEndpoint::Groups);
        assert_eq!(delete.id.as_deref(), Some("g1"));
        assert_eq!(delete.version.as_deref(), Some("W/\"3\""));
        assert_eq!(es[0].method, "GET");
        assert_eq!(es[9].bulk_id, None, "an over-long bulkId is not echoed");
    }

    /// S8: references anywhere in the path or data, whole values or inside text (a PATCH
    /// filter), are replaced by the created ids; a reference without one is named.
    #[test]
    fn s8_references_are_found_and_substituted() {
        let op = BulkOperation {
            method: BulkMethod::Patch,
            endpoint: BulkEndpoint::Groups,
            id: Some("bulkId:g".into()),
            bulk_id: None,
            version: None,
            data: Some(json!({"Operations": [
                {"op": "add", "path": "members", "value": [{"value": "bulkId:u1"}, {"value": "bulkId:u2"}]},
                {"op": "remove", "path": "members[value eq \"bulkId:u3\"]"},
                {"op": "replace", "path": "displayName", "value": "plain text bulkId: no"}
            ]})),
        };
        let refs: Vec<String> = op.references().into_iter().collect();
        assert_eq!(refs, ["g", "u1", "u2", "u3"]);
        let created: HashMap<String, String> =
            [("g", "G"), ("u1", "U1"), ("u2", "U2"), ("u3", "U3")]
                .into_iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
        let r = op.resolved(&created).unwrap();
        assert_eq!(r.id.as_deref(), Some("G"));
        let data = r.data.unwrap();
        assert_eq!(data["Operations"][0]["value"][1]["value"], "U2");
        assert_eq!(data["Operations"][1]["path"], "members[value eq \"U3\"]");
        assert_eq!(data["Operations"][2]["value"], "plain text bulkId: no");
        let mut partial = created.clone();
        partial.remove("u2");
        assert_eq!(op.resolved(&partial).unwrap_err(), "u2");
    }

    fn steps(ops: Value) -> Vec<Step> {
        schedule(&entries(ops))
    }

    fn group(bulk_id: &str, members: &[&str]) -> Value {
        let members: Vec<Value> = members
            .iter()
            .map(|m| json!({"value": format!("bulkId:{m}")}))
            .collect();
        json!({"method": "POST", "path": "/Groups", "bulkId": bulk_id, "data": {"members": members}})
    }

    /// S8: request order, but a POST runs before the first operation that references it.
    #[test]
    fn s8_forward_references_run_their_post_first() {
        let s = steps(json!([
            group("g", &["u1", "u2"]),
            post("u0", json!({})),
            post("u2", json!({})),
            post("u1", json!({}))
        ]));
        assert_eq!(s, [Step::Run(3), Step::Run(2), Step::Run(0), Step::Run(1)]);
    }

    /// S8: a cycle is refused with 409 and nothing of it runs; what depends on the cycle is
    /// refused too; an unknown bulkId is refused; the rest runs.
    #[test]
    fn s8_cycles_and_unknown_references_are_refused() {
        let s = steps(json!([
            group("a", &["b"]),
            group("b", &["c"]),
            group("c", &["a"]),
            group("d", &["a"]),
            group("e", &["nope"]),
            group("f", &["f"]),
            post("u", json!({})),
            group("h", &["u"]),
        ]));
        assert_eq!(
            s,
            [
                Step::Refuse(2, Refusal::Cycle),
                Step::Refuse(1, Refusal::Cycle),
                Step::Refuse(0, Refusal::Cycle),
                Step::Refuse(3, Refusal::RefusedReference("a".into())),
                Step::Refuse(4, Refusal::UnknownBulkId("nope".into())),
                Step::Refuse(5, Refusal::Cycle),
                Step::Run(6),
                Step::Run(7),
            ]
        );
        for r in [Refusal::Cycle, Refusal::UnknownBulkId("x".into())] {
            let e = r.error();
            assert_eq!((e.status, e.scim_type), (409, Some(ScimType::InvalidValue)));
        }
    }

    /// A chain as long as the request allows is walked without recursion.
    #[test]
    fn s8_long_chains_are_scheduled_backwards() {
        let ops: Vec<Value> = (0..MAX_BULK_OPERATIONS)
            .map(|i| group(&format!("g{i}"), &[&format!("g{}", i + 1)]))
            .collect();
        let s = schedule(&entries(Value::Array(ops)));
        assert_eq!(s.len(), MAX_BULK_OPERATIONS);
        assert!(s.iter().all(|x| matches!(
            x,
            Step::Refuse(_, Refusal::UnknownBulkId(_))
                | Step::Refuse(_, Refusal::RefusedReference(_))
        )));
        assert_eq!(
            s[0],
            Step::Refuse(
                MAX_BULK_OPERATIONS - 1,
                Refusal::UnknownBulkId(format!("g{MAX_BULK_OPERATIONS}"))
            )
        );
    }
}
