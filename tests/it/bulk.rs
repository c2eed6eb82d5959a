//! S8: `/Bulk` (RFC 7644 §3.7). Each operation is applied exactly as its single request
//! (linking, log, dry run, `If-Match`); `bulkId` references, cycles, `failOnErrors`, and
//! the limits ServiceProviderConfig states.

use scimlink::http::MAX_PAYLOAD_BYTES;
use scimlink::scim::bulk::{
    BULK_REQUEST, BULK_RESPONSE, MAX_BULK_OPERATIONS, MAX_BULK_PAYLOAD_BYTES,
};
use serde_json::{json, Value};

use crate::common::{okta_user, patch_op, Response, TestDirectory};

const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

fn bulk(operations: Vec<Value>) -> Value {
    json!({"schemas": [BULK_REQUEST], "Operations": operations})
}

fn create_user(bulk_id: &str, email: &str) -> Value {
    json!({"method": "POST", "path": "/Users", "bulkId": bulk_id, "data": okta_user(email, email)})
}

fn create_group(bulk_id: &str, name: &str, members: &[String]) -> Value {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    json!({"method": "POST", "path": "/Groups", "bulkId": bulk_id,
           "data": {"schemas": [GROUP], "displayName": name, "members": members}})
}

/// The operations of a BulkResponse, checked to be one.
fn operations(r: &Response) -> &[Value] {
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["schemas"], json!([BULK_RESPONSE]), "{}", r.body);
    r.body["Operations"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn statuses(r: &Response) -> Vec<String> {
    operations(r)
        .iter()
        .map(|o| o["status"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The id at the end of an operation's `location`.
fn id_of(op: &Value) -> String {
    op["location"]
        .as_str()
        .and_then(|l| l.rsplit('/').next())
        .expect("location")
        .to_string()
}

impl TestDirectory {
    async fn bulk(&self, body: Value) -> Response {
        self.scim("POST", "/Bulk", Some(body)).await
    }
}

/// S8, L1: one request creates 50 users and a group naming them by `bulkId`; the group's
/// members are exactly those users, and each user is linked as a single create links it: an
/// invited account is linked, not duplicated.
#[tokio::test]
async fn s8_l1_bulk_creates_users_and_a_group_referencing_them_by_bulk_id() {
    let t = TestDirectory::new("okta").await;
    let invited = t
        .org_admin(
            "POST",
            "/invites",
            Some(json!({"email": "bulk7@example.com"})),
        )
        .await;
    assert_eq!(invited.status, 201, "{}", invited.body);
    // The group comes first: its references run their POSTs before it (forward references).
    let refs: Vec<String> = (0..50).map(|i| format!("bulkId:u{i}")).collect();
    let mut ops = vec![create_group("g", "Bulk Team", &refs)];
    ops.extend((0..50).map(|i| create_user(&format!("u{i}"), &format!("bulk{i}@example.com"))));
    let r = t.bulk(bulk(ops)).await;
    assert_eq!(statuses(&r), vec!["201".to_string(); 51], "{}", r.body);
    let ops = operations(&r);
    assert_eq!(ops[0]["bulkId"], "g");
    assert_eq!(ops[0]["method"], "POST");
    let mut user_ids: Vec<String> = ops[1..].iter().map(id_of).collect();
    for (i, op) in ops[1..].iter().enumerate() {
        assert_eq!(op["bulkId"], format!("u{i}"));
        assert!(
            op["version"].as_str().is_some_and(|v| v.starts_with("W/")),
            "{op}"
        );
        assert!(
            op.get("response").is_none(),
            "successes carry no body: {op}"
        );
    }
    user_ids.sort();
    assert_eq!(t.members(&id_of(&ops[0])).await, user_ids);
    assert_eq!(t.user_count().await, 50);
    assert_eq!(
        t.account_count().await,
        50,
        "the invited account is linked (L1)"
    );
    let a = t.account_of("bulk7@example.com").await;
    assert_eq!(a["id"], invited.body["id"]);
    assert_eq!(a["origin"], "invited");
    assert_eq!(a["linkedUser"]["id"], id_of(&ops[8]).as_str());
}

/// S8: `failOnErrors: 1` stops at the first error; the operations after it are not run,
/// not applied, and absent from the response (RFC 7644 §3.7.3).
#[tokio::test]
async fn s8_fail_on_errors_stops_at_the_first_error() {
    let t = TestDirectory::new("okta").await;
    let mut body = bulk(vec![
        create_user("a", "first@example.com"),
        json!({"method": "DELETE", "path": "/Users/no-such-user"}),
        create_user("b", "second@example.com"),
        json!({"method": "PATCH", "path": "/Users/bulkId:a", "data": patch_op(json!([{"op": "replace", "path": "title", "value": "never"}]))}),
    ]);
    body["failOnErrors"] = json!(1);
    let r = t.bulk(body).await;
    assert_eq!(statuses(&r), ["201", "404"], "{}", r.body);
    let ops = operations(&r);
    assert_eq!(ops[1]["response"]["status"], "404");
    assert_eq!(
        t.user_count().await,
        1,
        "nothing after the error is applied"
    );
    let first = t
        .scim("GET", format!("/Users/{}", id_of(&ops[0])), None)
        .await;
    assert!(first.body.get("title").is_none(), "{}", first.body);

    // Without failOnErrors, every operation runs despite the error.
    let r = t
        .bulk(bulk(vec![
            json!({"method": "DELETE", "path": "/Users/no-such-user"}),
            create_user("c", "third@example.com"),
        ]))
        .await;
    assert_eq!(statuses(&r), ["404", "201"], "{}", r.body);
}

/// S8: a cycle of `bulkId` references is refused with 409 and nothing of it is applied;
/// an unknown bulkId, and a reference to a POST that failed, are refused with 409
/// `invalidValue` (RFC 7644 §3.7.3); the rest runs.
#[tokio::test]
async fn s8_bulk_id_cycles_and_unknown_references_are_refused() {
    let t = TestDirectory::new("okta").await;
    let r = t
        .bulk(bulk(vec![
            create_group("a", "Cycle A", &["bulkId:b".into()]),
            create_group("b", "Cycle B", &["bulkId:a".into()]),
            create_group("c", "Unknown", &["bulkId:nope".into()]),
            json!({"method": "POST", "path": "/Users", "bulkId": "bad", "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}}),
            create_group("d", "Needs bad", &["bulkId:bad".into()]),
            create_user("ok", "ok@example.com"),
        ]))
        .await;
    assert_eq!(
        statuses(&r),
        ["409", "409", "409", "400", "409", "201"],
        "{}",
        r.body
    );
    for op in &operations(&r)[..3] {
        assert_eq!(op["response"]["scimType"], "invalidValue", "{op}");
        assert!(
            op.get("location").is_none(),
            "a failed POST has no location: {op}"
        );
    }
    assert!(operations(&r)[0]["response"]["detail"]
        .as_str()
        .is_some_and(|d| d.contains("cycle")));
    assert!(operations(&r)[2]["response"]["detail"]
        .as_str()
        .is_some_and(|d| d.contains("nope")));
    assert!(operations(&r)[4]["response"]["detail"]
        .as_str()
        .is_some_and(|d| d.contains("'bad'")));
    let groups = t.scim("GET", "/Groups?count=0", None).await;
    assert_eq!(
        groups.body["totalResults"], 0,
        "nothing of the cycle is applied"
    );
    assert_eq!(t.user_count().await, 1);
}

/// S8: over `maxOperations` answers 413 and applies nothing; a body over `maxPayloadSize`
/// answers 413; both with an RFC 7644 error body naming the limit.
#[tokio::test]
async fn s8_over_the_limits_is_413_and_applies_nothing() {
    let t = TestDirectory::new("okta").await;
    let ops: Vec<Value> = (0..=MAX_BULK_OPERATIONS)
        .map(|i| create_user(&format!("u{i}"), &format!("many{i}@example.com")))
        .collect();
    let r = t.bulk(bulk(ops)).await;
    r.assert_error(413, None);
    assert!(r.body["detail"]
        .as_str()
        .is_some_and(|d| d.contains(&MAX_BULK_OPERATIONS.to_string())));
    assert_eq!(t.user_count().await, 0);

    let mut big = bulk(vec![create_user("u", "big@example.com")]);
    big["padding"] = json!("x".repeat(MAX_BULK_PAYLOAD_BYTES));
    let r = t.bulk(big).await;
    r.assert_error(413, None);
    assert!(r.body["detail"]
        .as_str()
        .is_some_and(|d| d.contains(&MAX_BULK_PAYLOAD_BYTES.to_string())));
    assert_eq!(t.user_count().await, 0);
}

/// S8, S6: an operation's `version` is its `If-Match`: a stale one is that operation's 412;
/// the current one applies.
#[tokio::test]
async fn s8_s6_stale_version_is_412_for_that_operation() {
    let t = TestDirectory::new("okta").await;
    let user = t
        .create_user(okta_user("v@example.com", "v@example.com"))
        .await;
    let uid = user["id"].as_str().expect("id");
    let version = user["meta"]["version"].as_str().expect("version");
    let title = |v: &str, title: &str| {
        json!({"method": "PATCH", "path": format!("/Users/{uid}"), "version": v,
               "data": patch_op(json!([{"op": "replace", "path": "title", "value": title}]))})
    };
    let r = t
        .bulk(bulk(vec![title(version, "first"), title(version, "stale")]))
        .await;
    assert_eq!(statuses(&r), ["200", "412"], "{}", r.body);
    let ops = operations(&r);
    assert_ne!(ops[0]["version"], version, "the new version is reported");
    assert_eq!(ops[1]["response"]["status"], "412");
    assert!(ops[1]["location"]
        .as_str()
        .is_some_and(|l| l.ends_with(uid)));
    let now = t.scim("GET", format!("/Users/{uid}"), None).await;
    assert_eq!(now.body["title"], "first");
}

/// S8, E3: `?dryRun=true` on the Bulk URL applies to every operation: each answers its dry
/// run, and nothing is written.
#[tokio::test]
async fn s8_e3_dry_run_applies_nothing() {
    let t = TestDirectory::new("okta").await;
    let user = t
        .create_user(okta_user("d@example.com", "d@example.com"))
        .await;
    let uid = user["id"].as_str().expect("id");
    let before = t.org_admin("GET", "/events", None).await.body["events"].clone();
    let r = t
        .scim(
            "POST",
            "/Bulk?dryRun=true",
            Some(bulk(vec![
                create_user("n", "new@example.com"),
                json!({"method": "DELETE", "path": format!("/Users/{uid}")}),
            ])),
        )
        .await;
    assert_eq!(statuses(&r), ["200", "200"], "{}", r.body);
    let ops = operations(&r);
    assert_eq!(
        ops[0]["response"]["schemas"][0],
        "urn:scimlink:api:messages:2.0:DryRun"
    );
    assert_eq!(ops[0]["response"]["decision"]["link"], "created");
    assert_eq!(t.user_count().await, 1);
    assert_eq!(
        t.scim("GET", format!("/Users/{uid}"), None).await.status,
        200
    );
    let after = t.org_admin("GET", "/events", None).await.body["events"].clone();
    assert_eq!(before, after, "a dry run leaves no log");
}

/// S8: the request's shape and operations: the whole request is refused for a bad schema;
/// a GET, a bad path, a POST without bulkId are that operation's 400; other methods on
/// /Bulk answer 405 with `Allow`.
#[tokio::test]
async fn s8_bad_requests_and_operations() {
    let t = TestDirectory::new("okta").await;
    t.bulk(json!({"schemas": ["urn:nope"], "Operations": []}))
        .await
        .assert_error(400, Some("invalidSyntax"));
    let r = t
        .bulk(bulk(vec![
            json!({"method": "GET", "path": "/Users"}),
            json!({"method": "POST", "path": "/Schemas", "bulkId": "s", "data": {}}),
            json!({"method": "POST", "path": "/Users", "data": okta_user("x@example.com", "x@example.com")}),
        ]))
        .await;
    assert_eq!(statuses(&r), ["400", "400", "400"], "{}", r.body);
    let types: Vec<&str> = operations(&r)
        .iter()
        .filter_map(|o| o["response"]["scimType"].as_str())
        .collect();
    assert_eq!(types, ["invalidSyntax", "invalidPath", "invalidSyntax"]);
    assert_eq!(operations(&r)[0]["method"], "GET", "the method is echoed");
    assert_eq!(t.user_count().await, 0);
    let r = t.scim("GET", "/Bulk", None).await;
    r.assert_error(405, None);
    assert_eq!(r.header("allow"), Some("POST"));
}

/// S8, S1: ServiceProviderConfig states the bulk limits exactly as the server enforces them.
#[tokio::test]
async fn s8_service_provider_config_states_the_enforced_limits() {
    let t = TestDirectory::new("okta").await;
    let r = t.scim("GET", "/ServiceProviderConfig", None).await;
    assert_eq!(r.body["bulk"]["supported"], true);
    assert_eq!(r.body["bulk"]["maxOperations"], MAX_BULK_OPERATIONS);
    assert_eq!(r.body["bulk"]["maxPayloadSize"], MAX_BULK_PAYLOAD_BYTES);
    assert_eq!(MAX_BULK_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES);
    // Exactly maxOperations is accepted.
    let ops: Vec<Value> = (0..MAX_BULK_OPERATIONS)
        .map(|i| json!({"method": "DELETE", "path": format!("/Users/missing-{i}")}))
        .collect();
    let r = t.bulk(bulk(ops)).await;
    assert_eq!(operations(&r).len(), MAX_BULK_OPERATIONS);
}
