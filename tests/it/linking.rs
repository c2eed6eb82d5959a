//! Email linking across the cascade (L1-L10) and the admin API that explains it (E1, E2),
//! one test per field report in ../shared/seeds, against DynamoDB Local.

use serde_json::{json, Value};

use crate::common::{okta_user, patch_op, TestDirectory};

fn external_user(name: &str, email: &str) -> Value {
    let mut u = okta_user(name, email);
    u["name"] = json!({"givenName": "Ext", "familyName": "Ernal"});
    u
}

/// Seed 000: an invited user later provisioned by the IdP is linked and managed by the
/// directory, not duplicated, and its groups sync.
#[tokio::test]
async fn l1_l2_seed_invited_user_is_taken_over_not_duplicated_and_groups_sync() {
    let t = TestDirectory::new("okta").await;
    let r = t
        .org_admin(
            "POST",
            "/invites",
            Some(json!({"email": "Michael@Example.com", "displayName": "Mike (invited)"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let account_id = r.body["id"].as_str().expect("id").to_string();
    assert_eq!(r.body["origin"], "invited");
    assert_eq!(r.body["managedBy"], "admin");

    let user = t
        .create_user(okta_user("michael@example.com", "michael@example.com"))
        .await;
    let uid = user["id"].as_str().expect("id").to_string();
    assert_eq!(t.account_count().await, 1, "no second account");
    let a = t.account_of("michael@example.com").await;
    assert_eq!(a["id"], account_id.as_str());
    assert_eq!(a["origin"], "invited", "the origin is history; it stays");
    assert_eq!(
        a["managedBy"],
        json!({"directory": t.directory_id}),
        "the lock icon (L2)"
    );
    assert_eq!(
        a["profile"]["displayName"], "Test User",
        "a managed account takes the IdP's profile (L2)"
    );
    assert_eq!(a["linkedUser"]["id"], uid.as_str());

    let gid = t
        .create_group("Designers", std::slice::from_ref(&uid))
        .await;
    let a = t.account_of("michael@example.com").await;
    assert_eq!(a["syncedGroups"], json!([gid]), "its groups sync");

    // The log says what happened, in words.
    let r = t
        .org_admin(
            "GET",
            "/events?email=michael@example.com&outcome=took-over",
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let events = r.body["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{}", r.body);
    assert!(
        events[0]["message"]
            .as_str()
            .expect("message")
            .contains("invited"),
        "{}",
        events[0]
    );
}

/// Seed 001: a JIT user is invisible to GET /Users until provisioned, then linked and usable
/// as a group member; JIT group names never create or touch directory-managed groups.
#[tokio::test]
async fn l8_l10_seed_jit_user_is_invisible_until_provisioned_then_linked() {
    let t = TestDirectory::new("okta").await;
    let idp_group = t.create_group("Engineering", &[]).await;
    let r = t
        .org_admin("POST", "/jit-sign-ins", Some(json!({"email": "jeff@example.com", "givenName": "Jeff", "familyName": "A", "groups": ["Engineering", "No Such Group"]})))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["account"]["origin"], "jit");
    assert_eq!(r.body["joined"], json!([]));
    let ignored = r.body["ignored"].as_array().expect("ignored");
    assert_eq!(ignored.len(), 2, "{}", r.body);
    assert!(ignored[0]["reason"]
        .as_str()
        .expect("reason")
        .contains("managed by directory"));
    assert!(ignored[1]["reason"]
        .as_str()
        .expect("reason")
        .contains("never creates"));
    let r = t
        .scim(
            "GET",
            "/Users?filter=userName%20eq%20%22jeff%40example.com%22",
            None,
        )
        .await;
    assert_eq!(r.body["totalResults"], 0, "JIT is not SCIM (L8)");
    assert_eq!(
        t.scim("GET", "/Users?count=0", None).await.body["totalResults"],
        0
    );

    let user = t
        .create_user(okta_user("jeff@example.com", "jeff@example.com"))
        .await;
    let uid = user["id"].as_str().expect("id").to_string();
    let a = t.account_of("jeff@example.com").await;
    assert_eq!(a["origin"], "jit");
    assert_eq!(a["linkedUser"]["id"], uid.as_str());
    assert_eq!(t.account_count().await, 1);
    let r = t
        .scim(
            "PATCH",
            format!("/Groups/{idp_group}"),
            Some(patch_op(
                json!([{"op": "add", "path": "members", "value": [{"value": uid}]}]),
            )),
        )
        .await;
    assert_eq!(r.status, 204, "now usable as a member value: {}", r.body);
    assert_eq!(t.members(&idp_group).await, vec![uid]);
}

/// Seed 000 (troubleshooting): an IdP whose matching attribute latched onto another record
/// gets the named 409; the admin unlinks the stale holder; the IdP's retry succeeds.
#[tokio::test]
async fn l3_l9_seed_named_409_then_unlink_then_retry_succeeds() {
    let t = TestDirectory::new("entra").await;
    // A leftover record from an earlier provisioning attempt holds the account.
    let mut stale = okta_user("old-upn@example.com", "pat@example.com");
    stale["externalId"] = json!("stale-object-id");
    let stale = t.create_user(stale).await;
    let stale_id = stale["id"].as_str().expect("id").to_string();
    // The IdP now provisions the person under its new identifier.
    let mut fresh = okta_user("pat@example.com", "pat@example.com");
    fresh["externalId"] = json!("new-object-id");
    let r = t.scim("POST", "/Users", Some(fresh.clone())).await;
    r.assert_error(409, Some("uniqueness"));
    let detail = r.body["detail"].as_str().expect("detail");
    assert!(
        detail.starts_with("user with email pat@example.com already exists"),
        "{detail}"
    );
    assert!(
        detail.contains(&stale_id)
            && detail.contains("stale-object-id")
            && detail.contains(&t.directory_id),
        "{detail}"
    );
    // The refusal is logged, and diagnose explains it.
    let r = t.org_admin("GET", "/events?outcome=refused", None).await;
    assert_eq!(
        r.body["events"].as_array().map(Vec::len),
        Some(1),
        "{}",
        r.body
    );
    let d = t
        .org_admin("GET", "/diagnose?email=PAT@example.com", None)
        .await;
    assert_eq!(d.status, 200, "{}", d.body);
    assert!(
        d.body["verdict"]
            .as_str()
            .expect("verdict")
            .contains("linked to SCIM user"),
        "{}",
        d.body
    );
    assert!(
        d.body["nextStep"]
            .as_str()
            .expect("next")
            .contains("/unlink"),
        "{}",
        d.body
    );

    let r = t
        .org_admin(
            "POST",
            &format!("/directories/{}/users/{stale_id}/unlink", t.directory_id),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = t
        .org_admin(
            "GET",
            &format!("/directories/{}/unlinked-users", t.directory_id),
            None,
        )
        .await;
    assert_eq!(r.body["users"][0]["id"], stale_id.as_str(), "{}", r.body);
    let r = t.scim("POST", "/Users", Some(fresh)).await;
    assert_eq!(r.status, 201, "the IdP's retry succeeds: {}", r.body);
    let a = t.account_of("pat@example.com").await;
    assert_eq!(a["linkedUser"]["id"], r.body["id"]);
    assert_eq!(t.account_count().await, 1);
}

/// Seed 003 (ACCESS-1003): an Okta force sync of unchanged external users changes nothing
/// and unlinks no one.
#[tokio::test]
async fn l4_seed_force_sync_of_external_users_changes_nothing() {
    let t = TestDirectory::new("okta").await;
    // The person owns their account; the org merely invited them.
    t.org_admin(
        "POST",
        "/invites",
        Some(json!({"email": "guest@partner.org", "displayName": "Guest Own Name"})),
    )
    .await;
    let user = t
        .create_user(external_user("guest@partner.org", "guest@partner.org"))
        .await;
    let uid = user["id"].as_str().expect("id").to_string();
    let gid = t.create_group("Partners", std::slice::from_ref(&uid)).await;
    let before = t.account_of("guest@partner.org").await;
    assert_eq!(before["kind"], "external");
    assert_eq!(
        before["managedBy"], "admin",
        "the org does not manage an external account"
    );
    assert_eq!(
        before["profile"]["displayName"], "Guest Own Name",
        "its profile stays with its owner (L2)"
    );

    // Force sync: Okta resends every attribute, unchanged, by PUT and by PATCH.
    let (r, put_cost) = t
        .measure(t.scim("PUT", format!("/Users/{uid}"), Some(user.clone())))
        .await;
    assert_eq!(r.status, 200);
    let (r, patch_cost) = t
        .measure(t.scim("PATCH", format!("/Users/{uid}"), Some(patch_op(json!([{"op": "replace", "value": {"active": true, "userName": "guest@partner.org", "name": {"givenName": "Ext", "familyName": "Ernal"}, "emails": [{"primary": true, "value": "guest@partner.org", "type": "work"}]}}])))))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for cost in [put_cost, patch_cost] {
        assert_eq!(cost.write_units, 0.0, "no write at all: {cost:?}");
        assert_eq!(cost.requests, 1, "the user's read only: {cost:?}");
    }
    let after = t.account_of("guest@partner.org").await;
    assert_eq!(after, before, "nothing changed, nobody unlinked");
    assert_eq!(t.members(&gid).await, vec![uid]);
    let r = t.org_admin("GET", "/events?outcome=unlinked", None).await;
    assert_eq!(r.body["events"], json!([]));
}

/// Seed 003, the real change: an external user's email change moves the link to the account
/// of the new email and keeps every synced group membership (L5).
#[tokio::test]
async fn l5_seed_external_email_change_moves_the_link_and_keeps_memberships() {
    let t = TestDirectory::new("okta").await;
    let user = t
        .create_user(external_user("sam@partner.org", "sam@partner.org"))
        .await;
    let uid = user["id"].as_str().expect("id").to_string();
    let g1 = t
        .create_group("Partners A", std::slice::from_ref(&uid))
        .await;
    let g2 = t
        .create_group("Partners B", std::slice::from_ref(&uid))
        .await;
    let old = t.account_of("sam@partner.org").await;
    let r = t
        .scim("PATCH", format!("/Users/{uid}"), Some(patch_op(json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "sam@newpartner.org"}]))))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let new = t.account_of("sam@newpartner.org").await;
    assert_ne!(
        new["id"], old["id"],
        "the org cannot change an external person's email: the link moved"
    );
    assert_eq!(new["linkedUser"]["id"], uid.as_str());
    let mut synced: Vec<String> =
        serde_json::from_value(new["syncedGroups"].clone()).expect("groups");
    synced.sort();
    let mut expected = vec![g1.clone(), g2.clone()];
    expected.sort();
    assert_eq!(
        synced, expected,
        "every synced membership moved with the link"
    );
    let old_after = t
        .org_admin(
            "GET",
            &format!("/accounts/{}", old["id"].as_str().expect("id")),
            None,
        )
        .await;
    assert_eq!(
        old_after.body["link"],
        Value::Null,
        "the old account is unlinked"
    );
    assert_eq!(old_after.body["syncedGroups"], json!([]));
    let r = t
        .org_admin(
            "GET",
            &format!("/events?scimId={uid}&outcome=relinked"),
            None,
        )
        .await;
    let msg = r.body["events"][0]["message"]
        .as_str()
        .expect("logged")
        .to_string();
    assert!(
        msg.contains("sam@partner.org") && msg.contains("sam@newpartner.org"),
        "{msg}"
    );
}

/// L5, managed: the account's email follows the IdP; 409 when another account has it.
#[tokio::test]
async fn l5_managed_email_change_changes_the_account_email() {
    let t = TestDirectory::new("okta").await;
    let user = t
        .create_user(okta_user("lee.a@example.com", "lee.a@example.com"))
        .await;
    let uid = user["id"].as_str().expect("id").to_string();
    let before = t.account_of("lee.a@example.com").await;
    t.org_admin(
        "POST",
        "/invites",
        Some(json!({"email": "taken@example.com"})),
    )
    .await;
    let r = t.scim("PATCH", format!("/Users/{uid}"), Some(patch_op(json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "taken@example.com"}])))).await;
    r.assert_error(409, Some("uniqueness"));
    let r = t.scim("PATCH", format!("/Users/{uid}"), Some(patch_op(json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "lee.b@example.com"}])))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let after = t.account_of("lee.b@example.com").await;
    assert_eq!(after["id"], before["id"], "same account, new email");
    let r = t
        .org_admin("GET", "/links?email=lee.a@example.com", None)
        .await;
    r.assert_error(404, None);
}

