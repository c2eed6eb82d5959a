//! SCIM Users against DynamoDB Local, replaying the request shapes Okta and Entra send.

use serde_json::{json, Value};

use crate::common::{okta_user, Call, TestDirectory};

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

fn filter_path(filter: &str) -> String {
    format!("/Users?filter={}", percent(filter))
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn s2_okta_search_by_user_name_then_create_get_and_find() {
    let t = TestDirectory::new("okta").await;
    // Okta first searches for the user it is about to create.
    let r = t
        .scim(
            "GET",
            &format!(
                "{}&startIndex=1&count=100",
                filter_path("userName eq \"alice@example.com\"")
            ),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["totalResults"], 0);
    assert_eq!(r.body["Resources"], json!([]));
    assert_eq!(
        r.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    );
    assert_eq!(r.header("content-type"), Some("application/scim+json"));

    let created = t
        .scim(
            "POST",
            "/Users",
            Some(okta_user("alice@example.com", "alice@example.com")),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let uid = id(&created.body);
    let location = format!("https://scimlink.local{}/Users/{uid}", t.base());
    assert_eq!(
        created.header("location"),
        Some(location.as_str()),
        "absolute (RFC 7643 §3.1)"
    );
    assert_eq!(created.body["meta"]["location"], location.as_str());
    assert_eq!(created.header("etag"), Some("W/\"1\""));
    assert_eq!(created.body["meta"]["version"], "W/\"1\"");
    assert_eq!(created.body["meta"]["resourceType"], "User");
    assert!(
        created.body.get("password").is_none(),
        "passwords are never returned"
    );
    assert_eq!(created.body["active"], true);

    let got = t.scim("GET", &format!("/Users/{uid}"), None).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, created.body);

    // userName is case-insensitive (RFC 7643 caseExact false).
    let r = t
        .scim(
            "GET",
            &filter_path("userName eq \"ALICE@example.com\""),
            None,
        )
        .await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.body);
    assert_eq!(r.body["Resources"][0]["id"], uid.as_str());
}

#[tokio::test]
async fn s2_equality_filters_are_answered_from_an_index() {
    let t = TestDirectory::new("okta").await;
    for i in 0..5 {
        t.create_user(okta_user(
            &format!("user{i}@example.com"),
            &format!("user{i}@example.com"),
        ))
        .await;
    }
    let (r, cost) = t
        .measure(t.scim(
            "GET",
            &filter_path("userName eq \"user3@example.com\""),
            None,
        ))
        .await;
    assert_eq!(r.body["totalResults"], 1);
    // userName guard + the user: never a scan of the directory (the token is verified
    // by this instance's first request, `http/tokens.rs`).
    assert_eq!(cost.requests, 2, "{cost:?}");
    assert_eq!(cost.round_trips, 2, "{cost:?}");
    let (r, cost) = t
        .measure(t.scim(
            "GET",
            &filter_path("emails.value eq \"USER2@example.com\""),
            None,
        ))
        .await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.body);
    assert_eq!(cost.requests, 2, "{cost:?}");
}

#[tokio::test]
async fn s2_entra_filters_by_external_id_and_work_email() {
    let t = TestDirectory::new("entra").await;
    let entra_user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_ab6490ee@example.com",
        "active": true,
        "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@example.com"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": [],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Engineering", "manager": {"value": "boss"}}
    });
    let created = t.create_user(entra_user).await;
    let r = t
        .scim(
            "GET",
            &filter_path("externalId eq \"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef\""),
            None,
        )
        .await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.body);
    assert_eq!(r.body["Resources"][0]["id"], created["id"]);
    // externalId is case-exact.
    let r = t
        .scim(
            "GET",
            &filter_path("externalId eq \"0A21F0F2-8D2A-4F8E-BF98-7363C4AED4EF\""),
            None,
        )
        .await;
    assert_eq!(r.body["totalResults"], 0);
    let r = t
        .scim(
            "GET",
            &filter_path("emails[type eq \"work\"].value eq \"test_user_fd0ea19b@example.com\""),
            None,
        )
        .await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.body);
    let r = t
        .scim(
            "GET",
            &filter_path("emails[type eq \"home\"].value eq \"test_user_fd0ea19b@example.com\""),
            None,
        )
        .await;
    assert_eq!(r.body["totalResults"], 0, "{}", r.body);
    // Not indexed: evaluated over the listing.
    let r = t
        .scim("GET", &filter_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"Engineering\" and active eq true"), None)
        .await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.body);
}

