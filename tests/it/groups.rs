//! SCIM Groups against DynamoDB Local: Okta's and Entra's group pushes, G1/G2/G5/G6, and
//! membership that costs what it changes.

use scimlink::directory::model::Guard;
use scimlink::directory::model::{ManagedBy, OrgGroupRecord};
use scimlink::directory::plan::{Condition, Plan, Record};
use scimlink::store::keys;
use serde_json::{json, Value};

use crate::common::{patch_op, TestDirectory};

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

async fn org_groups(t: &TestDirectory) -> Vec<OrgGroupRecord> {
    t.state
        .store
        .query_gsi1_data(keys::org_groups_of(&t.org_id))
        .await
        .expect("org groups")
}

#[tokio::test]
async fn g1_s5_okta_group_push_end_to_end() {
    let t = TestDirectory::new("okta").await;
    let users = t.users("okta-g", 3).await;
    // Okta creates the group empty, then pushes membership with PATCH.
    let r = t
        .scim("POST", "/Groups", Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Engineering", "members": []})))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.header("etag"), Some("W/\"1\""));
    let gid = r.body["id"].as_str().expect("id").to_string();
    // G1: an org group of that name now exists, managed by this directory, linked.
    let ogs = org_groups(&t).await;
    assert_eq!(ogs.len(), 1);
    assert_eq!(ogs[0].name, "Engineering");
    assert_eq!(
        ogs[0].managed_by,
        ManagedBy::Directory {
            directory_id: t.directory_id.clone()
        }
    );

    let r = t
        .scim("PATCH", &format!("/Groups/{gid}"), Some(patch_op(json!([{"op": "add", "path": "members", "value": [{"value": users[0], "display": "a"}, {"value": users[1]}]}]))))
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(t.members(&gid).await, sorted(users[..2].to_vec()));
    let r = t
        .scim(
            "PATCH",
            &format!("/Groups/{gid}"),
            Some(patch_op(
                json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", users[0])}]),
            )),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(t.members(&gid).await, vec![users[1].clone()]);
    // Okta's rename shape with every push; unchanged, it writes nothing (L4).
    let (r, cost) = t
        .measure(t.scim(
            "PATCH",
            &format!("/Groups/{gid}"),
            Some(patch_op(
                json!([{"op": "replace", "value": {"id": gid, "displayName": "Engineering"}}]),
            )),
        ))
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(cost.write_units, 0.0, "{cost:?}");
    let r = t
        .scim(
            "PATCH",
            &format!("/Groups/{gid}"),
            Some(patch_op(
                json!([{"op": "replace", "value": {"id": gid, "displayName": "Platform"}}]),
            )),
        )
        .await;
    assert_eq!(r.status, 204);
    let g = t.scim("GET", &format!("/Groups/{gid}"), None).await;
    assert_eq!(g.body["displayName"], "Platform");
    assert_eq!(
        org_groups(&t).await[0].name,
        "Platform",
        "the linked org group follows the IdP's name"
    );
    // The user side shows its groups (read-only).
    let u = t.scim("GET", &format!("/Users/{}", users[1]), None).await;
    assert_eq!(u.body["groups"][0]["value"], gid.as_str(), "{}", u.body);
    assert_eq!(
        t.scim("DELETE", &format!("/Groups/{gid}"), None)
            .await
            .status,
        204
    );
    t.scim("GET", &format!("/Groups/{gid}"), None)
        .await
        .assert_error(404, None);
    let u = t.scim("GET", &format!("/Users/{}", users[1]), None).await;
    assert!(
        u.body.get("groups").is_none(),
        "deleting a group removes its memberships: {}",
        u.body
    );
}

#[tokio::test]
async fn s5_entra_group_shapes_and_remove_with_a_value_list() {
    let t = TestDirectory::new("entra").await;
    let users = t.users("entra-g", 4).await;
    let gid = t.create_group("Sales", &[]).await;
    // Entra looks the group up by name without members: no member is read.
    let (r, cost) = t
        .measure(t.scim(
            "GET",
            "/Groups?excludedAttributes=members&filter=displayName+eq+%22sales%22",
            None,
        ))
        .await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.body);
    assert!(r.body["Resources"][0].get("members").is_none());
    // The token was verified by this instance's first request (`http/tokens.rs`).
    assert_eq!(cost.requests, 2, "name guard, group: {cost:?}");
    let add: Vec<Value> = users.iter().map(|u| json!({"value": u})).collect();
    let r = t
        .scim(
            "PATCH",
            &format!("/Groups/{gid}"),
            Some(patch_op(
                json!([{"op": "Add", "path": "members", "value": add}]),
            )),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = t
        .scim("PATCH", &format!("/Groups/{gid}"), Some(patch_op(json!([{"op": "Remove", "path": "members", "value": [{"value": users[0]}, {"value": users[2]}]}]))))
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(
        t.members(&gid).await,
        sorted(vec![users[1].clone(), users[3].clone()]),
        "exactly those two removed"
    );
    // With `attributes`, PATCH answers 200 with the resource.
    let r = t
        .scim(
            "PATCH",
            &format!("/Groups/{gid}?attributes=displayName"),
            Some(patch_op(
                json!([{"op": "Replace", "path": "displayName", "value": "Sales EMEA"}]),
            )),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["displayName"], "Sales EMEA");
    assert!(r.body["meta"].is_null(), "only what was asked for, plus id");
}

