//! What a hostile client tries, class by class (X4 limits, signed cursors, E3 dry runs of
//! admin writes, S7 refusals, the X1 credential-kind oracle, S1 locations): many values
//! each, the status and `scimType` of every answer, never a 500, and for every refused
//! request the tenant's items exactly as before.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};

use crate::common::{call_as, okta_user, patch_op, Call, Response, TestDirectory};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Percent-encodes a query parameter value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Every item of a tenant (keys or listing keys naming one of `ids`: the org, its
/// directories), with all attributes: two equal snapshots mean nothing was written.
async fn items(t: &TestDirectory, ids: &[&str]) -> BTreeMap<String, String> {
    let store = &t.state.store;
    let mut out = BTreeMap::new();
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let mut scan = store
            .client()
            .scan()
            .table_name(store.table())
            .set_exclusive_start_key(start.take());
        let mut conditions = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            conditions.push(format!("contains(pk, :t{i}) OR contains(gsi1pk, :t{i})"));
            scan = scan
                .expression_attribute_values(format!(":t{i}"), AttributeValue::S(id.to_string()));
        }
        let resp = scan
            .filter_expression(conditions.join(" OR "))
            .send()
            .await
            .expect("scan");
        for item in resp.items() {
            let get = |k: &str| {
                item.get(k)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            let (pk, gsi1pk) = (get("pk"), get("gsi1pk"));
            if ids.iter().any(|id| pk.contains(id) || gsi1pk.contains(id)) {
                let attrs: BTreeMap<&String, String> =
                    item.iter().map(|(k, v)| (k, format!("{v:?}"))).collect();
                out.insert(format!("{pk} {}", get("sk")), format!("{attrs:?}"));
            }
        }
        match resp.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => return out,
        }
    }
}

async fn snapshot(t: &TestDirectory) -> BTreeMap<String, String> {
    let items = items(t, &[&t.org_id, &t.directory_id]).await;
    assert!(
        items.keys().any(|k| k.starts_with("ORG#")),
        "the snapshot sees the tenant"
    );
    items
}

/// Log events are left out: a refused uniqueness is logged on purpose (L3, E1).
fn without_log(m: BTreeMap<String, String>) -> BTreeMap<String, String> {
    m.into_iter().filter(|(k, _)| !k.contains("LOG#")).collect()
}

fn assert_same(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>, what: &str) {
    let changed: Vec<&String> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert!(changed.is_empty(), "{what} changed items: {changed:?}");
}

/// A 400 with this scimType whose detail names every word of `names`.
fn assert_refused(r: &Response, scim_type: &str, names: &[&str], what: &str) {
    assert_eq!(r.status, 400, "{what}: {}", r.body);
    assert_eq!(r.body["scimType"], scim_type, "{what}: {}", r.body);
    let detail = r.body["detail"].as_str().unwrap_or_default();
    for n in names {
        assert!(
            detail.contains(n),
            "{what}: detail should name '{n}': {detail}"
        );
    }
}

/// Strings of `bytes` bytes and just over, ASCII and multi-byte, and far over.
fn over(limit: usize) -> Vec<String> {
    let mut v = vec![
        "a".repeat(limit + 1),
        "é".repeat(limit / 2 + 1),
        "中".repeat(limit / 3 + 1),
        "😀".repeat(limit / 4 + 1),
    ];
    for n in [1_000, 3_000, 500_000] {
        if n > limit + 1 {
            v.push("b".repeat(n));
        }
    }
    v
}

/// An email address of exactly `n` bytes.
fn email_of(n: usize) -> String {
    format!("{}@example.com", "e".repeat(n - "@example.com".len()))
}

/// A list call of a directory.
async fn list(t: &TestDirectory, res: &str, query: String) -> Response {
    t.scim("GET", format!("/{res}?{query}"), None).await
}