#[tokio::test]
async fn s6_okta_put_replaces_the_whole_user() {
    let t = TestDirectory::new("okta").await;
    let created = t
        .create_user(okta_user("bob@example.com", "bob@example.com"))
        .await;
    let uid = id(&created);
    let mut body = created.clone();
    body["name"] = json!({"givenName": "Robert", "familyName": "User"});
    body.as_object_mut().expect("object").remove("displayName");
    body.as_object_mut().expect("object").remove("locale");
    let r = t.scim("PUT", &format!("/Users/{uid}"), Some(body)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"]["givenName"], "Robert");
    assert!(
        r.body.get("displayName").is_none(),
        "PUT replaces: omitted attributes are cleared"
    );
    assert!(r.body.get("locale").is_none());
    assert_eq!(r.body["meta"]["version"], "W/\"2\"");
    assert_eq!(r.body["meta"]["created"], created["meta"]["created"]);
}

#[tokio::test]
async fn s5_l6_okta_patch_active_false_without_path_keeps_user_readable_and_filterable() {
    let t = TestDirectory::new("okta").await;
    let created = t
        .create_user(okta_user("carol@example.com", "carol@example.com"))
        .await;
    let uid = id(&created);
    let r = t
        .scim(
            "PATCH",
            &format!("/Users/{uid}"),
            Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "value": {"active": false}}]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["active"], false);
    assert_eq!(r.body["id"], uid.as_str());
    let got = t.scim("GET", &format!("/Users/{uid}"), None).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["active"], false);
    let r = t
        .scim(
            "GET",
            &filter_path("userName eq \"carol@example.com\""),
            None,
        )
        .await;
    assert_eq!(
        r.body["totalResults"], 1,
        "a deactivated user is still found (L6)"
    );
    let r = t.scim("GET", &filter_path("active eq false"), None).await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.body);
}

#[tokio::test]
async fn s5_entra_capitalized_ops_string_booleans_and_bare_manager() {
    let t = TestDirectory::new("entra").await;
    let created = t
        .create_user(okta_user("dave@example.com", "dave@example.com"))
        .await;
    let uid = id(&created);
    let r = t
        .scim(
            "PATCH",
            &format!("/Users/{uid}"),
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [
                    {"op": "Replace", "path": "active", "value": "False"},
                    {"op": "Add", "path": "title", "value": "Engineer"},
                    {"op": "Replace", "path": "name.givenName", "value": "David"},
                    {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "boss-id"},
                    {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "R&D"},
                    {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0100"}
                ]
            })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["active"], false);
    assert_eq!(r.body["title"], "Engineer");
    assert_eq!(r.body["name"]["givenName"], "David");
    let ext = &r.body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"];
    assert_eq!(ext["manager"]["value"], "boss-id");
    assert_eq!(ext["department"], "R&D");
    assert_eq!(
        r.body["phoneNumbers"][0],
        json!({"type": "mobile", "value": "+1 555 0100"})
    );
    // Reactivate with the other string boolean.
    let r = t
        .scim(
            "PATCH",
            &format!("/Users/{uid}"),
            Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "Replace", "path": "active", "value": "True"}]})),
        )
        .await;
    assert_eq!(r.body["active"], true, "{}", r.body);
}

#[tokio::test]
async fn l4_noop_put_and_patch_write_nothing() {
    let t = TestDirectory::new("okta").await;
    let created = t
        .create_user(okta_user("erin@example.com", "erin@example.com"))
        .await;
    let uid = id(&created);
    // Okta's force sync: a PUT of exactly what is stored.
    let (r, cost) = t
        .measure(t.scim("PUT", &format!("/Users/{uid}"), Some(created.clone())))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["meta"]["version"], "W/\"1\"", "no version bump");
    assert_eq!(cost.requests, 1, "the user's read, no write: {cost:?}");
    assert_eq!(cost.write_units, 0.0);
    // A PATCH that sets what is already there, Entra style.
    let (r, cost) = t
        .measure({
            t.scim(
                "PATCH",
                &format!("/Users/{uid}"),
                Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
                    {"op": "Replace", "path": "active", "value": "True"},
                    {"op": "Replace", "path": "name.givenName", "value": "Test"},
                    {"op": "replace", "value": {"displayName": "Test User"}}
                ]})),
            )
        })
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["meta"]["version"], "W/\"1\"");
    assert_eq!(cost.requests, 1, "{cost:?}");
    assert_eq!(cost.write_units, 0.0);
}

