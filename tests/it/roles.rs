//! G8: roles an IdP can assign. The org's product roles are read-only SCIM resources
//! (`/Roles`, Okta's Role resource type); a user's `roles` assign them directly; they
//! count toward access with group roles, and every view of access names their source.

use serde_json::{json, Value};

use crate::changes::changes;
use crate::common::{okta_user, patch_op, Call, TestDirectory};

const ROLE_SCHEMA: &str = "urn:okta:scim:schemas:core:1.0:Role";

/// An Okta user with roles assigned, as Okta Identity Governance sends it.
fn user_with_roles(email: &str, roles: &[&str]) -> Value {
    let mut u = okta_user(email, email);
    u["roles"] = roles
        .iter()
        .map(|r| json!({"value": r, "display": r}))
        .collect();
    u
}

fn strings(v: &Value) -> Vec<String> {
    serde_json::from_value(v.clone()).expect("strings")
}

/// G8, S1: `/ResourceTypes` and `/Schemas` describe the Role resource exactly as served.
#[tokio::test]
async fn g8_resource_types_and_schemas_describe_the_role_resource() {
    let t = TestDirectory::new("okta").await;
    let r = t.scim("GET", "/ResourceTypes/Role", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Role",
            "name": "Role",
            "endpoint": "/Roles",
            "description": "The organization's product roles (read-only); a user's roles[].value names one by id",
            "schema": ROLE_SCHEMA,
            "schemaExtensions": [],
            "meta": {"resourceType": "ResourceType", "location": format!("{}/ResourceTypes/Role", t.base())}
        })
    );
    let r = t.scim("GET", format!("/Schemas/{ROLE_SCHEMA}"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let attrs: Vec<(&str, &str, bool)> = r.body["attributes"]
        .as_array()
        .expect("attributes")
        .iter()
        .map(|a| {
            (
                a["name"].as_str().expect("name"),
                a["mutability"].as_str().expect("mutability"),
                a["required"].as_bool().expect("required"),
            )
        })
        .collect();
    assert_eq!(
        attrs,
        [
            ("id", "readOnly", false),
            ("displayName", "readOnly", true),
            ("description", "readOnly", false)
        ]
    );
}

/// G8, S3, X2: `/Roles` lists the org's product roles, pages and filters them, gets one by
/// id, refuses writes with 405, and never shows another org's roles.
#[tokio::test]
async fn g8_roles_are_listed_per_org_paged_filtered_and_read_only() {
    let t = TestDirectory::new("okta").await;
    t.jira_and_confluence().await;
    let r = t.scim("GET", "/Roles", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["totalResults"], 3);
    let ids: Vec<&str> = r.body["Resources"]
        .as_array()
        .expect("Resources")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids, ["jira/user", "jira/admin", "confluence/user"]);
    assert_eq!(r.body["Resources"][1]["schemas"], json!([ROLE_SCHEMA]));
    assert_eq!(r.body["Resources"][1]["displayName"], "Jira admin");

    let r = t.scim("GET", "/Roles?startIndex=2&count=1", None).await;
    assert_eq!(r.body["totalResults"], 3);
    assert_eq!(r.body["Resources"][0]["id"], "jira/admin");
    let r = t.scim("GET", "/Roles?count=2&cursor=", None).await;
    let next = r.body["nextCursor"]
        .as_str()
        .expect("nextCursor")
        .to_string();
    let r = t
        .scim("GET", format!("/Roles?count=2&cursor={next}"), None)
        .await;
    assert_eq!(
        r.body["Resources"][0]["id"], "confluence/user",
        "{}",
        r.body
    );
    let r = t
        .scim(
            "GET",
            "/Roles?filter=displayName%20sw%20%22jira%22&attributes=displayName",
            None,
        )
        .await;
    assert_eq!(r.body["totalResults"], 2, "{}", r.body);
    assert!(r.body["Resources"][0].get("description").is_none());

    let r = t.scim("GET", "/Roles/jira%2Fadmin", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["id"], "jira/admin");
    t.scim("GET", "/Roles/jira%2Fnope", None)
        .await
        .assert_error(404, None);
    let r = t
        .scim("POST", "/Roles", Some(json!({"displayName": "x"})))
        .await;
    assert_eq!(r.status, 405, "{}", r.body);
    assert_eq!(r.header("allow"), Some("GET"));

    // X2: another org's directory sees its own (no) roles.
    let other = TestDirectory::new("okta").await;
    let r = other.scim("GET", "/Roles", None).await;
    assert_eq!(r.body["totalResults"], 0, "{}", r.body);
    // A token of another org's directory reads none of them: a 404, as for an unknown one.
    let foreign = t
        .call(Call {
            method: "GET",
            path: format!("{}/Roles", t.base()),
            body: None,
            token: Some(other.token.clone()),
            headers: Vec::new(),
        })
        .await;
    foreign.assert_error(404, None);
}