/// L6 and L7: deactivation suspends, reactivation restores; delete hands a managed account
/// back to admin, deactivated, never deleted.
#[tokio::test]
async fn l6_l7_deactivate_restore_and_delete() {
    let t = TestDirectory::new("okta").await;
    let user = t
        .create_user(okta_user("dee@example.com", "dee@example.com"))
        .await;
    let uid = user["id"].as_str().expect("id").to_string();
    t.scim(
        "PATCH",
        format!("/Users/{uid}"),
        Some(patch_op(
            json!([{"op": "replace", "path": "active", "value": false}]),
        )),
    )
    .await;
    assert_eq!(t.account_of("dee@example.com").await["status"], "suspended");
    t.scim(
        "PATCH",
        format!("/Users/{uid}"),
        Some(patch_op(
            json!([{"op": "replace", "path": "active", "value": true}]),
        )),
    )
    .await;
    assert_eq!(t.account_of("dee@example.com").await["status"], "active");
    assert_eq!(
        t.scim("DELETE", format!("/Users/{uid}"), None).await.status,
        204
    );
    let a = t.account_of("dee@example.com").await;
    assert_eq!(a["status"], "suspended");
    assert_eq!(a["managedBy"], "admin");
    assert_eq!(a["link"], Value::Null);
}