#[tokio::test]
async fn s3_paging_is_stable_and_count_zero_answers_totals() {
    let t = TestDirectory::new("okta").await;
    for name in ["mike", "Zed", "anna", "Lou", "bea"] {
        t.create_user(okta_user(
            &format!("{name}@example.com"),
            &format!("{name}@example.com"),
        ))
        .await;
    }
    let r = t.scim("GET", "/Users?count=0", None).await;
    assert_eq!(r.body["totalResults"], 5);
    assert_eq!(r.body["Resources"], json!([]));
    let mut seen = Vec::new();
    for start in [1, 3, 5] {
        let r = t
            .scim("GET", &format!("/Users?startIndex={start}&count=2"), None)
            .await;
        assert_eq!(r.body["totalResults"], 5);
        assert_eq!(r.body["startIndex"], start);
        for u in r.body["Resources"].as_array().expect("resources") {
            seen.push(u["userName"].as_str().expect("userName").to_string());
        }
    }
    assert_eq!(
        seen,
        ["anna", "bea", "Lou", "mike", "Zed"].map(|n| format!("{n}@example.com")),
        "ordered by userName, case-insensitively"
    );
    let r = t
        .scim(
            "GET",
            &format!("{}&startIndex=2&count=2", filter_path("userName sw \"\"")),
            None,
        )
        .await;
    assert_eq!(r.body["totalResults"], 5);
    assert_eq!(r.body["Resources"][0]["userName"], "bea@example.com");
}

#[tokio::test]
async fn s4_attributes_and_excluded_attributes() {
    let t = TestDirectory::new("okta").await;
    let created = t
        .create_user(okta_user("fay@example.com", "fay@example.com"))
        .await;
    let uid = id(&created);
    let r = t
        .scim(
            "GET",
            &format!("/Users/{uid}?attributes=userName,emails.value"),
            None,
        )
        .await;
    assert_eq!(r.body["id"], uid.as_str());
    assert_eq!(r.body["userName"], "fay@example.com");
    assert_eq!(r.body["emails"], json!([{"value": "fay@example.com"}]));
    assert!(r.body.get("name").is_none());
    let r = t
        .scim(
            "GET",
            &format!(
                "/Users?excludedAttributes=emails,name&{}",
                &filter_path("userName eq \"fay@example.com\"")[7..]
            ),
            None,
        )
        .await;
    let u = &r.body["Resources"][0];
    assert!(u.get("emails").is_none() && u.get("name").is_none(), "{u}");
    assert_eq!(u["userName"], "fay@example.com");
}

#[tokio::test]
async fn s6_if_match_with_a_stale_version_is_refused_with_412() {
    let t = TestDirectory::new("okta").await;
    let created = t
        .create_user(okta_user("gus@example.com", "gus@example.com"))
        .await;
    let uid = id(&created);
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "title", "value": "A"}]}).to_string();
    let r = t
        .scim_with(
            "PATCH",
            &format!("/Users/{uid}"),
            Some(patch.clone()),
            &[("If-Match", "W/\"1\"".into())],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("etag"), Some("W/\"2\""));
    let r = t
        .scim_with(
            "PATCH",
            &format!("/Users/{uid}"),
            Some(patch),
            &[("If-Match", "W/\"1\"".into())],
        )
        .await;
    r.assert_error(412, None);
    let r = t
        .scim_with(
            "DELETE",
            &format!("/Users/{uid}"),
            None,
            &[("If-Match", "W/\"1\"".into())],
        )
        .await;
    r.assert_error(412, None);
    assert_eq!(
        t.scim("GET", &format!("/Users/{uid}"), None).await.body["title"],
        "A"
    );
}