/// G8, G7, E5, E1: an IdP creates a user with a role; the account gains that product access,
/// the admin access view names the assignment as its source, and the event and log say so.
/// Removing it (PATCH remove, PUT without it) revokes it, with the event and the log.
#[tokio::test]
async fn g8_assigning_and_removing_a_role_grants_and_revokes_access_with_its_cause() {
    let t = TestDirectory::new("okta").await;
    t.jira_and_confluence().await;
    let u = t
        .create_user(user_with_roles("ada@example.com", &["jira/admin"]))
        .await;
    let uid = u["id"].as_str().expect("id").to_string();
    assert_eq!(u["roles"][0]["value"], "jira/admin");
    let account = t.account_id("ada@example.com").await;
    let a = t.access(&account).await;
    assert_eq!(strings(&a["roles"]), ["jira/admin"]);
    assert_eq!(
        a["sources"][0]["sources"][0],
        json!({"kind": "assigned", "directoryId": t.directory_id, "userId": uid})
    );
    assert_eq!(
        a["sources"][0]["from"][0],
        format!("assigned by directory {} (SCIM user {uid})", t.directory_id)
    );
    let all = changes(&t).await;
    let granted: Vec<_> = all.iter().filter(|c| c.event == "access:granted").collect();
    assert_eq!(granted.len(), 1, "{granted:?}");
    assert_eq!(granted[0].data["access"][0]["role"], "jira/admin");
    assert_eq!(
        granted[0].data["access"][0]["assignedBy"],
        json!({"directoryId": t.directory_id, "userId": uid})
    );
    assert_eq!(
        granted[0].data["cause"]["reason"],
        "the IdP assigned it directly"
    );
    assert!(
        t.log_messages(&format!("/events?scimId={uid}"))
            .await
            .iter()
            .any(|m| m.contains("jira/admin are now assigned directly")),
        "{:?}",
        t.log_messages(&format!("/events?scimId={uid}")).await
    );

    // A second role by PATCH add, then the first removed by PATCH remove.
    let r = t
        .scim(
            "PATCH",
            format!("/Users/{uid}"),
            Some(patch_op(json!([
                {"op": "add", "path": "roles", "value": [{"value": "confluence/user"}]}
            ]))),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        strings(&t.access(&account).await["roles"]),
        ["confluence/user", "jira/admin"]
    );
    let r = t
        .scim(
            "PATCH",
            format!("/Users/{uid}"),
            Some(patch_op(json!([
                {"op": "remove", "path": "roles[value eq \"jira/admin\"]"}
            ]))),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        strings(&t.access(&account).await["roles"]),
        ["confluence/user"]
    );
    let all = changes(&t).await;
    let revoked: Vec<_> = all.iter().filter(|c| c.event == "access:revoked").collect();
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    assert_eq!(revoked[0].data["access"][0]["role"], "jira/admin");
    assert_eq!(
        revoked[0].data["cause"]["reason"],
        "the IdP removed its direct assignment"
    );
    assert_eq!(
        revoked[0].data["cause"]["assignment"],
        json!({"directoryId": t.directory_id, "userId": uid})
    );
    assert!(t
        .log_messages(&format!("/events?scimId={uid}"))
        .await
        .iter()
        .any(|m| m.contains("jira/admin are no longer assigned directly")));

    // L4: a no-op resync produces nothing.
    let before = changes(&t).await.len();
    let current = t.scim("GET", format!("/Users/{uid}"), None).await.body;
    let r = t
        .scim("PUT", format!("/Users/{uid}"), Some(current.clone()))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(changes(&t).await.len(), before);

    // PUT without roles removes the last assignment.
    let mut without = current;
    if let Some(o) = without.as_object_mut() {
        o.remove("roles");
    }
    let r = t.scim("PUT", format!("/Users/{uid}"), Some(without)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(strings(&t.access(&account).await["roles"]).is_empty());
    let all = changes(&t).await;
    let revoked: Vec<_> = all.iter().filter(|c| c.event == "access:revoked").collect();
    assert_eq!(revoked.len(), 2, "{revoked:?}");
    assert_eq!(revoked[1].data["access"][0]["role"], "confluence/user");
}

/// G8, S7: an unknown role is a 400 `invalidValue` naming it, on POST, PUT and PATCH, and
/// nothing is applied; past the limits (X4), a 400 naming the limit.
#[tokio::test]
async fn g8_an_unknown_role_is_refused_naming_it_and_changes_nothing() {
    let t = TestDirectory::new("okta").await;
    t.jira_and_confluence().await;
    let r = t
        .scim(
            "POST",
            "/Users",
            Some(user_with_roles(
                "bob@example.com",
                &["jira/admin", "jira/root"],
            )),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
    let detail = r.body["detail"].as_str().expect("detail");
    assert!(
        detail.contains("'jira/root'") && !detail.contains("'jira/admin'"),
        "{detail}"
    );
    assert_eq!(t.user_count().await, 0);
    assert_eq!(t.account_count().await, 0);

    let uid = t
        .create_user(user_with_roles("bob@example.com", &["jira/user"]))
        .await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let account = t.account_id("bob@example.com").await;
    let before = changes(&t).await.len();
    let r = t
        .scim(
            "PATCH",
            format!("/Users/{uid}"),
            Some(patch_op(json!([
                {"op": "add", "path": "roles", "value": [{"value": "billing/admin"}]}
            ]))),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
    assert!(r.body["detail"]
        .as_str()
        .expect("detail")
        .contains("'billing/admin'"));
    let r = t
        .scim(
            "PUT",
            format!("/Users/{uid}"),
            Some(user_with_roles("bob@example.com", &["nope"])),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
    assert_eq!(changes(&t).await.len(), before, "a refusal changes nothing");
    assert_eq!(strings(&t.access(&account).await["roles"]), ["jira/user"]);
    assert_eq!(
        t.scim("GET", format!("/Users/{uid}"), None).await.body["roles"],
        json!([{"value": "jira/user", "display": "jira/user"}])
    );

    // X4: at most 100 roles, each at most 129 bytes.
    let many: Vec<String> = (0..101).map(|i| format!("jira/r{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let r = t
        .scim(
            "POST",
            "/Users",
            Some(user_with_roles("c@example.com", &many)),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
    assert!(r.body["detail"]
        .as_str()
        .expect("detail")
        .contains("at most 100"));
    let long = format!("jira/{}", "x".repeat(200));
    let r = t
        .scim(
            "POST",
            "/Users",
            Some(user_with_roles("c@example.com", &[long.as_str()])),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
    assert!(r.body["detail"]
        .as_str()
        .expect("detail")
        .contains("roles[0].value"));
}

/// G8 in the conflict review (G2): when a held group would take away a role the account
/// also has by direct assignment, the review shows it kept, not lost.
#[tokio::test]
async fn g8_conflict_review_shows_a_directly_assigned_role_as_kept() {
    let t = TestDirectory::new("okta").await;
    t.jira_and_confluence().await;
    let r = t
        .org_admin(
            "POST",
            "/org-groups",
            Some(json!({"name": "jira-admins", "roles": ["jira/admin", "jira/user"]})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let og = r.body["id"].as_str().expect("id").to_string();
    t.create_user(user_with_roles("kim@example.com", &["jira/admin"]))
        .await;
    let account = t.account_id("kim@example.com").await;
    let r = t
        .org_admin(
            "POST",
            &format!("/org-groups/{og}/members"),
            Some(json!({"accountIds": [account]})),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let a = t.access(&account).await;
    assert_eq!(strings(&a["roles"]), ["jira/admin", "jira/user"]);
    // jira/admin has two sources: the group and the assignment.
    assert_eq!(a["sources"][0]["role"], "jira/admin");
    assert_eq!(a["sources"][0]["sources"].as_array().map(Vec::len), Some(2));

    // The IdP pushes a same-named group without kim: held, and the review says what kim loses.
    let other = t
        .create_user(okta_user("lee@example.com", "lee@example.com"))
        .await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let gid = t.create_group("JIRA-ADMINS", &[other]).await;
    let r = t
        .org_admin("GET", &format!("/conflicts/{}/{gid}", t.directory_id), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let removed = &r.body["accountsRemoved"][0];
    assert_eq!(removed["accountId"], account.as_str());
    assert_eq!(removed["loses"], json!(["jira/user"]), "{}", r.body);
    assert_eq!(removed["keeps"][0]["role"], "jira/admin");
    assert_eq!(removed["keeps"][0]["sources"][0]["kind"], "assigned");

    // The sync does what the review said.
    let r = t
        .org_admin(
            "POST",
            &format!("/conflicts/{}/{gid}/sync", t.directory_id),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(strings(&t.access(&account).await["roles"]), ["jira/admin"]);
}