/// L9: relink re-runs L1 on the user's current email; the next IdP write relinks as well.
#[tokio::test]
async fn l9_relink_and_next_write_relink() {
    let t = TestDirectory::new("okta").await;
    let user = t
        .create_user(okta_user("rae@example.com", "rae@example.com"))
        .await;
    let uid = user["id"].as_str().expect("id").to_string();
    let unlink = format!("/directories/{}/users/{uid}/unlink", t.directory_id);
    assert_eq!(t.org_admin("POST", &unlink, None).await.status, 200);
    t.org_admin("POST", &unlink, None)
        .await
        .assert_error(409, None);
    assert_eq!(t.account_of("rae@example.com").await["link"], Value::Null);
    let r = t
        .org_admin(
            "POST",
            &format!("/directories/{}/users/{uid}/relink", t.directory_id),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        t.account_of("rae@example.com").await["linkedUser"]["id"],
        uid.as_str()
    );
    // Unlink again; the IdP's next real write re-runs L1.
    t.org_admin("POST", &unlink, None).await;
    let r = t
        .scim(
            "PATCH",
            format!("/Users/{uid}"),
            Some(patch_op(
                json!([{"op": "replace", "path": "title", "value": "Lead"}]),
            )),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        t.account_of("rae@example.com").await["linkedUser"]["id"],
        uid.as_str()
    );
}