#[tokio::test]
async fn s7_uniqueness_of_user_name_and_external_id() {
    let t = TestDirectory::new("okta").await;
    t.create_user(okta_user("hal@example.com", "hal@example.com"))
        .await;
    let mut dup = okta_user("HAL@example.com", "hal2@example.com");
    dup["externalId"] = json!("other");
    let r = t.scim("POST", "/Users", Some(dup)).await;
    r.assert_error(409, Some("uniqueness"));
    let mut dup = okta_user("hal3@example.com", "hal3@example.com");
    dup["externalId"] = json!("ext-hal@example.com");
    let r = t.scim("POST", "/Users", Some(dup)).await;
    r.assert_error(409, Some("uniqueness"));
    assert_eq!(t.user_count().await, 1);
}

#[tokio::test]
async fn l3_a_second_scim_user_for_the_same_email_is_refused_naming_the_holder() {
    let t = TestDirectory::new("okta").await;
    let first = t
        .create_user(okta_user("ivy@example.com", "ivy@example.com"))
        .await;
    let mut second = okta_user("ivy.other", "IVY@example.com");
    second["externalId"] = json!("ext-2");
    let r = t.scim("POST", "/Users", Some(second)).await;
    r.assert_error(409, Some("uniqueness"));
    let detail = r.body["detail"].as_str().expect("detail");
    assert!(
        detail.contains("user with email ivy@example.com already exists"),
        "{detail}"
    );
    assert!(
        detail.contains(first["id"].as_str().expect("id")),
        "{detail}"
    );
    assert!(detail.contains(&t.directory_id), "{detail}");
    assert!(
        detail.contains("ext-ivy@example.com"),
        "names the holder's externalId: {detail}"
    );
}

#[tokio::test]
async fn l7_delete_removes_the_user_and_frees_its_unique_values() {
    let t = TestDirectory::new("okta").await;
    let created = t
        .create_user(okta_user("jan@example.com", "jan@example.com"))
        .await;
    let uid = id(&created);
    let r = t.scim("DELETE", &format!("/Users/{uid}"), None).await;
    assert_eq!(r.status, 204);
    t.scim("GET", &format!("/Users/{uid}"), None)
        .await
        .assert_error(404, None);
    t.scim("DELETE", &format!("/Users/{uid}"), None)
        .await
        .assert_error(404, None);
    assert_eq!(
        t.scim("GET", &filter_path("userName eq \"jan@example.com\""), None)
            .await
            .body["totalResults"],
        0
    );
    // The same userName, externalId and email can be provisioned again, linking the same account.
    let again = t
        .create_user(okta_user("jan@example.com", "jan@example.com"))
        .await;
    assert_ne!(again["id"], created["id"]);
}

#[tokio::test]
async fn s7_bad_input_is_refused_and_changes_nothing() {
    let t = TestDirectory::new("okta").await;
    let created = t
        .create_user(okta_user("kim@example.com", "kim@example.com"))
        .await;
    let uid = id(&created);
    let before = t.scim("GET", &format!("/Users/{uid}"), None).await.body;

    let r = t
        .scim_with("POST", "/Users", Some("{not json".into()), &[])
        .await;
    r.assert_error(400, Some("invalidSyntax"));
    let r = t
        .scim(
            "POST",
            "/Users",
            Some(
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": 42}),
            ),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
    let r = t
        .scim(
            "POST",
            "/Users",
            Some(json!({"schemas": ["urn:example:unknown"], "userName": "x"})),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
    let r = t
        .scim(
            "POST",
            "/Users",
            Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]})),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
    let r = t.scim("PUT", &format!("/Users/{uid}"), Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "kim@example.com", "active": "maybe"}))).await;
    r.assert_error(400, Some("invalidValue"));
    let r = t.scim("GET", &filter_path("userName eq"), None).await;
    r.assert_error(400, Some("invalidFilter"));
    let r = t
        .scim("GET", &filter_path("((((userName eq \"x\""), None)
        .await;
    r.assert_error(400, Some("invalidFilter"));
    let r = t.scim("PATCH", &format!("/Users/{uid}"), Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "id", "value": "new"}]}))).await;
    r.assert_error(400, Some("mutability"));
    let r = t.scim("PATCH", &format!("/Users/{uid}"), Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "emails[type eq", "value": "x"}]}))).await;
    r.assert_error(400, Some("invalidPath"));
    // One bad operation refuses the whole PATCH: the first one is not applied either.
    let r = t
        .scim(
            "PATCH",
            &format!("/Users/{uid}"),
            Some(
                json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
                    {"op": "replace", "path": "title", "value": "changed"},
                    {"op": "remove"}
                ]}),
            ),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = t.scim("PATCH", &format!("/Users/{uid}"), Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "jump", "path": "title", "value": "x"}]}))).await;
    assert_eq!(r.status, 400, "{}", r.body);
    // Oversized body: 413 naming the advertised limit.
    let big = format!("{{\"userName\":\"{}\"}}", "x".repeat(1_100_000));
    let r = t.scim_with("POST", "/Users", Some(big), &[]).await;
    r.assert_error(413, None);
    assert!(r.body["detail"]
        .as_str()
        .expect("detail")
        .contains("1048576"));
    t.scim("GET", "/Users/no-such-id", None)
        .await
        .assert_error(404, None);

    assert_eq!(
        t.scim("GET", &format!("/Users/{uid}"), None).await.body,
        before
    );
    assert_eq!(t.user_count().await, 1);
}