#[tokio::test]
async fn g6_unknown_or_foreign_members_fail_the_whole_request() {
    let t = TestDirectory::new("okta").await;
    let other = t.sibling("entra").await;
    let users = t.users("g6-", 1).await;
    let foreign = other.users("g6-foreign-", 1).await;
    let gid = t.create_group("G6", &[]).await;
    let r = t
        .scim("PATCH", &format!("/Groups/{gid}"), Some(patch_op(json!([{"op": "add", "path": "members", "value": [{"value": users[0]}, {"value": "nope"}, {"value": foreign[0]}]}]))))
        .await;
    r.assert_error(400, Some("invalidValue"));
    let detail = r.body["detail"].as_str().expect("detail");
    assert!(
        detail.contains("nope") && detail.contains(&foreign[0]),
        "{detail}"
    );
    assert!(!detail.contains(&users[0]), "{detail}");
    assert!(t.members(&gid).await.is_empty(), "nothing applied");
    let r = t
        .scim("POST", "/Groups", Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Bad", "members": [{"value": "ghost"}]})))
        .await;
    r.assert_error(400, Some("invalidValue"));
    assert_eq!(
        t.scim("GET", "/Groups?count=0", None).await.body["totalResults"],
        1
    );
}

#[tokio::test]
async fn s5_adding_twice_or_removing_an_absent_member_writes_nothing() {
    let t = TestDirectory::new("okta").await;
    let users = t.users("twice-", 2).await;
    let gid = t.create_group("Twice", &users[..1]).await;
    let (r, cost) = t
        .measure(t.scim(
            "PATCH",
            &format!("/Groups/{gid}"),
            Some(patch_op(json!([
                {"op": "add", "path": "members", "value": [{"value": users[0]}]},
                {"op": "remove", "path": format!("members[value eq \"{}\"]", users[1])}
            ]))),
        ))
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(cost.write_units, 0.0, "{cost:?}");
    assert_eq!(
        cost.requests, 2,
        "group, the named memberships (the token is verified): {cost:?}"
    );
    assert_eq!(
        t.scim("GET", &format!("/Groups/{gid}"), None).await.body["meta"]["version"],
        "W/\"1\""
    );
}

#[tokio::test]
async fn s5_membership_patch_costs_the_same_whatever_the_group_size() {
    let t = TestDirectory::new("okta").await;
    let users = t.users("size-", 121).await;
    let small = t.create_group("Small", &users[..10]).await;
    let large = t.create_group("Large", &users[..120]).await;
    assert_eq!(
        t.members(&large).await.len(),
        120,
        "more members than one transaction holds"
    );
    let newcomer = &users[120];
    let add = |g: &str| {
        t.scim(
            "PATCH",
            format!("/Groups/{g}"),
            Some(patch_op(
                json!([{"op": "add", "path": "members", "value": [{"value": newcomer}]}]),
            )),
        )
    };
    let (_, small_cost) = t.measure(add(&small)).await;
    let (_, large_cost) = t.measure(add(&large)).await;
    assert_eq!(
        small_cost.requests, large_cost.requests,
        "{small_cost:?} vs {large_cost:?}"
    );
    assert_eq!(
        small_cost.requests, 4,
        "group, user + membership, the org group (does the change grant or revoke a role? E5), one transaction; the token is verified"
    );
    let remove = |g: &str| {
        t.scim(
            "PATCH",
            format!("/Groups/{g}"),
            Some(patch_op(
                json!([{"op": "remove", "path": format!("members[value eq \"{newcomer}\"]")}]),
            )),
        )
    };
    let (_, small_cost) = t.measure(remove(&small)).await;
    let (_, large_cost) = t.measure(remove(&large)).await;
    assert_eq!(small_cost.requests, large_cost.requests);
    assert_eq!(small_cost.write_units, large_cost.write_units);
}

#[tokio::test]
async fn concurrent_patches_adding_disjoint_members_lose_nothing() {
    let t = TestDirectory::new("okta").await;
    let users = t.users("conc-", 12).await;
    let gid = t.create_group("Concurrent", &[]).await;
    let patches = users.iter().map(|u| {
        t.scim(
            "PATCH",
            format!("/Groups/{gid}"),
            Some(patch_op(
                json!([{"op": "add", "path": "members", "value": [{"value": u}]}]),
            )),
        )
    });
    let results = futures::future::join_all(patches).await;
    assert!(
        results.iter().all(|r| r.status == 204),
        "{:?}",
        results
            .iter()
            .map(|r| (r.status, r.body.clone()))
            .collect::<Vec<_>>()
    );
    assert_eq!(t.members(&gid).await, sorted(users));
}

#[tokio::test]
async fn l7_deleting_a_user_removes_its_memberships() {
    let t = TestDirectory::new("okta").await;
    let users = t.users("leaver-", 2).await;
    let gid = t.create_group("Leavers", &users).await;
    assert_eq!(
        t.scim("DELETE", &format!("/Users/{}", users[0]), None)
            .await
            .status,
        204
    );
    assert_eq!(t.members(&gid).await, vec![users[1].clone()]);
}

#[tokio::test]
async fn s6_put_replaces_the_membership() {
    let t = TestDirectory::new("okta").await;
    let users = t.users("put-", 3).await;
    let gid = t.create_group("Put", &users[..2]).await;
    let r = t
        .scim("PUT", &format!("/Groups/{gid}"), Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Put", "members": [{"value": users[2]}]})))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(t.members(&gid).await, vec![users[2].clone()]);
}

#[tokio::test]
async fn g5_a_group_managed_by_one_directory_cannot_be_taken_by_another() {
    let okta = TestDirectory::new("okta").await;
    let entra = okta.sibling("entra").await;
    okta.create_group("Finance", &[]).await;
    let r = entra
        .scim("POST", "/Groups", Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "FINANCE"})))
        .await;
    r.assert_error(409, Some("uniqueness"));
    let r = okta
        .scim("POST", "/Groups", Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "finance"})))
        .await;
    r.assert_error(409, Some("uniqueness"));
}