/// E3: a dry run answers the decision and commits nothing.
#[tokio::test]
async fn e3_dry_run_answers_the_decision_and_commits_nothing() {
    let t = TestDirectory::new("okta").await;
    t.org_admin(
        "POST",
        "/invites",
        Some(json!({"email": "dry@example.com"})),
    )
    .await;
    let (r, cost) = t
        .measure(t.scim(
            "POST",
            "/Users?dryRun=true",
            Some(okta_user("dry@example.com", "dry@example.com")),
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["decision"]["link"], "took-over");
    assert!(r.body["events"][0]["message"]
        .as_str()
        .expect("message")
        .contains("invited"));
    assert_eq!(cost.write_units, 0.0);
    assert_eq!(
        t.scim("GET", "/Users?count=0", None).await.body["totalResults"],
        0
    );
    assert_eq!(t.account_of("dry@example.com").await["managedBy"], "admin");
}

/// Concurrency: an IdP creating a user while the same email signs in by JIT ends with one
/// account, linked.
#[tokio::test]
async fn l1_race_scim_create_and_jit_sign_in_end_with_one_linked_account() {
    for round in 0..3 {
        let t = TestDirectory::new("okta").await;
        let email = format!("race{round}@example.com");
        let (created, jit) = futures::join!(
            t.scim("POST", "/Users", Some(okta_user(&email, &email))),
            t.org_admin(
                "POST",
                "/jit-sign-ins",
                Some(json!({"email": email, "groups": []}))
            )
        );
        assert_eq!(created.status, 201, "{}", created.body);
        assert_eq!(jit.status, 200, "{}", jit.body);
        assert_eq!(t.account_count().await, 1);
        assert_eq!(
            t.account_of(&email).await["linkedUser"]["id"],
            created.body["id"]
        );
    }
}

/// Concurrency: two directories racing for one email end with one holder and one clear 409.
#[tokio::test]
async fn l3_race_two_directories_one_email_one_holder() {
    let okta = TestDirectory::new("okta").await;
    let entra = okta.sibling("entra").await;
    let (a, b) = futures::join!(
        okta.scim(
            "POST",
            "/Users",
            Some(okta_user("both@example.com", "both@example.com"))
        ),
        entra.scim(
            "POST",
            "/Users",
            Some(okta_user("both@example.com", "both@example.com"))
        )
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{} / {}", a.body, b.body);
    let refused = if a.status == 409 { &a } else { &b };
    assert!(refused.body["detail"]
        .as_str()
        .expect("detail")
        .contains("user with email both@example.com already exists"));
    assert_eq!(okta.account_count().await, 1);
}

/// X1/X2 for the admin API: org admin keys work for their org only; revoked keys stop working.
#[tokio::test]
async fn x1_x2_org_admin_keys() {
    let t = TestDirectory::new("okta").await;
    let other = TestDirectory::new("okta").await;
    let r = t.org_admin("POST", "/admin-keys", None).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let key = r.body["key"].as_str().expect("key").to_string();
    let key_id = r.body["id"].as_str().expect("id").to_string();
    let call = |org: &str, key: &str| {
        let req = scimlink::http::local::request(
            "GET",
            &format!("/admin/v1/orgs/{org}/accounts"),
            Some(key),
            None,
            &[],
        )
        .expect("request");
        let state = t.state.clone();
        async move {
            scimlink::http::local::dispatch(&state, req)
                .await
                .expect("response")
                .status()
                .as_u16()
        }
    };
    assert_eq!(call(&t.org_id, &key).await, 200);
    assert_eq!(
        call(&other.org_id, &key).await,
        404,
        "another org answers as an unknown one"
    );
    assert_eq!(call("no-such-org", &key).await, 404);
    assert_eq!(call(&t.org_id, "wrong").await, 401);
    // The org admin cannot mint admin keys; the operator can revoke them.
    let req = scimlink::http::local::request(
        "POST",
        &format!("/admin/v1/orgs/{}/admin-keys", t.org_id),
        Some(&key),
        None,
        &[],
    )
    .expect("request");
    assert_eq!(
        scimlink::http::local::dispatch(&t.state, req)
            .await
            .expect("response")
            .status()
            .as_u16(),
        403
    );
    assert_eq!(
        t.org_admin("DELETE", &format!("/admin-keys/{key_id}"), None)
            .await
            .status,
        204
    );
    assert_eq!(call(&t.org_id, &key).await, 401, "revoked");
}

/// X1: SCIM tokens are verified once per instance and trusted for a short time
/// (`http/tokens.rs`). A revoked token stops at once on the instance that served the
/// revocation, and on any other warm instance within the cache's TTL, never later.
#[tokio::test]
async fn x1_a_revoked_scim_token_stops_at_once_here_and_within_the_ttl_elsewhere() {
    let t = TestDirectory::new("okta").await;
    // Long enough that the steps between the warm-up and the check fit in it on a busy
    // machine: the check only needs the second call to fall inside it.
    let ttl = std::time::Duration::from_secs(5);
    // Another instance of the SCIM functions over the same table, with a short TTL.
    let elsewhere = TestDirectory {
        state: t
            .state
            .clone()
            .with_token_cache(scimlink::http::tokens::TokenCache::with_ttl(ttl)),
        org_id: t.org_id.clone(),
        directory_id: t.directory_id.clone(),
        token: t.token.clone(),
    };
    assert_eq!(t.scim("GET", "/Users", None).await.status, 200);
    let (_, warm) = t.measure(t.scim("GET", "/Users?count=0", None)).await;
    let tokens = t
        .org_admin(
            "GET",
            &format!("/directories/{}/tokens", t.directory_id),
            None,
        )
        .await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let token_id = tokens.body["tokens"][0]["id"]
        .as_str()
        .expect("token id")
        .to_string();
    assert_eq!(elsewhere.scim("GET", "/Users", None).await.status, 200);
    let revoked = t
        .org_admin(
            "DELETE",
            &format!("/directories/{}/tokens/{token_id}", t.directory_id),
            None,
        )
        .await;
    assert_eq!(revoked.status, 204, "{}", revoked.body);
    assert_eq!(
        t.scim("GET", "/Users", None).await.status,
        401,
        "the instance that revoked it forgets it at once"
    );
    assert_eq!(
        elsewhere.scim("GET", "/Users", None).await.status,
        200,
        "another warm instance trusts it until its TTL"
    );
    tokio::time::sleep(ttl).await;
    assert_eq!(
        elsewhere.scim("GET", "/Users", None).await.status,
        401,
        "and no longer than its TTL"
    );
    // A warm instance reads nothing to verify the token: the count is the listing's alone.
    assert_eq!(warm.requests, 1, "{warm:?}");
}

/// E2: diagnose shows every record of the cascade and a verdict in words.
#[tokio::test]
async fn e2_diagnose_an_invited_user_not_yet_provisioned() {
    let t = TestDirectory::new("okta").await;
    t.org_admin(
        "POST",
        "/invites",
        Some(json!({"email": "nora@example.com"})),
    )
    .await;
    let d = t
        .org_admin("GET", "/diagnose?email=nora@example.com", None)
        .await;
    assert_eq!(d.status, 200, "{}", d.body);
    assert_eq!(d.body["account"]["origin"], "invited");
    assert_eq!(d.body["scimUsers"], json!([]));
    assert!(
        d.body["verdict"]
            .as_str()
            .expect("verdict")
            .contains("no directory has provisioned"),
        "{}",
        d.body
    );
    assert!(
        d.body["nextStep"]
            .as_str()
            .expect("next")
            .contains("Assign the person"),
        "{}",
        d.body
    );
    let d = t
        .org_admin("GET", "/diagnose?email=nobody@example.com", None)
        .await;
    assert!(d.body["verdict"]
        .as_str()
        .expect("verdict")
        .starts_with("No account"));
}

/// Verified domains decide managed or external (L2), through the admin API.
#[tokio::test]
async fn l2_verifying_a_domain_makes_its_accounts_managed() {
    let t = TestDirectory::new("okta").await;
    t.org_admin(
        "POST",
        "/invites",
        Some(json!({"email": "kai@subsidiary.com"})),
    )
    .await;
    assert_eq!(t.account_of("kai@subsidiary.com").await["kind"], "external");
    let r = t
        .org_admin(
            "POST",
            "/domains",
            Some(json!({"domain": "Subsidiary.com"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["verifiedDomains"],
        json!(["example.com", "subsidiary.com"])
    );
    assert_eq!(t.account_of("kai@subsidiary.com").await["kind"], "managed");
    let user = t
        .create_user(okta_user("kai@subsidiary.com", "kai@subsidiary.com"))
        .await;
    assert_eq!(
        t.account_of("kai@subsidiary.com").await["managedBy"],
        json!({"directory": t.directory_id}),
        "{user}"
    );
    assert_eq!(
        t.org_admin("DELETE", "/domains/subsidiary.com", None)
            .await
            .status,
        200
    );
    t.org_admin("POST", "/domains", Some(json!({"domain": "not a domain"})))
        .await
        .assert_error(400, Some("invalidValue"));
}

/// E1: the log, newest first, filtered, with cursors; the directory's log and the org's.
#[tokio::test]
async fn e1_log_newest_first_with_filters_and_cursors() {
    let t = TestDirectory::new("okta").await;
    for name in ["log1", "log2", "log3"] {
        let e = format!("{name}@example.com");
        t.create_user(okta_user(&e, &e)).await;
    }
    let path = format!(
        "/directories/{}/events?outcome=created&limit=2",
        t.directory_id
    );
    let first = t.org_admin("GET", &path, None).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let events = first.body["events"].as_array().expect("events");
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["email"], "log3@example.com", "newest first");
    assert_eq!(events[1]["email"], "log2@example.com");
    let cursor = first.body["nextCursor"]
        .as_str()
        .expect("a cursor")
        .to_string();
    let second = t
        .org_admin("GET", &format!("{path}&cursor={cursor}"), None)
        .await;
    assert_eq!(
        second.body["events"][0]["email"], "log1@example.com",
        "{}",
        second.body
    );
    let e = &second.body["events"][0];
    for field in [
        "time",
        "requestId",
        "idp",
        "operation",
        "scimId",
        "externalId",
        "email",
        "outcome",
        "message",
    ] {
        assert!(e.get(field).is_some(), "{field} in {e}");
    }
    let r = t
        .org_admin("GET", "/events?email=LOG2@example.com", None)
        .await;
    assert_eq!(
        r.body["events"].as_array().map(Vec::len),
        Some(1),
        "{}",
        r.body
    );
    t.org_admin("GET", &format!("{path}&cursor=garbage"), None)
        .await
        .assert_error(400, Some("invalidValue"));
}