#[tokio::test]
async fn x1_x2_missing_wrong_and_foreign_tokens() {
    let t = TestDirectory::new("okta").await;
    let other = TestDirectory::new("entra").await;
    let created = t
        .create_user(okta_user("lee@example.com", "lee@example.com"))
        .await;
    let uid = id(&created);
    let path = format!("{}/Users/{uid}", t.base());

    let r = t
        .call(Call {
            method: "GET",
            path: path.clone(),
            body: None,
            token: None,
            headers: vec![],
        })
        .await;
    r.assert_error(401, None);
    assert!(r
        .header("www-authenticate")
        .expect("WWW-Authenticate")
        .starts_with("Bearer"));
    let r = t
        .call(Call {
            method: "GET",
            path: path.clone(),
            body: None,
            token: Some("scim_wrong".into()),
            headers: vec![],
        })
        .await;
    r.assert_error(401, None);
    // Another directory's valid token: the same 404 as a directory that does not exist.
    let foreign = t
        .call(Call {
            method: "GET",
            path: path.clone(),
            body: None,
            token: Some(other.token.clone()),
            headers: vec![],
        })
        .await;
    foreign.assert_error(404, None);
    let unknown = other
        .call(Call {
            method: "GET",
            path: format!("/scim/v2/directories/nope/Users/{uid}"),
            body: None,
            token: Some(other.token.clone()),
            headers: vec![],
        })
        .await;
    unknown.assert_error(404, None);
    assert_eq!(foreign.body, unknown.body);
    // A foreign token cannot write either.
    let r = t
        .call(Call {
            method: "DELETE",
            path,
            body: None,
            token: Some(other.token.clone()),
            headers: vec![],
        })
        .await;
    r.assert_error(404, None);
    assert_eq!(
        t.scim("GET", &format!("/Users/{uid}"), None).await.status,
        200
    );
    assert_eq!(other.user_count().await, 0);
}

#[tokio::test]
async fn l1_create_finds_the_account_of_the_email_and_links_it() {
    let t = TestDirectory::new("okta").await;
    let created = t
        .create_user(okta_user("mo@example.com", "mo@example.com"))
        .await;
    let uid = id(&created);
    // Delete hands the account back; provisioning the same email links the same account again.
    t.scim("DELETE", &format!("/Users/{uid}"), None).await;
    let r = t
        .scim(
            "POST",
            "/Users?dryRun=true",
            Some(okta_user("mo@example.com", "mo@example.com")),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["decision"]["link"], "took-over", "{}", r.body);
    assert_eq!(t.user_count().await, 0, "a dry run commits nothing");
}

