//! E5: the change events each write commits, read back from the table (the push and poll
//! paths deliver exactly these).

use serde_json::{json, Value};

use scimlink::directory::model::ChangeRecord;

use crate::common::{okta_user, patch_op, TestDirectory};

/// Every change event of the org so far, in delivery order.
pub async fn changes(t: &TestDirectory) -> Vec<ChangeRecord> {
    let day = scimlink::clock::now()[..10].to_string();
    let mut all = t
        .state
        .store
        .changes_of_day(&t.org_id, &day, "")
        .await
        .expect("changes");
    all.sort_by_key(|c| c.order_key());
    all
}

fn of<'a>(all: &'a [ChangeRecord], event: &str) -> Vec<&'a ChangeRecord> {
    all.iter().filter(|c| c.event == event).collect()
}

#[tokio::test]
async fn e5_takeover_update_access_grant_revoke_deactivate_and_no_op() {
    let t = TestDirectory::new("okta").await;
    t.jira_and_confluence().await;
    let r = t
        .org_admin(
            "POST",
            "/invites",
            Some(json!({"email": "ann@example.com"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let account = r.body["id"].as_str().expect("id").to_string();
    let start = changes(&t).await.len();

    // An invited account taken over by the IdP's create (L2).
    let user = t
        .create_user(okta_user("ann@example.com", "ann@example.com"))
        .await;
    let uid = user["id"].as_str().expect("id").to_string();
    let after_create = changes(&t).await;
    let new: Vec<&ChangeRecord> = after_create[start..].iter().collect();
    let names: Vec<&str> = new.iter().map(|c| c.event.as_str()).collect();
    assert!(names.contains(&"prov:create"), "{names:?}");
    assert!(names.contains(&"account:taken-over"), "{names:?}");
    let create = of(&after_create, "prov:create")[0];
    assert_eq!(create.subject.id, uid);
    assert_eq!(create.data["data"]["userName"], "ann@example.com");
    assert!(create.request_id.is_some());
    assert_eq!(
        create.directory_id.as_deref(),
        Some(t.directory_id.as_str())
    );

    // An update carries what changed and the previous values.
    let r = t
        .scim(
            "PATCH",
            format!("/Users/{uid}"),
            Some(patch_op(
                json!([{"op": "replace", "path": "title", "value": "Engineer"}]),
            )),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let all = changes(&t).await;
    let patch = of(&all, "prov:patch");
    assert_eq!(patch.len(), 1, "{patch:?}");
    assert_eq!(patch[0].data["attributes"], json!(["title"]));
    assert_eq!(patch[0].data["previous"]["title"], Value::Null);

    // A group pushed by the IdP, then given a role by an admin: access granted, with cause.
    let gid = t
        .create_group("Engineering", std::slice::from_ref(&uid))
        .await;
    let og = t.grant_group_roles("Engineering", &["jira/user"]).await;
    let all = changes(&t).await;
    let granted = of(&all, "access:granted");
    assert_eq!(granted.len(), 1, "{granted:?}");
    assert_eq!(granted[0].subject.id, account);
    assert_eq!(granted[0].data["access"][0]["role"], "jira/user");
    assert_eq!(granted[0].data["access"][0]["site"]["id"], "acme");
    assert_eq!(granted[0].data["access"][0]["groups"][0]["orgGroupId"], og);

    // The IdP removes the member: access revoked, in the same transaction as the removal.
    let r = t
        .scim(
            "PATCH",
            format!("/Groups/{gid}"),
            Some(patch_op(
                json!([{"op": "remove", "path": format!("members[value eq \"{uid}\"]")}]),
            )),
        )
        .await;
    assert!(r.status == 200 || r.status == 204, "{}", r.body);
    let all = changes(&t).await;
    let revoked = of(&all, "access:revoked");
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    let group_patch = all
        .iter()
        .find(|c| c.subject.id == gid && c.event == "prov:patch")
        .expect("group patch");
    assert_eq!(group_patch.data["membersRemoved"], json!([uid]));
    assert_eq!(group_patch.txn, revoked[0].txn);

    // A deactivation.
    let r = t
        .scim(
            "PATCH",
            format!("/Users/{uid}"),
            Some(patch_op(
                json!([{"op": "replace", "path": "active", "value": false}]),
            )),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let all = changes(&t).await;
    assert_eq!(of(&all, "prov:deactivate").len(), 1);
    assert_eq!(of(&all, "account:suspended").len(), 1);

    // A no-op resync (L4): no events.
    let before = changes(&t).await.len();
    let current = t.scim("GET", format!("/Users/{uid}"), None).await.body;
    let r = t.scim("PUT", format!("/Users/{uid}"), Some(current)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(changes(&t).await.len(), before);

    // Every event has a unique jti and the order key sorts by commit.
    let all = changes(&t).await;
    let mut jtis: Vec<&str> = all.iter().map(|c| c.id.as_str()).collect();
    jtis.sort();
    jtis.dedup();
    assert_eq!(jtis.len(), all.len());
}
