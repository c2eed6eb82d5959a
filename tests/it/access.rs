//! Group name conflicts, product access and the admin's review (G2-G4, G7), one test per
//! group-sync scenario of ../shared/seeds/002, against DynamoDB Local.

use serde_json::{json, Value};

use crate::common::{okta_user, patch_op, TestDirectory};

/// A site with Jira and Confluence, and an admin group `jira-users` granting `jira/user`.
async fn products(t: &TestDirectory) -> String {
    t.jira_and_confluence().await;
    admin_group(t, "jira-users", &["jira/user"]).await
}

async fn admin_group(t: &TestDirectory, name: &str, roles: &[&str]) -> String {
    let r = t
        .org_admin(
            "POST",
            "/org-groups",
            Some(json!({"name": name, "roles": roles})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().expect("id").to_string()
}

async fn invite(t: &TestDirectory, email: &str) -> String {
    let r = t
        .org_admin("POST", "/invites", Some(json!({"email": email})))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().expect("id").to_string()
}

fn ids(v: &Value, key: &str) -> Vec<String> {
    let mut out: Vec<String> = v[key]
        .as_array()
        .expect(key)
        .iter()
        .map(|a| a["accountId"].as_str().expect("id").to_string())
        .collect();
    out.sort();
    out
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

struct Scenario {
    t: TestDirectory,
    org_group: String,
    idp_group: String,
    /// a: admin member only; b: both; c: IdP only (invited); d: IdP only (new account)
    a: String,
    b: String,
    c: String,
    d: String,
}

/// The admins' `jira-users` has a and b; the IdP pushes `JIRA-Users` with b, c and d.
async fn scenario() -> Scenario {
    let t = TestDirectory::new("okta").await;
    let og = products(&t).await;
    let a = invite(&t, "a@example.com").await;
    let b = invite(&t, "b@example.com").await;
    let c = invite(&t, "c@example.com").await;
    let r = t
        .org_admin(
            "POST",
            &format!("/org-groups/{og}/members"),
            Some(json!({"accountIds": [a, b]})),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let mut users = Vec::new();
    for e in ["b@example.com", "c@example.com", "d@example.com"] {
        users.push(
            t.create_user(okta_user(e, e)).await["id"]
                .as_str()
                .expect("id")
                .to_string(),
        );
    }
    let d = t.account_of("d@example.com").await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let idp_group = t.create_group("JIRA-Users", &users).await;
    Scenario {
        t,
        org_group: og,
        idp_group,
        a,
        b,
        c,
        d,
    }
}

#[tokio::test]
async fn g2_g7_seed_same_named_group_is_held_and_reviewed_with_the_right_breakdown() {
    let s = scenario().await;
    let t = &s.t;
    // The IdP's push succeeded, but nothing was applied: the org group keeps its members.
    assert_eq!(t.roles(&s.a).await, vec!["jira/user"]);
    assert_eq!(t.roles(&s.c).await, Vec::<String>::new());
    let r = t.org_admin("GET", "/conflicts", None).await;
    assert_eq!(r.body["total"], 1, "{}", r.body);
    let c = &r.body["conflicts"][0];
    assert_eq!(c["name"], "JIRA-Users");
    assert_eq!(c["roles"], json!(["jira/user"]));
    assert_eq!(c["sites"][0]["name"], "acme.example.net");
    assert_eq!(
        (
            c["added"].as_u64(),
            c["removed"].as_u64(),
            c["unchanged"].as_u64()
        ),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(c["canSync"], true);
    let r = t
        .org_admin(
            "GET",
            &format!("/conflicts/{}/{}", t.directory_id, s.idp_group),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        ids(&r.body, "accountsAdded"),
        sorted(vec![s.c.clone(), s.d.clone()])
    );
    assert_eq!(ids(&r.body, "accountsRemoved"), vec![s.a.clone()]);
    // Users who would lose product access are listed before the sync.
    assert_eq!(r.body["accountsRemoved"][0]["loses"], json!(["jira/user"]));
    assert_eq!(r.body["accountsAdded"][0]["gains"], json!(["jira/user"]));
    // The hold is in the log.
    let log = t.org_admin("GET", "/events?outcome=conflict", None).await;
    assert!(
        log.body["events"][0]["message"]
            .as_str()
            .expect("message")
            .contains("Held"),
        "{}",
        log.body
    );
}

#[tokio::test]
async fn g3_g7_seed_syncing_one_group_changes_exactly_the_breakdown_accounts() {
    let s = scenario().await;
    let t = &s.t;
    let path = format!("/conflicts/{}/{}/sync", t.directory_id, s.idp_group);
    // A dry run answers the exact changes, access included, and commits nothing.
    let (dry, cost) = t
        .measure(t.org_admin("POST", &format!("{path}?dryRun=true"), None))
        .await;
    assert_eq!(dry.status, 200, "{}", dry.body);
    assert_eq!(ids(&dry.body, "accountsRemoved"), vec![s.a.clone()]);
    assert_eq!(cost.write_units, 0.0);
    assert_eq!(t.roles(&s.a).await, vec!["jira/user"]);

    let r = t.org_admin("POST", &path, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        t.roles(&s.a).await,
        Vec::<String>::new(),
        "a loses access, as the breakdown said"
    );
    assert_eq!(t.roles(&s.b).await, vec!["jira/user"], "b keeps it");
    assert_eq!(t.roles(&s.c).await, vec!["jira/user"], "c gains it");
    assert_eq!(t.roles(&s.d).await, vec!["jira/user"], "d gains it");
    let groups = t.org_admin("GET", "/org-groups", None).await;
    let og = groups.body["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["id"] == s.org_group.as_str())
        .cloned()
        .expect("og");
    assert_eq!(
        og["managedBy"],
        json!({"directory": t.directory_id}),
        "handed to the directory"
    );
    assert_eq!(
        t.org_admin("GET", "/conflicts", None).await.body["total"],
        0
    );
    // From now on the IdP's membership applies.
    let r = t
        .scim(
            "PATCH",
            format!("/Groups/{}", s.idp_group),
            Some(patch_op(json!([{"op": "remove", "path": "members"}]))),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(t.roles(&s.c).await, Vec::<String>::new());
}

#[tokio::test]
/// G3: "Sync all" has no batch limit (the seed's admin console synced 20 at a time): one
/// call syncs every held group its time budget allows (20 s, well inside API Gateway's 30),
/// which on this machine is all 250 unless other tests load it; a call cut by the budget
/// answers 202 with its progress, and calling again resumes with what is left.
async fn g3_seed_sync_all_over_250_held_groups_has_no_batch_limit_and_resumes() {
    let t = TestDirectory::new("okta").await;
    let user = t
        .create_user(okta_user("all@example.com", "all@example.com"))
        .await["id"]
        .as_str()
        .expect("id")
        .to_string();
    for i in 0..250 {
        admin_group(&t, &format!("team-{i:03}"), &[]).await;
        t.create_group(&format!("Team-{i:03}"), std::slice::from_ref(&user))
            .await;
    }
    assert_eq!(
        t.org_admin("GET", "/conflicts", None).await.body["total"],
        250
    );
    let mut synced = 0;
    let mut remaining = 250;
    for call in 1..=5 {
        let r = t.org_admin("POST", "/conflicts/sync-all", None).await;
        let n = r.body["synced"].as_u64().expect("synced");
        if call == 1 {
            assert!(n > 20, "no batch limit: one call synced {n}: {}", r.body);
        }
        synced += n;
        assert_eq!(r.body["remaining"], remaining - n, "{}", r.body);
        remaining -= n;
        if r.status == 200 {
            assert_eq!(r.body["done"], true);
            break;
        }
        assert_eq!(r.status, 202, "{}", r.body);
        assert_eq!(r.body["done"], false, "a cut call reports its progress");
    }
    assert_eq!((synced, remaining), (250, 0));
    assert_eq!(
        t.org_admin("GET", "/conflicts", None).await.body["total"],
        0
    );
    let account = t.account_of("all@example.com").await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let access = t
        .org_admin("GET", &format!("/accounts/{account}/access"), None)
        .await;
    assert_eq!(
        access.body["groups"].as_array().map(Vec::len),
        Some(250),
        "every group synced"
    );
}

#[tokio::test]
async fn g4_seed_default_access_group_is_refused_until_its_default_status_is_removed() {
    let s = scenario().await;
    let t = &s.t;
    let r = t
        .org_admin(
            "POST",
            "/products/jira/default-groups",
            Some(json!({"orgGroupId": s.org_group})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let c = &t.org_admin("GET", "/conflicts", None).await.body["conflicts"][0];
    assert_eq!(c["canSync"], false, "the review says so");
    assert_eq!(c["defaultAccessFor"], json!(["jira"]));
    let path = format!("/conflicts/{}/{}/sync", t.directory_id, s.idp_group);
    let r = t.org_admin("POST", &path, None).await;
    assert_eq!(r.status, 409, "{}", r.body);
    let detail = r.body["detail"].as_str().expect("detail");
    assert!(
        detail.contains("product jira (Jira)"),
        "names the product: {detail}"
    );
    assert!(
        detail.contains(&format!(
            "DELETE /admin/v1/orgs/{}/products/jira/default-groups/{}",
            t.org_id, s.org_group
        )),
        "and the call: {detail}"
    );
    let r = t.org_admin("POST", "/conflicts/sync-all", None).await;
    assert_eq!(
        r.body["refused"].as_array().map(Vec::len),
        Some(1),
        "{}",
        r.body
    );
    assert_eq!(t.roles(&s.a).await, vec!["jira/user"], "nothing changed");

    let r = t
        .org_admin(
            "DELETE",
            &format!("/products/jira/default-groups/{}", s.org_group),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = t.org_admin("POST", &path, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(t.roles(&s.c).await, vec!["jira/user"]);
}

#[tokio::test]
async fn g3_rejecting_keeps_the_group_held_and_the_org_group_as_it_was() {
    let s = scenario().await;
    let t = &s.t;
    let r = t
        .org_admin(
            "POST",
            &format!("/conflicts/{}/{}/reject", t.directory_id, s.idp_group),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let c = &t.org_admin("GET", "/conflicts", None).await.body["conflicts"][0];
    assert_eq!(c["rejected"], true);
    let r = t.org_admin("POST", "/conflicts/sync-all", None).await;
    assert_eq!(
        r.body["synced"], 0,
        "rejected groups are skipped: {}",
        r.body
    );
    assert_eq!(t.roles(&s.a).await, vec!["jira/user"]);
    assert_eq!(t.roles(&s.c).await, Vec::<String>::new());
}

#[tokio::test]
async fn g7_default_groups_for_new_accounts_and_no_access_while_suspended() {
    let t = TestDirectory::new("okta").await;
    let og = products(&t).await;
    t.org_admin(
        "POST",
        "/products/jira/default-groups",
        Some(json!({"orgGroupId": og})),
    )
    .await;
    let user = t
        .create_user(okta_user("new@example.com", "new@example.com"))
        .await;
    let account = t.account_of("new@example.com").await["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(
        t.roles(&account).await,
        vec!["jira/user"],
        "a new account joins the default-access group"
    );
    let uid = user["id"].as_str().expect("id");
    t.scim(
        "PATCH",
        format!("/Users/{uid}"),
        Some(patch_op(
            json!([{"op": "replace", "path": "active", "value": false}]),
        )),
    )
    .await;
    assert_eq!(
        t.roles(&account).await,
        Vec::<String>::new(),
        "suspended: no product access"
    );
    let conf = admin_group(&t, "writers", &["confluence/user"]).await;
    let r = t
        .org_admin(
            "PUT",
            &format!("/org-groups/{conf}/roles"),
            Some(json!({"roles": ["nope/user"]})),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
}

/// G7: a default-access group a directory took over gets its members from the IdP only;
/// when the IdP deletes it, the group goes back to admin empty, and the default joins
/// recorded meanwhile do not start granting access.
#[tokio::test]
async fn g7_default_joins_of_a_directory_group_never_grant_after_it_returns_to_admin() {
    let t = TestDirectory::new("okta").await;
    let og = products(&t).await;
    let idp_group = t.create_group("jira-users", &[]).await;
    let sync = format!("/conflicts/{}/{idp_group}/sync", t.directory_id);
    assert_eq!(t.org_admin("POST", &sync, None).await.status, 200);
    t.org_admin(
        "POST",
        "/products/jira/default-groups",
        Some(json!({"orgGroupId": og})),
    )
    .await;
    // A new account joins the default group, but the directory decides its members.
    t.create_user(okta_user("late@example.com", "late@example.com"))
        .await;
    let account = t.account_of("late@example.com").await["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(t.roles(&account).await, Vec::<String>::new());
    assert_eq!(
        t.scim("DELETE", format!("/Groups/{idp_group}"), None)
            .await
            .status,
        204
    );
    let groups = t.org_admin("GET", "/org-groups", None).await;
    let g = groups.body["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["id"] == og.as_str())
        .cloned()
        .expect("og");
    assert_eq!(g["managedBy"], "admin", "handed back");
    assert_eq!(
        t.roles(&account).await,
        Vec::<String>::new(),
        "the default join recorded meanwhile does not count"
    );
}

/// S7 for the admin API: request bodies are typed. A field of the wrong type, a missing
/// required field, or a body that is not an object answers 400 naming the field, and writes
/// nothing; a body that is not JSON is invalidSyntax.
#[tokio::test]
async fn s7_admin_bodies_of_the_wrong_shape_are_400_naming_the_field() {
    let t = TestDirectory::new("okta").await;
    let cases: Vec<(&str, Value, &str)> = vec![
        ("/invites", json!({"email": 42}), "'email'"),
        ("/invites", json!({}), "email"),
        ("/invites", json!([]), "invalid type"),
        (
            "/jit-sign-ins",
            json!({"email": "a@example.com", "groups": "eng"}),
            "'groups'",
        ),
        (
            "/jit-sign-ins",
            json!({"email": "a@example.com", "groups": [1]}),
            "'groups[0]'",
        ),
        ("/sites", json!({"name": ["x"]}), "'name'"),
        (
            "/products",
            json!({"id": "p", "name": "P", "siteId": 7, "roles": ["u"]}),
            "'siteId'",
        ),
        (
            "/org-groups",
            json!({"name": "g", "roles": "jira/user"}),
            "'roles'",
        ),
        ("/org-groups", json!("g"), "invalid type"),
        ("/domains", json!({"domain": true}), "'domain'"),
        ("/directories", json!({"name": "d", "idp": 3}), "'idp'"),
    ];
    for (path, body, names) in cases {
        let before = t.org_admin("GET", "/events?limit=200", None).await.body["events"]
            .as_array()
            .map(Vec::len);
        let r = t.org_admin("POST", path, Some(body.clone())).await;
        r.assert_error(400, Some("invalidValue"));
        let detail = r.body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(names), "{path} {body}: {detail}");
        let after = t.org_admin("GET", "/events?limit=200", None).await.body["events"]
            .as_array()
            .map(Vec::len);
        assert_eq!(before, after, "{path} {body} wrote an event");
    }
    let r = crate::common::admin(
        &t.state,
        "POST",
        &format!("/admin/v1/orgs/{}/invites", t.org_id),
        None,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
}