#[tokio::test]
async fn concurrent_creates_of_one_user_name_end_with_one_user() {
    let t = TestDirectory::new("okta").await;
    let body = okta_user("race@example.com", "race@example.com");
    let results =
        futures::future::join_all((0..4).map(|_| t.scim("POST", "/Users", Some(body.clone()))))
            .await;
    let created = results.iter().filter(|r| r.status == 201).count();
    let refused = results.iter().filter(|r| r.status == 409).count();
    assert_eq!(
        (created, refused),
        (1, 3),
        "{:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(t.user_count().await, 1);
}

/// The closing note's table: DynamoDB requests per user operation, measured here.
#[tokio::test]
async fn cost_of_each_user_operation() {
    let t = TestDirectory::new("okta").await;
    for i in 0..3 {
        t.create_user(okta_user(
            &format!("c{i}@example.com"),
            &format!("c{i}@example.com"),
        ))
        .await;
    }
    let (created, post) = t
        .measure(t.scim(
            "POST",
            "/Users",
            Some(okta_user("cost@example.com", "cost@example.com")),
        ))
        .await;
    t.org_admin(
        "POST",
        "/invites",
        Some(json!({"email": "invited.cost@example.com"})),
    )
    .await;
    let (_, post_linking) = t
        .measure(t.scim(
            "POST",
            "/Users",
            Some(okta_user(
                "invited.cost@example.com",
                "invited.cost@example.com",
            )),
        ))
        .await;
    let uid = id(&created.body);
    let (_, get) = t
        .measure(t.scim("GET", &format!("/Users/{uid}"), None))
        .await;
    let (_, get_without_groups) = t
        .measure(t.scim(
            "GET",
            format!("/Users/{uid}?excludedAttributes=groups"),
            None,
        ))
        .await;
    let (_, list) = t
        .measure(t.scim(
            "GET",
            &filter_path("userName eq \"cost@example.com\""),
            None,
        ))
        .await;
    let mut put_body = created.body.clone();
    put_body["title"] = json!("Boss");
    let (_, put) = t
        .measure(t.scim("PUT", &format!("/Users/{uid}"), Some(put_body)))
        .await;
    let (_, patch) = t
        .measure({
            t.scim(
                "PATCH",
                &format!("/Users/{uid}"),
                Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "active", "value": false}]})),
            )
        })
        .await;
    let (_, delete) = t
        .measure(t.scim("DELETE", &format!("/Users/{uid}"), None))
        .await;
    for (name, c) in [
        ("GET", get),
        ("GET excludedAttributes=groups", get_without_groups),
        ("list by userName", list),
        ("POST", post),
        ("POST linking an existing account", post_linking),
        ("PUT", put),
        ("PATCH", patch),
        ("DELETE", delete),
    ] {
        println!(
            "COST {name}: {} requests, {} round trips, {:.1} RCU, {:.1} WCU",
            c.requests, c.round_trips, c.read_units, c.write_units
        );
    }
    // The token was verified by the first request of this instance (`http/tokens.rs`):
    // a warm instance reads only what the request needs. A cold one adds the token's read.
    assert_eq!(get.requests, 2, "user and its groups: {get:?}");
    assert_eq!(get.round_trips, 1, "side by side: {get:?}");
    assert_eq!(
        get_without_groups.requests, 1,
        "user: {get_without_groups:?}"
    );
    assert_eq!(list.requests, 2, "{list:?}");
    assert!(list.round_trips <= 2, "{list:?}");
    assert_eq!(
        post.requests, 2,
        "one batch read, one transaction: {post:?}"
    );
    assert_eq!(post.round_trips, 2, "{post:?}");
    assert_eq!(
        post_linking.requests, 3,
        "and the existing account: {post_linking:?}"
    );
    assert!(put.requests <= 4, "{put:?}");
    // A deactivation suspends the account: its admin memberships and its user's groups
    // are read (one round trip, two queries) to say which access it loses (E5), and the
    // directory's safeguard beside them (E4: it deprovisions someone).
    assert!(patch.requests <= 7, "{patch:?}");
    // A delete unlinks the account: the same reads say which access it loses (E5, E4).
    assert!(delete.requests <= 8, "{delete:?}");
}