#[tokio::test]
async fn g2_a_group_named_like_an_admin_group_is_created_and_held() {
    let t = TestDirectory::new("okta").await;
    // An org group the admins made before the IdP was connected.
    let og = OrgGroupRecord {
        org_id: t.org_id.clone(),
        id: "admin-group".into(),
        name: "jira-users".into(),
        managed_by: ManagedBy::Admin,
        scim_group: None,
        roles: vec!["jira/user".into()],
        version: 1,
        created: "2026-01-01T00:00:00.000Z".into(),
        last_modified: "2026-01-01T00:00:00.000Z".into(),
    };
    let mut plan = Plan::default();
    plan.put(
        Record::Guard(
            Guard::OrgGroupName {
                org_id: t.org_id.clone(),
                lower: "jira-users".into(),
            },
            og.id.clone(),
        ),
        Condition::Absent,
    );
    plan.put(Record::OrgGroup(og), Condition::Absent);
    t.state
        .store
        .apply(&plan)
        .await
        .expect("seed the admin group");

    let users = t.users("held-", 1).await;
    let gid = t.create_group("Jira-Users", &users).await;
    assert_eq!(
        t.members(&gid).await,
        users,
        "the IdP's membership is recorded"
    );
    let group = t
        .state
        .store
        .get_group(&t.directory_id, &gid)
        .await
        .expect("read")
        .expect("group");
    assert!(group.held, "held for an admin's review (G2)");
    assert_eq!(group.org_group_id.as_deref(), Some("admin-group"));
    let ogs = org_groups(&t).await;
    assert_eq!(ogs.len(), 1, "no second org group");
    assert_eq!(
        ogs[0].managed_by,
        ManagedBy::Admin,
        "the admin group is untouched"
    );
    // Renaming the IdP group resolves the conflict: it gets an org group of its own.
    let r = t
        .scim(
            "PATCH",
            &format!("/Groups/{gid}"),
            Some(patch_op(
                json!([{"op": "replace", "path": "displayName", "value": "jira-users-idp"}]),
            )),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let group = t
        .state
        .store
        .get_group(&t.directory_id, &gid)
        .await
        .expect("read")
        .expect("group");
    assert!(!group.held);
    assert_eq!(org_groups(&t).await.len(), 2);
}