/// The `nextCursor` of the first page of a SCIM list.
async fn first_cursor(t: &TestDirectory, res: &str, query: &str) -> String {
    let r = list(t, res, format!("count=1&cursor=&{query}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["nextCursor"]
        .as_str()
        .expect("nextCursor")
        .to_string()
}

/// The `nextCursor` of an admin listing (`path` under the org).
async fn admin_cursor(t: &TestDirectory, path: &str) -> String {
    let r = t.org_admin("GET", path, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["nextCursor"]
        .as_str()
        .expect("nextCursor")
        .to_string()
}

/// X4, S7: every user attribute that reaches a key or an index, and any other string, at and
/// over its limit; refused with 400 invalidValue naming the attribute and the limit, by POST,
/// PUT and PATCH alike; nothing written.
#[tokio::test]
async fn x4_s7_user_values_over_their_limits_are_400_naming_them() {
    let t = TestDirectory::new("okta").await;
    let keep = t
        .create_user(okta_user("keep@example.com", "keep@example.com"))
        .await;
    let id = keep["id"].as_str().expect("id").to_string();
    let before = snapshot(&t).await;
    let cases: Vec<(&str, &str, usize)> = vec![
        ("userName", "userName", 256),
        ("externalId", "externalId", 256),
        ("emails", "emails[0].value", 254),
        ("displayName", "displayName", 16_384),
        ("title", "title", 16_384),
        ("name.givenName", "name.givenName", 16_384),
        ("department", "department", 16_384),
    ];
    let body_with = |attr: &str, v: &str| -> Value {
        let mut b = json!({"schemas": [USER], "userName": "keep@example.com"});
        match attr {
            "emails" => b["emails"] = json!([{"value": v, "type": "work"}]),
            "name.givenName" => b["name"] = json!({"givenName": v}),
            "department" => {
                b["schemas"] = json!([USER, ENTERPRISE]);
                b[ENTERPRISE] = json!({"department": v});
            }
            a => b[a] = json!(v),
        }
        b
    };
    let patch_with = |attr: &str, v: &str| -> Value {
        match attr {
            "emails" => patch_op(
                json!([{"op": "replace", "path": "emails", "value": [{"value": v, "type": "work"}]}]),
            ),
            "department" => patch_op(
                json!([{"op": "replace", "path": format!("{ENTERPRISE}:department"), "value": v}]),
            ),
            a => patch_op(json!([{"op": "replace", "path": a, "value": v}])),
        }
    };
    for (attr, named, limit) in &cases {
        let mut values = over(*limit);
        if *attr == "emails" {
            values = vec![email_of(255), email_of(300), email_of(3_000)];
        }
        for v in &values {
            let what = format!("{attr} of {} bytes", v.len());
            let limit_text = limit.to_string();
            let names = [*named, limit_text.as_str()];
            let mut post = body_with(attr, v);
            if *attr != "userName" {
                post["userName"] = json!("new@example.com");
            }
            let r = t.scim("POST", "/Users", Some(post)).await;
            assert_refused(&r, "invalidValue", &names, &format!("POST {what}"));
            let r = t
                .scim("PUT", format!("/Users/{id}"), Some(body_with(attr, v)))
                .await;
            assert_refused(&r, "invalidValue", &names, &format!("PUT {what}"));
            let r = t
                .scim("PATCH", format!("/Users/{id}"), Some(patch_with(attr, v)))
                .await;
            assert_refused(&r, "invalidValue", &names, &format!("PATCH {what}"));
        }
    }
    // More emails than a user may have, and a document too large as a whole.
    let emails: Vec<Value> = (0..21)
        .map(|i| json!({"value": format!("m{i}@example.com")}))
        .collect();
    let r = t
        .scim(
            "POST",
            "/Users",
            Some(json!({"userName": "many@example.com", "emails": emails})),
        )
        .await;
    assert_refused(&r, "invalidValue", &["emails", "20"], "21 emails");
    let addresses: Vec<Value> = (0..10)
        .map(|i| json!({"streetAddress": format!("{i}{}", "x".repeat(10_000))}))
        .collect();
    let r = t
        .scim(
            "POST",
            "/Users",
            Some(json!({"userName": "big@example.com", "addresses": addresses})),
        )
        .await;
    assert_refused(&r, "invalidValue", &["65536"], "a 100 KB document");
    assert_same(&before, &snapshot(&t).await, "refused user writes");

    // At the limits, everything is accepted.
    for (user_name, extra) in [
        ("u".repeat(256), json!({})),
        ("é".repeat(128), json!({})),
        (
            "x1@example.com".into(),
            json!({"externalId": "x".repeat(256)}),
        ),
        (
            "x2@example.com".into(),
            json!({"emails": [{"value": email_of(254)}]}),
        ),
        (
            "x3@example.com".into(),
            json!({"displayName": "d".repeat(16_384)}),
        ),
        (
            "x4@example.com".into(),
            json!({"emails": (0..20).map(|i| json!({"value": format!("n{i}@example.com")})).collect::<Vec<_>>()}),
        ),
    ] {
        let mut body = json!({"schemas": [USER], "userName": user_name});
        for (k, v) in extra.as_object().into_iter().flatten() {
            body[k] = v.clone();
        }
        let r = t.scim("POST", "/Users", Some(body)).await;
        assert_eq!(r.status, 201, "{user_name}: {}", r.body);
    }
}

/// X4, S7, G6: group values over their limits (displayName, externalId, member values) in
/// POST, PUT and membership PATCH: 400 invalidValue naming them; nothing written.
#[tokio::test]
async fn x4_s7_group_values_over_their_limits_are_400_naming_them() {
    let t = TestDirectory::new("okta").await;
    let members = t.users("gm", 2).await;
    let gid = t.create_group("Keep", &members).await;
    let before = snapshot(&t).await;
    for v in over(256) {
        for (attr, body) in [
            (
                "displayName",
                json!({"schemas": [GROUP], "displayName": v.clone()}),
            ),
            (
                "externalId",
                json!({"schemas": [GROUP], "displayName": "G", "externalId": v.clone()}),
            ),
        ] {
            let what = format!("{attr} of {} bytes", v.len());
            let r = t.scim("POST", "/Groups", Some(body.clone())).await;
            assert_refused(&r, "invalidValue", &[attr, "256"], &format!("POST {what}"));
            let r = t.scim("PUT", format!("/Groups/{gid}"), Some(body)).await;
            assert_refused(&r, "invalidValue", &[attr, "256"], &format!("PUT {what}"));
        }
        let r = t
            .scim(
                "PATCH",
                format!("/Groups/{gid}"),
                Some(patch_op(
                    json!([{"op": "replace", "path": "displayName", "value": v.clone()}]),
                )),
            )
            .await;
        assert_refused(
            &r,
            "invalidValue",
            &["displayName", "256"],
            "PATCH displayName",
        );
    }
    for v in over(64) {
        let what = format!("member value of {} bytes", v.len());
        let body = json!({"schemas": [GROUP], "displayName": "G2", "members": [{"value": members[0]}, {"value": v.clone()}]});
        let r = t.scim("POST", "/Groups", Some(body.clone())).await;
        assert_refused(&r, "invalidValue", &["members[1].value", "64"], &what);
        let r = t.scim("PUT", format!("/Groups/{gid}"), Some(body)).await;
        assert_refused(&r, "invalidValue", &["members[1].value", "64"], &what);
        for ops in [
            json!([{"op": "add", "path": "members", "value": [{"value": v.clone()}]}]),
            json!([{"op": "Remove", "path": "members", "value": [{"value": v.clone()}]}]),
            json!([{"op": "remove", "path": format!("members[value eq \"{v}\"]")}]),
            json!([{"op": "replace", "value": {"members": [{"value": v.clone()}]}}]),
        ] {
            let r = t
                .scim(
                    "PATCH",
                    format!("/Groups/{gid}"),
                    Some(patch_op(ops.clone())),
                )
                .await;
            assert!(r.status == 400, "{what} {ops}: {}", r.body);
            assert!(
                ["invalidValue", "invalidFilter", "invalidPath"]
                    .contains(&r.body["scimType"].as_str().unwrap_or_default()),
                "{what}: {}",
                r.body
            );
        }
    }
    // A member id of exactly 64 bytes is an id like any other: unknown (G6), not a 500.
    let r = t
        .scim(
            "POST",
            "/Groups",
            Some(json!({"displayName": "G3", "members": [{"value": "m".repeat(64)}]})),
        )
        .await;
    assert_refused(&r, "invalidValue", &["unknown"], "a 64-byte unknown id");
    assert_same(&before, &snapshot(&t).await, "refused group writes");
    assert_eq!(t.members(&gid).await.len(), 2);
    // At the limit: accepted.
    t.create_group(&"g".repeat(256), &members).await;
}

/// X4, X2: an id in a path longer than any id answers 404 like any unknown id, on SCIM and
/// on the admin API, for every method; never a 500, and nothing is written.
#[tokio::test]
async fn x4_x2_over_long_path_ids_answer_404_never_500() {
    let t = TestDirectory::new("okta").await;
    let uid = t.users("p", 1).await.remove(0);
    let gid = t
        .create_group("PathGroup", std::slice::from_ref(&uid))
        .await;
    let before = snapshot(&t).await;
    for n in [64, 65, 200, 1_000, 3_000, 10_000] {
        let long = "i".repeat(n);
        for res in ["Users", "Groups"] {
            let body = if res == "Users" {
                okta_user("p0@example.com", "p0@example.com")
            } else {
                json!({"schemas": [GROUP], "displayName": "PathGroup"})
            };
            for (method, body) in [
                ("GET", None),
                ("PUT", Some(body)),
                (
                    "PATCH",
                    Some(patch_op(
                        json!([{"op": "replace", "path": "displayName", "value": "x"}]),
                    )),
                ),
                ("DELETE", None),
            ] {
                let r = t.scim(method, format!("/{res}/{long}"), body).await;
                r.assert_error(404, None);
                assert!(r.body["detail"].as_str().unwrap_or_default().len() < 200);
            }
        }
        // The directory id of the path: a foreign or unknown one is 404 with a real token,
        // 401 without one (X1, X2).
        let r = t
            .call(Call {
                method: "GET",
                path: format!("/scim/v2/directories/{long}/Users"),
                body: None,
                token: Some(t.token.clone()),
                headers: vec![],
            })
            .await;
        r.assert_error(404, None);
        let r = t
            .call(Call {
                method: "GET",
                path: format!("/scim/v2/directories/{long}/Users"),
                body: None,
                token: Some("scim_garbage".into()),
                headers: vec![],
            })
            .await;
        r.assert_error(401, None);
        // Admin paths: every id segment.
        let d = &t.directory_id;
        let o = &t.org_id;
        let admin_calls: Vec<(&str, String, Option<Value>)> = vec![
            ("GET", format!("/admin/v1/orgs/{long}"), None),
            ("GET", format!("/admin/v1/orgs/{long}/accounts"), None),
            ("GET", format!("/admin/v1/orgs/{o}/accounts/{long}"), None),
            (
                "GET",
                format!("/admin/v1/orgs/{o}/accounts/{long}/access"),
                None,
            ),
            (
                "DELETE",
                format!("/admin/v1/orgs/{o}/admin-keys/{long}"),
                None,
            ),
            (
                "GET",
                format!("/admin/v1/orgs/{o}/directories/{long}/tokens"),
                None,
            ),
            (
                "POST",
                format!("/admin/v1/orgs/{o}/directories/{long}/tokens"),
                None,
            ),
            (
                "DELETE",
                format!("/admin/v1/orgs/{o}/directories/{d}/tokens/{long}"),
                None,
            ),
            (
                "GET",
                format!("/admin/v1/orgs/{o}/directories/{long}/events"),
                None,
            ),
            (
                "GET",
                format!("/admin/v1/orgs/{o}/directories/{long}/unlinked-users"),
                None,
            ),
            (
                "POST",
                format!("/admin/v1/orgs/{o}/directories/{d}/users/{long}/unlink"),
                None,
            ),
            (
                "POST",
                format!("/admin/v1/orgs/{o}/directories/{long}/users/{uid}/relink"),
                None,
            ),
            (
                "PUT",
                format!("/admin/v1/orgs/{o}/org-groups/{long}/roles"),
                Some(json!({"roles": []})),
            ),
            (
                "POST",
                format!("/admin/v1/orgs/{o}/org-groups/{long}/members"),
                Some(json!({"accountIds": []})),
            ),
            (
                "POST",
                format!("/admin/v1/orgs/{o}/products/{long}/default-groups"),
                Some(json!({"orgGroupId": "x"})),
            ),
            (
                "DELETE",
                format!("/admin/v1/orgs/{o}/products/p/default-groups/{long}"),
                None,
            ),
            (
                "GET",
                format!("/admin/v1/orgs/{o}/conflicts/{long}/{gid}"),
                None,
            ),
            (
                "POST",
                format!("/admin/v1/orgs/{o}/conflicts/{d}/{long}/sync"),
                None,
            ),
            (
                "POST",
                format!("/admin/v1/orgs/{o}/conflicts/{long}/{long}/reject"),
                None,
            ),
        ];
        for (method, path, body) in admin_calls {
            let r = crate::common::admin(&t.state, method, &path, body).await;
            assert_eq!(
                r.status,
                404,
                "{method} {}...: {}",
                &path[..60.min(path.len())],
                r.body
            );
        }
    }
    for n in [254, 300, 3_000] {
        let r = t
            .org_admin("DELETE", &format!("/domains/{}.com", "d".repeat(n)), None)
            .await;
        r.assert_error(404, None);
    }
    assert_same(&before, &snapshot(&t).await, "requests on over-long ids");
}

/// X4, S2, S3, S4: query parameters at and over their limits: filters (whole and each
/// indexed value), cursors, attribute lists, count and startIndex, dryRun; admin limit,
/// offset and filters. Never a 500; the over-long indexed values simply match nothing.
#[tokio::test]
async fn x4_s2_s3_query_parameters_at_and_over_their_limits() {
    let t = TestDirectory::new("okta").await;
    let long_display = "D".repeat(600);
    let mut u = okta_user("q@example.com", "q@example.com");
    u["displayName"] = json!(long_display);
    t.create_user(u).await;
    t.create_group("QG", &[]).await;
    let before = snapshot(&t).await;
    // A filter of exactly the maximum is parsed; one byte more is invalidFilter.
    let pad = |n: usize| format!("userName eq \"{}\"", "a".repeat(n - 14));
    assert_eq!(pad(4096).len(), 4096);
    let r = list(&t, "Users", format!("filter={}", enc(&pad(4096)))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["totalResults"], 0);
    list(&t, "Users", format!("filter={}", enc(&pad(4097))))
        .await
        .assert_error(400, Some("invalidFilter"));
    // Each indexed equality with a value longer than any stored one: nothing, never a 500.
    for n in [65, 255, 257, 600, 1_000, 3_000, 4_000] {
        let v = "v".repeat(n);
        for (res, filter) in [
            ("Users", format!("userName eq \"{v}\"")),
            ("Users", format!("externalId eq \"{v}\"")),
            ("Users", format!("id eq \"{v}\"")),
            ("Users", format!("emails.value eq \"{v}@example.com\"")),
            (
                "Users",
                format!("emails[type eq \"work\" and value eq \"{v}\"]"),
            ),
            ("Users", format!("userName eq \"{v}\" and active eq true")),
            ("Groups", format!("displayName eq \"{v}\"")),
            ("Groups", format!("id eq \"{v}\"")),
            ("Groups", format!("externalId eq \"{v}\"")),
        ] {
            if filter.len() > 4096 {
                continue;
            }
            let r = list(&t, res, format!("filter={}", enc(&filter))).await;
            assert_eq!(r.status, 200, "{res} {n}: {}", r.body);
            assert_eq!(r.body["totalResults"], 0, "{res} {n}");
            let r = list(&t, res, format!("filter={}&cursor=", enc(&filter))).await;
            assert_eq!(r.status, 200, "{res} {n}: {}", r.body);
        }
        // `or` with a value that exists: the long one just adds nothing.
        let f = format!("userName eq \"{v}\" or userName eq \"q@example.com\"");
        if f.len() <= 4096 {
            let r = list(&t, "Users", format!("filter={}", enc(&f))).await;
            assert_eq!(r.body["totalResults"], 1, "{}", r.body);
        }
    }
    // A user's displayName is not indexed and may be long: still found.
    let r = list(
        &t,
        "Users",
        format!(
            "filter={}",
            enc(&format!("displayName eq \"{long_display}\""))
        ),
    )
    .await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.body);
    // Cursors and attribute lists.
    list(&t, "Users", format!("cursor={}", "A".repeat(4097)))
        .await
        .assert_error(400, Some("invalidCursor"));
    for p in ["attributes", "excludedAttributes"] {
        let attrs = vec!["userName"; 500].join(",");
        list(&t, "Users", format!("{p}={attrs}"))
            .await
            .assert_error(400, Some("invalidValue"));
    }
    // count and startIndex: RFC 7644 lowers what is out of range; garbage is invalidValue.
    for v in [
        "-1",
        "0",
        "1",
        "200",
        "201",
        "1000000",
        "9223372036854775807",
        "-9223372036854775808",
        "99999999999999999999",
        "1e3",
        "abc",
        "",
        "%20",
        "1.5",
    ] {
        for p in ["count", "startIndex"] {
            for res in ["Users", "Groups"] {
                let r = list(&t, res, format!("{p}={v}")).await;
                match r.status {
                    200 => assert!(r.body["Resources"].is_array(), "{p}={v}: {}", r.body),
                    _ => r.assert_error(400, Some("invalidValue")),
                }
                let r = list(&t, res, format!("{p}={v}&cursor=")).await;
                assert!(r.status == 200 || r.status == 400, "{p}={v}: {}", r.body);
            }
        }
    }
    for body in [
        json!({"count": 1e300}),
        json!({"startIndex": -1e300}),
        json!({"count": "x"}),
        json!({"startIndex": 9.5}),
        json!({"filter": "a".repeat(5000)}),
        json!({"cursor": "A".repeat(5000)}),
    ] {
        let r = t.scim("POST", "/Users/.search", Some(body.clone())).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
    }
    // dryRun is true or false; anything else is refused, never taken as "commit" (E3).
    for v in ["1", "yes", "", "tru", "%00"] {
        let r = t
            .scim(
                "POST",
                format!("/Users?dryRun={v}"),
                Some(okta_user("dry@example.com", "dry@example.com")),
            )
            .await;
        r.assert_error(400, Some("invalidValue"));
    }
    let r = t
        .scim(
            "POST",
            "/Users?dryRun=TRUE",
            Some(okta_user("dry@example.com", "dry@example.com")),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Admin query parameters.
    for q in [
        "limit=-1",
        "limit=1e3",
        "limit=1000000001",
        "limit=99999999999999999999",
        "offset=18446744073709551615",
        &format!("email={}", "e".repeat(3_000)),
        &format!("scimId={}", "s".repeat(3_000)),
        &format!("outcome={}", "o".repeat(3_000)),
        &format!("since={}", "2".repeat(3_000)),
        &format!("cursor={}", "A".repeat(5_000)),
        "dryRun=1",
    ] {
        for path in [
            "/events",
            "/accounts",
            &format!("/directories/{}/events", t.directory_id),
        ] {
            let r = t.org_admin("GET", &format!("{path}?{q}"), None).await;
            r.assert_error(400, Some("invalidValue"));
        }
    }
    for path in ["/diagnose", "/links"] {
        let r = t
            .org_admin("GET", &format!("{path}?email={}", email_of(3_000)), None)
            .await;
        r.assert_error(400, Some("invalidValue"));
    }
    let r = t
        .org_admin(
            "GET",
            &format!(
                "/conflicts/{}/g?offset=18446744073709551615",
                t.directory_id
            ),
            None,
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
    assert_same(&before, &snapshot(&t).await, "queries");
}

/// A deterministic stream of pseudo-random URL-safe strings.
fn randoms(n: usize) -> Vec<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|i| {
            let len = 1 + (i * 37) % 300;
            (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    ALPHABET[(x % ALPHABET.len() as u64) as usize] as char
                })
                .collect()
        })
        .collect()
}

/// Forgeries of a valid cursor: truncated, with one character changed, extended, its
/// parts swapped or dropped, and random strings.
fn forgeries(valid: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for i in (0..valid.len()).step_by(5) {
        out.push(valid[..i].to_string());
    }
    for i in (0..valid.len()).step_by(3) {
        let mut b = valid.as_bytes().to_vec();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        let s = String::from_utf8(b).expect("ascii");
        if s != valid {
            out.push(s);
        }
    }
    let parts: Vec<&str> = valid.split('.').collect();
    if let [v, p, m] = parts.as_slice() {
        out.push(format!("{v}.{m}.{p}"));
        out.push(format!("{v}.{p}"));
        out.push(format!("{v}.{p}.{m}.{m}"));
        out.push(format!("v2.{p}.{m}"));
        out.push(format!("{v}.{p}.{}", "A".repeat(m.len())));
        out.push(format!("{v}.{p}A.{m}"));
        out.push(format!("{v}.{p}.{m}A"));
        out.push(p.to_string());
        // The payload of another page, and an unsigned offset, under this MAC.
        out.push(format!(
            "{v}.eyJ0IjoiYSIsImwiOiJiIiwicCI6eyJvIjo5OTk5OTk5OX19.{m}"
        ));
    }
    out.extend(randoms(40));
    out.extend(
        [
            "o5",
            "o99999999999999999999",
            "k",
            "kZZZ",
            "%00",
            " ",
            "v1..",
            "v1.a.b.c",
        ]
        .map(str::to_string),
    );
    out.push("A".repeat(5_000));
    out
}

/// The unsigned cursor of the old format: base64 of a listing key of this very directory.
fn unsigned_cursor(directory_id: &str, last: &str) -> String {
    use base64::Engine;
    let key = json!({"pk": format!("DIR#{directory_id}#USER#{last}"), "sk": "USER", "gsi1pk": format!("DIR#{directory_id}#USERS"), "gsi1sk": format!("a#{last}")});
    format!(
        "k{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.to_string())
    )
}

/// X4, S3 (RFC 9865): every forged SCIM cursor is 400 invalidCursor, in GET and in
/// `.search`: random, truncated, modified, unsigned, another directory's (X2), another
/// listing's, another deployment's. Valid ones still page.
#[tokio::test]
async fn x4_s3_x2_forged_scim_cursors_are_invalid_cursor() {
    let t = TestDirectory::new("okta").await;
    let uids = t.users("c", 3).await;
    t.create_group("C1", &[]).await;
    t.create_group("C2", &[]).await;
    let users_cursor = first_cursor(&t, "Users", "x=1").await;
    let offset_cursor = first_cursor(
        &t,
        "Users",
        "filter=userName%20eq%20%22c0%40example.com%22%20or%20userName%20eq%20%22c1%40example.com%22",
    )
    .await;
    let groups_cursor = first_cursor(&t, "Groups", "x=1").await;
    // Valid cursors page on.
    let r = t
        .scim("GET", format!("/Users?count=1&cursor={users_cursor}"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Another directory's cursor (X2), and one of another deployment (another key).
    let sibling = t.sibling("entra").await;
    sibling.users("s", 2).await;
    let foreign = first_cursor(&sibling, "Users", "x=1").await;
    let other_state = t
        .state
        .clone()
        .with_cursor_key("another-deployment-0123456789abcdef0123");
    let r = call_as(
        &other_state,
        Some(&t.token),
        "GET",
        &format!("{}/Users?count=1&cursor=", t.base()),
        None,
    )
    .await;
    let other_deployment = r.body["nextCursor"].as_str().expect("cursor").to_string();
    let mut forged = forgeries(&users_cursor);
    forged.extend(forgeries(&offset_cursor).into_iter().take(40));
    forged.extend([
        foreign,
        other_deployment,
        groups_cursor.clone(),
        unsigned_cursor(&t.directory_id, &uids[0]),
    ]);
    let before = snapshot(&t).await;
    for c in &forged {
        if c.trim().is_empty() {
            continue;
        }
        let r = t
            .scim("GET", format!("/Users?count=1&cursor={}", enc(c)), None)
            .await;
        assert_eq!(r.status, 400, "cursor {c}: {}", r.body);
        assert_eq!(
            r.body["scimType"], "invalidCursor",
            "cursor {c}: {}",
            r.body
        );
    }
    for c in forged.iter().step_by(7).chain([&users_cursor]) {
        if c.trim().is_empty() {
            continue;
        }
        let r = t
            .scim(
                "POST",
                "/Groups/.search",
                Some(json!({"cursor": c, "count": 1})),
            )
            .await;
        r.assert_error(400, Some("invalidCursor"));
    }
    assert_same(&before, &snapshot(&t).await, "forged cursors");
}

/// X4, X2: forged cursors of the admin API (the org's log, a directory's log, accounts) are
/// a clear 400, never a 500: random, truncated, modified, unsigned, another org's, another
/// listing's, another deployment's.
#[tokio::test]
async fn x4_x2_forged_admin_cursors_are_400() {
    let t = TestDirectory::new("okta").await;
    t.users("a", 3).await;
    let other = TestDirectory::new("okta").await;
    other.users("o", 3).await;
    let d = t.directory_id.clone();
    let listings = [
        "/events?limit=1".to_string(),
        format!("/directories/{d}/events?limit=1"),
        "/accounts?limit=1".to_string(),
    ];
    let mut valid = Vec::new();
    for l in &listings {
        valid.push(admin_cursor(&t, l).await);
    }
    let foreign_events = admin_cursor(&other, "/events?limit=1").await;
    let foreign_accounts = admin_cursor(&other, "/accounts?limit=1").await;
    let other_state = t
        .state
        .clone()
        .with_cursor_key("another-deployment-0123456789abcdef0123");
    let r = call_as(
        &other_state,
        Some(crate::common::OPERATOR_KEY),
        "GET",
        &format!("/admin/v1/orgs/{}/accounts?limit=1", t.org_id),
        None,
    )
    .await;
    let other_deployment = r.body["nextCursor"].as_str().expect("cursor").to_string();
    let before = snapshot(&t).await;
    for (i, listing) in listings.iter().enumerate() {
        // Valid: it pages on.
        let r = t
            .org_admin("GET", &format!("{listing}&cursor={}", valid[i]), None)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let mut forged = forgeries(&valid[i]);
        forged.extend([
            foreign_events.clone(),
            foreign_accounts.clone(),
            other_deployment.clone(),
            valid[(i + 1) % 3].clone(),
            valid[(i + 2) % 3].clone(),
            unsigned_cursor(&d, "x")[1..].to_string(),
        ]);
        for c in forged.iter().filter(|c| !c.trim().is_empty()) {
            let r = t
                .org_admin("GET", &format!("{listing}&cursor={}", enc(c)), None)
                .await;
            assert_eq!(r.status, 400, "{listing} cursor {c}: {}", r.body);
            assert_eq!(r.body["scimType"], "invalidValue", "{}", r.body);
        }
    }
    assert_same(&before, &snapshot(&t).await, "forged admin cursors");
}

/// E3: every admin write with `?dryRun=true` commits nothing and hands out no usable
/// secret: creating an org, a directory, a token, an admin key; domains; invites and JIT;
/// sites, products, org groups, roles, members, default groups; unlink, relink; revoking;
/// conflicts. A dryRun that is not true/false is refused.
#[tokio::test]
async fn e3_every_admin_write_honours_dry_run() {
    let t = TestDirectory::new("okta").await;
    // Something for each write to act on.
    let uid = t
        .create_user(okta_user("dry@example.com", "dry@example.com"))
        .await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let account = t.account_of("dry@example.com").await["id"]
        .as_str()
        .expect("id")
        .to_string();
    for (path, body) in [
        ("/sites", json!({"id": "s1", "name": "site one"})),
        (
            "/products",
            json!({"id": "p1", "name": "P", "siteId": "s1", "roles": ["user"]}),
        ),
        ("/org-groups", json!({"name": "Eng", "roles": ["p1/user"]})),
    ] {
        let r = t.org_admin("POST", path, Some(body)).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let og = t.org_admin("GET", "/org-groups", None).await.body["groups"][0]["id"]
        .as_str()
        .expect("og")
        .to_string();
    let r = t
        .org_admin(
            "POST",
            "/products/p1/default-groups",
            Some(json!({"orgGroupId": og})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // A held conflict: the IdP's "ENG" meets the admins' "Eng" (G2).
    t.create_group("ENG", std::slice::from_ref(&uid)).await;
    let conflict = t.org_admin("GET", "/conflicts", None).await.body["conflicts"][0].clone();
    let (cd, cg) = (
        conflict["directoryId"].as_str().expect("d").to_string(),
        conflict["groupId"].as_str().expect("g").to_string(),
    );
    let token_id = t
        .org_admin(
            "GET",
            &format!("/directories/{}/tokens", t.directory_id),
            None,
        )
        .await
        .body["tokens"][0]["id"]
        .as_str()
        .expect("token id")
        .to_string();
    let d = t.directory_id.clone();
    let before = snapshot(&t).await;

    let writes: Vec<(&str, String, Option<Value>)> = vec![
        (
            "POST",
            "/directories".into(),
            Some(json!({"name": "D2", "idp": "okta"})),
        ),
        ("POST", format!("/directories/{d}/tokens"), None),
        ("POST", "/admin-keys".into(), None),
        (
            "DELETE",
            format!("/directories/{d}/tokens/{token_id}"),
            None,
        ),
        (
            "POST",
            "/domains".into(),
            Some(json!({"domain": "new.example"})),
        ),
        ("DELETE", "/domains/example.com".into(), None),
        (
            "POST",
            "/invites".into(),
            Some(json!({"email": "inv@example.com"})),
        ),
        (
            "POST",
            "/jit-sign-ins".into(),
            Some(json!({"email": "jit@example.com", "groups": ["Eng"]})),
        ),
        (
            "POST",
            "/sites".into(),
            Some(json!({"id": "s2", "name": "site two"})),
        ),
        (
            "POST",
            "/products".into(),
            Some(json!({"id": "p2", "name": "P2", "siteId": "s1", "roles": ["r"]})),
        ),
        (
            "POST",
            "/org-groups".into(),
            Some(json!({"name": "Ops", "roles": []})),
        ),
        (
            "PUT",
            format!("/org-groups/{og}/roles"),
            Some(json!({"roles": []})),
        ),
        (
            "POST",
            format!("/org-groups/{og}/members"),
            Some(json!({"accountIds": [account]})),
        ),
        ("DELETE", format!("/products/p1/default-groups/{og}"), None),
        ("POST", format!("/directories/{d}/users/{uid}/unlink"), None),
        ("POST", format!("/directories/{d}/users/{uid}/relink"), None),
        ("POST", format!("/conflicts/{cd}/{cg}/reject"), None),
        ("POST", format!("/conflicts/{cd}/{cg}/sync"), None),
        ("POST", "/conflicts/sync-all".into(), None),
    ];
    for (method, path, body) in &writes {
        let r = t
            .org_admin(method, &format!("{path}?dryRun=true"), body.clone())
            .await;
        assert!(
            r.status < 300 || r.status == 409,
            "{method} {path}: {} {}",
            r.status,
            r.body
        );
        let text = r.body.to_string();
        assert!(
            !text.contains("\"scim_") && !text.contains("\"sladm_"),
            "{method} {path} showed a secret: {text}"
        );
        assert_same(
            &before,
            &snapshot(&t).await,
            &format!("dry run of {method} {path}"),
        );
        // Any other value is refused, and commits nothing either.
        let r = t
            .org_admin(method, &format!("{path}?dryRun=1"), body.clone())
            .await;
        r.assert_error(400, Some("invalidValue"));
    }
    assert_same(&before, &snapshot(&t).await, "dryRun=1");
    // The dry-run token creation issued nothing that authenticates.
    let r = t
        .org_admin(
            "POST",
            &format!("/directories/{d}/tokens?dryRun=true"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["dryRun"], true);
    assert!(r.body.get("token").is_none(), "{}", r.body);
    // The operator's org creation: nothing created, the id it shows does not exist.
    let r = crate::common::admin(
        &t.state,
        "POST",
        "/admin/v1/orgs?dryRun=true",
        Some(json!({"name": "Preview", "verifiedDomains": ["preview.example"]})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["dryRun"], true);
    let preview = r.body["id"].as_str().expect("id").to_string();
    crate::common::admin(&t.state, "GET", &format!("/admin/v1/orgs/{preview}"), None)
        .await
        .assert_error(404, None);
    assert!(items(&t, &[&preview]).await.is_empty());
    let r = crate::common::admin(
        &t.state,
        "POST",
        "/admin/v1/orgs?dryRun=yes",
        Some(json!({"name": "Preview"})),
    )
    .await;
    r.assert_error(400, Some("invalidValue"));
    // The directory and the token still work as before.
    assert_eq!(t.user_count().await, 1);
}

/// S8, S7: a SearchRequest body that is not a JSON object is invalidSyntax, never the whole
/// list.
#[tokio::test]
async fn s7_s8_search_body_that_is_not_an_object_is_invalid_syntax() {
    let t = TestDirectory::new("okta").await;
    t.users("s", 2).await;
    t.create_group("S", &[]).await;
    for res in ["Users", "Groups"] {
        for body in [
            "[]", "[{}]", "\"x\"", "null", "42", "-1.5", "true", "false", "\"\"", "[1,2]",
        ] {
            let r = t
                .scim_with("POST", &format!("/{res}/.search"), Some(body.into()), &[])
                .await;
            r.assert_error(400, Some("invalidSyntax"));
            assert!(r.body.get("Resources").is_none());
        }
        let r = t
            .scim_with("POST", &format!("/{res}/.search"), Some("{}".into()), &[])
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
}

/// L3, S7, E1: values that reach keys are trimmed, so whitespace variants of one userName,
/// externalId, email or group name collide (409 uniqueness, logged), and whitespace alone is
/// no value (400). The trimming is a quirk on the event.
#[tokio::test]
async fn l3_s7_whitespace_variants_collide_and_blank_values_are_refused() {
    let t = TestDirectory::new("okta").await;
    let first = t
        .create_user(okta_user("alice@example.com", "alice@example.com"))
        .await;
    assert_eq!(first["userName"], "alice@example.com");
    let before = without_log(snapshot(&t).await);
    for variant in [
        " alice@example.com",
        "alice@example.com ",
        "  alice@example.com  ",
        "\talice@example.com\n",
        "\u{a0}alice@example.com",
        "\u{3000}ALICE@example.com",
    ] {
        let mut u = okta_user(variant, &format!("other{}@example.com", variant.len()));
        u["externalId"] = json!(format!("new-{}", variant.len()));
        let r = t.scim("POST", "/Users", Some(u)).await;
        r.assert_error(409, Some("uniqueness"));
        // The same externalId with whitespace.
        let mut u = okta_user(&format!("x{}@example.com", variant.len()), "y@example.com");
        u["externalId"] = json!(" ext-alice@example.com\t");
        let r = t.scim("POST", "/Users", Some(u)).await;
        r.assert_error(409, Some("uniqueness"));
    }
    assert_same(
        &before,
        &without_log(snapshot(&t).await),
        "refused variants",
    );
    for blank in [
        " ",
        "   ",
        "\t",
        "\n\r",
        "\u{a0}",
        "\u{3000}",
        "\u{2003}\u{2003}",
    ] {
        let r = t
            .scim("POST", "/Users", Some(okta_user(blank, "b@example.com")))
            .await;
        assert_refused(&r, "invalidValue", &["userName"], &format!("{blank:?}"));
        let r = t
            .scim(
                "PATCH",
                format!("/Users/{}", first["id"].as_str().expect("id")),
                Some(patch_op(
                    json!([{"op": "replace", "path": "userName", "value": blank}]),
                )),
            )
            .await;
        assert_refused(
            &r,
            "invalidValue",
            &["userName"],
            &format!("PATCH {blank:?}"),
        );
        let r = t
            .scim(
                "POST",
                "/Groups",
                Some(json!({"schemas": [GROUP], "displayName": blank})),
            )
            .await;
        assert_refused(
            &r,
            "invalidValue",
            &["displayName"],
            &format!("group {blank:?}"),
        );
    }
    assert_same(&before, &without_log(snapshot(&t).await), "blank values");
    // Emails are trimmed too: the account is the one of the trimmed address (L1).
    let r = t
        .scim(
            "POST",
            "/Users",
            Some(okta_user("bob@example.com", "  Bob@Example.com ")),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["emails"][0]["value"], "Bob@Example.com");
    assert_eq!(
        t.account_of("bob@example.com").await["email"],
        "bob@example.com"
    );
    // Group names: " Eng " and "Eng" are one name.
    t.create_group("Eng", &[]).await;
    for variant in [" Eng", "Eng ", " eng\t"] {
        let r = t
            .scim(
                "POST",
                "/Groups",
                Some(json!({"schemas": [GROUP], "displayName": variant})),
            )
            .await;
        r.assert_error(409, Some("uniqueness"));
    }
    // The trimming is on the log, as a quirk.
    let r = t
        .scim(
            "POST",
            "/Users",
            Some(okta_user(" carol@example.com ", "carol@example.com")),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["userName"], "carol@example.com");
    let log = t
        .org_admin("GET", "/events?email=carol@example.com", None)
        .await;
    let quirks = log.body["events"][0]["quirks"].to_string();
    assert!(
        quirks.contains("trimmed") && quirks.contains("userName"),
        "{}",
        log.body
    );
}

/// S7, G6: a member without a usable `value` is refused with 400 invalidValue, in POST and
/// PUT bodies and in PATCH values; it is never silently dropped, and nothing is written.
#[tokio::test]
async fn s7_g6_members_without_a_value_are_refused_not_dropped() {
    let t = TestDirectory::new("okta").await;
    let users = t.users("mv", 2).await;
    let gid = t.create_group("MV", &users[..1]).await;
    let before = snapshot(&t).await;
    let bad = [
        json!({}),
        json!(null),
        json!({"display": "someone"}),
        json!({"type": "User"}),
        json!({"$ref": "https://x/Users/1"}),
        json!({"value": ""}),
        json!({"value": "   "}),
        json!({"value": null}),
        json!({"value": 42}),
        json!({"value": true}),
        json!({"value": ["u"]}),
    ];
    for m in &bad {
        let members = json!([{"value": users[1]}, m]);
        let body = json!({"schemas": [GROUP], "displayName": "MV2", "members": members});
        let r = t.scim("POST", "/Groups", Some(body)).await;
        r.assert_error(400, Some("invalidValue"));
        let body = json!({"schemas": [GROUP], "displayName": "MV", "members": members});
        let r = t.scim("PUT", format!("/Groups/{gid}"), Some(body)).await;
        r.assert_error(400, Some("invalidValue"));
        for ops in [
            json!([{"op": "add", "path": "members", "value": [m]}]),
            json!([{"op": "add", "path": "members", "value": [{"value": users[1]}, m]}]),
            json!([{"op": "replace", "path": "members", "value": [m]}]),
            json!([{"op": "Remove", "path": "members", "value": [m]}]),
            json!([{"op": "add", "value": {"members": [m]}}]),
            json!([{"op": "replace", "value": {"displayName": "MV", "members": [m]}}]),
        ] {
            let r = t
                .scim(
                    "PATCH",
                    format!("/Groups/{gid}"),
                    Some(patch_op(ops.clone())),
                )
                .await;
            r.assert_error(400, Some("invalidValue"));
        }
    }
    assert_same(&before, &snapshot(&t).await, "members without values");
    assert_eq!(t.members(&gid).await, vec![users[0].clone()]);
}

/// X4: a verified domain is a domain name of at most 253 bytes, labels of at most 63 (admin
/// POST /domains and POST /orgs); anything else is refused and nothing is written.
#[tokio::test]
async fn x4_domains_are_validated_and_bounded() {
    let t = TestDirectory::new("okta").await;
    let before = snapshot(&t).await;
    let label63 = "a".repeat(63);
    let at_limit = format!("{label63}.{label63}.{label63}.{}.com", "b".repeat(57));
    assert_eq!(at_limit.len(), 253);
    let bad: Vec<String> = vec![
        format!("{}.com", "d".repeat(3_000)),
        format!("x{at_limit}"),
        format!("{}.com", "a".repeat(64)),
        "com".into(),
        ".example.com".into(),
        "example.com.".into(),
        "a..b.com".into(),
        "-a.com".into(),
        "a-.com".into(),
        "a b.com".into(),
        "a@b.com".into(),
        "a_b.com".into(),
        "bücher.de".into(),
        "1.2.3.4".into(),
        "".into(),
        " ".into(),
        "exa\u{0}mple.com".into(),
        "a.".repeat(200),
    ];
    for d in &bad {
        let r = t
            .org_admin("POST", "/domains", Some(json!({"domain": d})))
            .await;
        r.assert_error(400, Some("invalidValue"));
        let r = crate::common::admin(
            &t.state,
            "POST",
            "/admin/v1/orgs",
            Some(json!({"name": "Bad", "verifiedDomains": ["ok.example", d]})),
        )
        .await;
        r.assert_error(400, Some("invalidValue"));
    }
    let r = t
        .org_admin(
            "POST",
            "/domains",
            Some(json!({"domain": "x".repeat(1000)})),
        )
        .await;
    assert_refused(&r, "invalidValue", &["domain", "253"], "a 1000-byte domain");
    assert_same(&before, &snapshot(&t).await, "bad domains");
    // At the limit, in any case: accepted, lowercased.
    let r = t
        .org_admin(
            "POST",
            "/domains",
            Some(json!({"domain": at_limit.to_uppercase()})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["verifiedDomains"]
        .as_array()
        .expect("domains")
        .contains(&json!(at_limit)));
    let r = t
        .org_admin("DELETE", &format!("/domains/{at_limit}"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// X4: admin bodies: names, emails, ids, roles, account ids and JIT group names at and over
/// their limits (and counts); 400 naming the field and the limit; nothing written.
#[tokio::test]
async fn x4_admin_bodies_over_their_limits_are_400_naming_them() {
    let t = TestDirectory::new("okta").await;
    assert_eq!(
        t.org_admin("POST", "/sites", Some(json!({"id": "s", "name": "S"})))
            .await
            .status,
        201
    );
    let og = t
        .org_admin(
            "POST",
            "/org-groups",
            Some(json!({"name": "Keep", "roles": []})),
        )
        .await
        .body["id"]
        .as_str()
        .expect("og")
        .to_string();
    let before = snapshot(&t).await;
    let long = |n: usize| "n".repeat(n);
    let ids: Vec<String> = (0..100).map(|i| format!("acc{i}")).collect();
    let cases: Vec<(&str, String, Value, &str, &str)> = vec![
        (
            "POST",
            "/directories".into(),
            json!({"name": long(257)}),
            "name",
            "256",
        ),
        (
            "POST",
            "/directories".into(),
            json!({"name": long(500_000)}),
            "name",
            "256",
        ),
        (
            "POST",
            "/invites".into(),
            json!({"email": email_of(255)}),
            "email",
            "254",
        ),
        (
            "POST",
            "/invites".into(),
            json!({"email": email_of(3_000)}),
            "email",
            "254",
        ),
        (
            "POST",
            "/invites".into(),
            json!({"email": "i@example.com", "displayName": long(257)}),
            "displayName",
            "256",
        ),
        (
            "POST",
            "/jit-sign-ins".into(),
            json!({"email": email_of(3_000)}),
            "email",
            "254",
        ),
        (
            "POST",
            "/jit-sign-ins".into(),
            json!({"email": "j@example.com", "givenName": long(3_000)}),
            "givenName",
            "256",
        ),
        (
            "POST",
            "/jit-sign-ins".into(),
            json!({"email": "j@example.com", "groups": [long(257)]}),
            "groups[0]",
            "256",
        ),
        (
            "POST",
            "/jit-sign-ins".into(),
            json!({"email": "j@example.com", "groups": (0..51).map(|i| format!("g{i}")).collect::<Vec<_>>()}),
            "groups",
            "50",
        ),
        (
            "POST",
            "/sites".into(),
            json!({"id": long(65), "name": "x"}),
            "id",
            "64",
        ),
        (
            "POST",
            "/sites".into(),
            json!({"name": long(3_000)}),
            "name",
            "256",
        ),
        (
            "POST",
            "/products".into(),
            json!({"id": long(65), "name": "P", "siteId": "s", "roles": ["u"]}),
            "id",
            "64",
        ),
        (
            "POST",
            "/products".into(),
            json!({"id": "p", "name": "P", "siteId": long(65), "roles": ["u"]}),
            "siteId",
            "64",
        ),
        (
            "POST",
            "/products".into(),
            json!({"id": "p", "name": "P", "siteId": "s", "roles": [long(130)]}),
            "roles[0]",
            "129",
        ),
        (
            "POST",
            "/products".into(),
            json!({"id": "p", "name": "P", "siteId": "s", "roles": (0..101).map(|i| format!("r{i}")).collect::<Vec<_>>()}),
            "roles",
            "100",
        ),
        (
            "POST",
            "/org-groups".into(),
            json!({"name": long(257), "roles": []}),
            "name",
            "256",
        ),
        (
            "POST",
            "/org-groups".into(),
            json!({"name": long(3_000), "roles": []}),
            "name",
            "256",
        ),
        (
            "PUT",
            format!("/org-groups/{og}/roles"),
            json!({"roles": [long(3_000)]}),
            "roles[0]",
            "129",
        ),
        (
            "POST",
            format!("/org-groups/{og}/members"),
            json!({"accountIds": [long(65)]}),
            "accountIds[0]",
            "64",
        ),
        (
            "POST",
            format!("/org-groups/{og}/members"),
            json!({"accountIds": ids}),
            "accountIds",
            "99",
        ),
        (
            "POST",
            format!("/org-groups/{og}/members"),
            json!({"accountIds": ["a", "b", "a"]}),
            "accountIds",
            "more than once",
        ),
        (
            "POST",
            "/products/p/default-groups".into(),
            json!({"orgGroupId": long(65)}),
            "orgGroupId",
            "64",
        ),
        (
            "POST",
            "/domains".into(),
            json!({"domain": long(254)}),
            "domain",
            "253",
        ),
    ];
    for (method, path, body, field, limit) in cases {
        let r = t.org_admin(method, &path, Some(body)).await;
        assert_refused(
            &r,
            "invalidValue",
            &[field, limit],
            &format!("{method} {path} {field}"),
        );
    }
    for body in [
        json!({"name": long(257)}),
        json!({"name": "ok", "verifiedDomains": (0..101).map(|i| format!("d{i}.example")).collect::<Vec<_>>()}),
    ] {
        let r = crate::common::admin(&t.state, "POST", "/admin/v1/orgs", Some(body)).await;
        r.assert_error(400, Some("invalidValue"));
    }
    assert_same(&before, &snapshot(&t).await, "refused admin bodies");
    // At the limits: accepted.
    let r = t
        .org_admin(
            "POST",
            "/org-groups",
            Some(json!({"name": long(256), "roles": []})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = t
        .org_admin("POST", "/invites", Some(json!({"email": email_of(254)})))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

/// X1, X2: a valid credential of the wrong kind (an org admin key on SCIM, a SCIM token on
/// the admin API, the operator key on SCIM) answers 401 exactly like a garbage one, so no
/// answer tells which secrets are real. Another directory's token and another org's admin
/// key still answer 404, like an unknown directory or org.
#[tokio::test]
async fn x1_x2_a_credential_of_the_wrong_kind_answers_401_like_a_wrong_one() {
    let t = TestDirectory::new("okta").await;
    let other = TestDirectory::new("okta").await;
    let admin_key = t.org_admin("POST", "/admin-keys", None).await.body["key"]
        .as_str()
        .expect("key")
        .to_string();
    let other_admin_key = other.org_admin("POST", "/admin-keys", None).await.body["key"]
        .as_str()
        .expect("key")
        .to_string();
    let scim_path = format!("{}/Users", t.base());
    let admin_path = format!("/admin/v1/orgs/{}/accounts", t.org_id);
    let garbage_scim = call_as(&t.state, Some("scim_garbage"), "GET", &scim_path, None).await;
    garbage_scim.assert_error(401, None);
    for key in [
        admin_key.as_str(),
        other_admin_key.as_str(),
        crate::common::OPERATOR_KEY,
    ] {
        let r = call_as(&t.state, Some(key), "GET", &scim_path, None).await;
        r.assert_error(401, None);
        assert_eq!(r.body, garbage_scim.body);
        assert!(r
            .header("www-authenticate")
            .is_some_and(|h| h.starts_with("Bearer")));
        for method in ["POST", "DELETE"] {
            let r = call_as(
                &t.state,
                Some(key),
                method,
                &format!("{}/Users/x", t.base()),
                Some(json!({})),
            )
            .await;
            r.assert_error(401, None);
        }
    }
    let garbage_admin = call_as(&t.state, Some("sladm_garbage"), "GET", &admin_path, None).await;
    garbage_admin.assert_error(401, None);
    for token in [t.token.as_str(), other.token.as_str()] {
        let r = call_as(&t.state, Some(token), "GET", &admin_path, None).await;
        r.assert_error(401, None);
        assert_eq!(r.body, garbage_admin.body);
        let r = call_as(
            &t.state,
            Some(token),
            "POST",
            "/admin/v1/orgs",
            Some(json!({"name": "x"})),
        )
        .await;
        r.assert_error(401, None);
    }
    // Kept (X2): the right kind for another tenant is a 404 like an unknown one.
    call_as(&t.state, Some(&other.token), "GET", &scim_path, None)
        .await
        .assert_error(404, None);
    call_as(&t.state, Some(&other_admin_key), "GET", &admin_path, None)
        .await
        .assert_error(404, None);
    let r = call_as(&t.state, Some(&admin_key), "GET", &admin_path, None).await;
    assert_eq!(r.status, 200, "the key works for its own org: {}", r.body);
}

/// S1: `Location` and `meta.location` use the scheme the client used: http on the plain-http
/// local server (a loopback host), https behind API Gateway (`X-Forwarded-Proto`).
#[tokio::test]
async fn s1_locations_use_the_real_scheme() {
    let t = TestDirectory::new("okta").await;
    for (i, (host, proto, expected)) in [
        ("127.0.0.1:9000", None, "http://127.0.0.1:9000/"),
        ("localhost:9000", None, "http://localhost:9000/"),
        (
            "abc.execute-api.eu-west-1.amazonaws.com",
            Some("https"),
            "https://abc.execute-api.eu-west-1.amazonaws.com/",
        ),
        ("scim.example.com", None, "https://scim.example.com/"),
        ("127.0.0.1:9000", Some("bogus"), "http://127.0.0.1:9000/"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut headers = vec![("host", host.to_string())];
        if let Some(p) = proto {
            headers.push(("x-forwarded-proto", p.to_string()));
        }
        let name = format!("loc{i}@example.com");
        let r = t
            .scim_with(
                "POST",
                "/Users",
                Some(okta_user(&name, &name).to_string()),
                &headers,
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let location = r.header("location").expect("Location").to_string();
        assert!(location.starts_with(expected), "{location}");
        assert_eq!(r.body["meta"]["location"], location);
    }
}