#[tokio::test]
async fn l3_one_holder_across_the_directories_of_an_org() {
    let okta = TestDirectory::new("okta").await;
    let entra = okta.sibling("entra").await;
    assert_eq!(okta.org_id, entra.org_id);
    let held = okta
        .create_user(okta_user("nia@example.com", "nia@example.com"))
        .await;
    let r = entra
        .scim(
            "POST",
            "/Users",
            Some(okta_user("nia@example.com", "Nia@Example.com")),
        )
        .await;
    r.assert_error(409, Some("uniqueness"));
    let detail = r.body["detail"].as_str().expect("detail");
    assert!(
        detail.contains("user with email nia@example.com already exists"),
        "{detail}"
    );
    assert!(
        detail.contains(&okta.directory_id) && detail.contains(held["id"].as_str().expect("id")),
        "{detail}"
    );
    assert_eq!(
        entra.user_count().await,
        0,
        "the refused create left nothing behind"
    );
}

#[tokio::test]
async fn s7_unsupported_methods_answer_405_with_allow() {
    let t = TestDirectory::new("okta").await;
    let r = t
        .scim(
            "PUT",
            "/Users",
            Some(okta_user("x@example.com", "x@example.com")),
        )
        .await;
    r.assert_error(405, None);
    assert_eq!(r.header("allow"), Some("GET, POST"));
    let r = t
        .scim(
            "POST",
            "/Users/some-id",
            Some(okta_user("x@example.com", "x@example.com")),
        )
        .await;
    assert_eq!(r.header("allow"), Some("GET, PUT, PATCH, DELETE"));
    let r = t.scim("DELETE", "/ServiceProviderConfig", None).await;
    r.assert_error(405, None);
    assert_eq!(r.header("allow"), Some("GET"));
    assert_eq!(t.user_count().await, 0);
}

/// S3: cursor paging (RFC 9865): unfiltered, with a filter answered over the listing, and
/// with an indexed filter; cursors of another listing are refused.
#[tokio::test]
async fn s3_cursor_paging_walks_every_user_once() {
    let t = TestDirectory::new("okta").await;
    let names = ["ann", "bob", "cid", "dee", "eve"];
    for n in names {
        let e = format!("{n}@example.com");
        let mut u = okta_user(&e, &e);
        u["title"] = json!(if n == "bob" || n == "dee" {
            "Eng"
        } else {
            "Ops"
        });
        t.create_user(u).await;
    }
    let walk = |query: &'static str| {
        let t = &t;
        async move {
            let mut seen = Vec::new();
            let mut cursor = String::new();
            for _ in 0..10 {
                let r = t
                    .scim(
                        "GET",
                        format!("/Users?{query}&count=2&cursor={cursor}"),
                        None,
                    )
                    .await;
                assert_eq!(r.status, 200, "{}", r.body);
                assert!(r.body.get("startIndex").is_none(), "{}", r.body);
                for u in r.body["Resources"].as_array().expect("resources") {
                    seen.push(u["userName"].as_str().expect("userName").to_string());
                }
                match r.body["nextCursor"].as_str() {
                    Some(c) => cursor = c.to_string(),
                    None => return seen,
                }
            }
            panic!("no last page: {seen:?}");
        }
    };
    let all: Vec<String> = names.iter().map(|n| format!("{n}@example.com")).collect();
    assert_eq!(walk("x=1").await, all);
    assert_eq!(
        walk("filter=title%20eq%20%22Eng%22").await,
        ["bob@example.com", "dee@example.com"]
    );
    assert_eq!(
        walk("filter=userName%20eq%20%22cid%40example.com%22").await,
        ["cid@example.com"]
    );
    let r = t.scim("GET", "/ServiceProviderConfig", None).await;
    assert_eq!(r.body["pagination"]["cursor"], true);

    let first = t.scim("GET", "/Users?count=1&cursor=", None).await;
    let cursor = first.body["nextCursor"]
        .as_str()
        .expect("cursor")
        .to_string();
    let other = t.sibling("entra").await;
    other
        .scim("GET", format!("/Users?count=1&cursor={cursor}"), None)
        .await
        .assert_error(400, Some("invalidCursor"));
    t.scim("GET", "/Users?cursor=zzz", None)
        .await
        .assert_error(400, Some("invalidCursor"));
    t.scim("GET", "/Users?cursor=&startIndex=1", None)
        .await
        .assert_error(400, Some("invalidValue"));
}
