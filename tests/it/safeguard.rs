//! E4, the mass-deprovisioning safeguard, against DynamoDB Local: an Entra-shaped run
//! deactivates 60% of a 200-user directory with the safeguard on (50% within an hour) and
//! off; held accounts keep their access until an admin approves (after a dry run); a
//! reactivation resolves a hold; a held delete and a held membership removal keep roles.

use serde_json::{json, Value};

use crate::common::{patch_op, TestDirectory};

const USERS: usize = 200;
const DEACTIVATED: usize = 120;

/// A directory of `USERS` users, all in the IdP group `Everyone`, whose org group grants
/// `jira/user`. Returns the user ids.
async fn directory_with_access(t: &TestDirectory) -> (Vec<String>, String) {
    t.jira_and_confluence().await;
    let users = t.users("person", USERS).await;
    let group = t.create_group("Everyone", &users).await;
    t.grant_group_roles("Everyone", &["jira/user"]).await;
    (users, group)
}

fn email(i: usize) -> String {
    format!("person{i}@example.com")
}

async fn account_id(t: &TestDirectory, i: usize) -> String {
    t.account_id(&email(i)).await
}

async fn account(t: &TestDirectory, id: &str) -> Value {
    let r = t.org_admin("GET", &format!("/accounts/{id}"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

/// Entra's deactivation: `Replace` of `active` with the string "False".
async fn set_active(t: &TestDirectory, user: &str, active: bool) {
    let value = if active { "True" } else { "False" };
    let r = t
        .scim(
            "PATCH",
            format!("/Users/{user}"),
            Some(patch_op(
                json!([{"op": "Replace", "path": "active", "value": value}]),
            )),
        )
        .await;
    assert_eq!(r.status, 200, "the IdP is answered as usual: {}", r.body);
}

async fn safeguard_on(t: &TestDirectory, share: u32) {
    let r = t
        .org_admin(
            "PUT",
            &format!("/directories/{}/safeguard", t.directory_id),
            Some(
                json!({"enabled": true, "sharePercent": share, "minCount": 1, "windowMinutes": 60}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["enabled"], true);
}

async fn holds(t: &TestDirectory) -> Value {
    let r = t
        .org_admin(
            "GET",
            &format!("/directories/{}/safeguard/holds", t.directory_id),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

/// The directory's log lines with outcome `held` (E1, E4), newest first.
async fn held_log(t: &TestDirectory) -> Vec<String> {
    t.log_messages(&format!(
        "/directories/{}/events?outcome=held&limit=100",
        t.directory_id
    ))
    .await
}

async fn decide(t: &TestDirectory, what: &str, query: &str, body: Option<Value>) -> Value {
    let r = t
        .org_admin(
            "POST",
            &format!(
                "/directories/{}/safeguard/holds/{what}{query}",
                t.directory_id
            ),
            body,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

/// E4: with the safeguard on (50% within an hour), an Entra run deactivating 60% of 200
/// users trips it at the 100th: every answer is 200, the first 100 accounts are suspended,
/// the 20 past the threshold keep their access, the trip is in the log; a dry run of the
/// approval changes nothing; the approval applies exactly the held suspensions.
#[tokio::test]
async fn e4_an_entra_run_past_the_threshold_is_held_until_approved() {
    let t = TestDirectory::new("entra").await;
    let (users, _) = directory_with_access(&t).await;
    safeguard_on(&t, 50).await;
    for u in &users[..DEACTIVATED] {
        set_active(&t, u, false).await;
    }
    let first = account_id(&t, 0).await;
    let last_counted = account_id(&t, 99).await;
    let first_held = account_id(&t, 100).await;
    for id in [&first, &last_counted] {
        assert_eq!(account(&t, id).await["status"], "suspended");
        assert!(t.roles(id).await.is_empty());
    }
    let mut held_ids = Vec::new();
    for i in 100..DEACTIVATED {
        let id = account_id(&t, i).await;
        let a = account(&t, &id).await;
        assert_eq!(a["status"], "active", "past the threshold: {a}");
        assert_eq!(t.roles(&id).await, vec!["jira/user"], "keeps its access");
        held_ids.push(id);
    }
    let untouched = account_id(&t, DEACTIVATED).await;
    assert_eq!(t.roles(&untouched).await, vec!["jira/user"]);

    let sg = t
        .org_admin(
            "GET",
            &format!("/directories/{}/safeguard", t.directory_id),
            None,
        )
        .await;
    assert_eq!(sg.body["tripped"]["threshold"], 100, "{}", sg.body);
    assert_eq!(sg.body["held"], 20);
    let h = holds(&t).await;
    assert_eq!(h["total"], 20, "{h}");
    assert_eq!(h["suspensionsHeld"], 20);
    assert_eq!(h["accountsLosingAccess"], 20);
    assert_eq!(h["holds"][0]["wouldLose"], json!(["jira/user"]));
    let messages = held_log(&t).await;
    assert!(
        messages.iter().any(|m| m.contains("SAFEGUARD TRIPPED")),
        "the trip is in the log: {messages:?}"
    );
    assert_eq!(
        messages
            .iter()
            .filter(|m| m.starts_with("Held its suspension"))
            .count(),
        20
    );

    // A dry run answers what approval would take, and takes nothing.
    let dry = decide(&t, "approve", "?dryRun=true", None).await;
    assert_eq!(dry["dryRun"], true);
    assert_eq!(dry["decided"], 20, "{dry}");
    assert_eq!(dry["accountsLosingAccess"], 20);
    assert_eq!(dry["holds"][0]["revoked"], json!(["jira/user"]));
    assert_eq!(account(&t, &first_held).await["status"], "active");
    assert_eq!(holds(&t).await["total"], 20);

    let done = decide(&t, "approve", "", None).await;
    assert_eq!(
        (done["decided"].as_u64(), done["done"].as_bool()),
        (Some(20), Some(true))
    );
    assert_eq!(done["safeguardReset"], true, "no hold left: the trip ends");
    for id in &held_ids {
        assert_eq!(account(&t, id).await["status"], "suspended");
        assert!(t.roles(id).await.is_empty());
    }
    assert_eq!(
        t.roles(&untouched).await,
        vec!["jira/user"],
        "approval applies exactly the held effects"
    );
    assert_eq!(holds(&t).await["total"], 0);
}

/// E4: the same run with the safeguard off (the default) deprovisions everyone at once.
#[tokio::test]
async fn e4_with_the_safeguard_off_the_run_deprovisions_everyone() {
    let t = TestDirectory::new("entra").await;
    let (users, _) = directory_with_access(&t).await;
    for u in &users[..DEACTIVATED] {
        set_active(&t, u, false).await;
    }
    for i in [0, 99, 100, DEACTIVATED - 1] {
        let id = account_id(&t, i).await;
        assert_eq!(account(&t, &id).await["status"], "suspended");
        assert!(t.roles(&id).await.is_empty());
    }
    assert_eq!(holds(&t).await["total"], 0);
}

/// E4: once tripped, a reactivation of a held user resolves its hold the way the IdP
/// intends (nothing applied, the log says so); a held delete and a held membership
/// removal keep the roles until an admin decides; release keeps the account active.
#[tokio::test]
async fn e4_a_reactivation_resolves_a_hold_and_deletes_and_removals_are_held() {
    let t = TestDirectory::new("okta").await;
    let (users, group) = directory_with_access(&t).await;
    // 1% of 200 with a minimum of 1: the third deprovisioning trips it.
    safeguard_on(&t, 1).await;
    set_active(&t, &users[0], false).await;
    set_active(&t, &users[1], false).await;
    set_active(&t, &users[2], false).await;
    let held = account_id(&t, 2).await;
    assert_eq!(account(&t, &held).await["status"], "active");
    assert_eq!(holds(&t).await["total"], 1);

    set_active(&t, &users[2], true).await;
    assert_eq!(holds(&t).await["total"], 0, "the IdP took it back");
    assert_eq!(account(&t, &held).await["status"], "active");
    assert!(account(&t, &held).await.get("hold").is_none());
    let messages = held_log(&t).await;
    assert!(
        messages.iter().any(|m| m.contains("resolved")),
        "{messages:?}"
    );

    // A delete: the SCIM user goes, the account keeps its access while held.
    let r = t.scim("DELETE", format!("/Users/{}", users[3]), None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let deleted = account_id(&t, 3).await;
    assert_eq!(t.roles(&deleted).await, vec!["jira/user"]);
    // A membership removal: the member goes from the IdP's group, the role stays.
    let r = t
        .scim(
            "PATCH",
            format!("/Groups/{group}"),
            Some(patch_op(
                json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", users[4])}]),
            )),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(
        !t.members(&group).await.contains(&users[4]),
        "the IdP's view is recorded"
    );
    let removed = account_id(&t, 4).await;
    assert_eq!(t.roles(&removed).await, vec!["jira/user"]);
    let h = holds(&t).await;
    assert_eq!(h["total"], 2, "{h}");

    // Release the removal: the hold ends, the account stays active, and the role the IdP
    // took away goes with it.
    let r = decide(
        &t,
        "release",
        "",
        Some(json!({"accountIds": [removed.clone()]})),
    )
    .await;
    assert_eq!(r["decided"], 1, "{r}");
    assert_eq!(r["safeguardReset"], false, "a hold is left");
    assert_eq!(account(&t, &removed).await["status"], "active");
    assert!(t.roles(&removed).await.is_empty());
    // Approve the delete: suspended (a managed account), nothing left held.
    let r = decide(&t, "approve", "", None).await;
    assert_eq!(r["decided"], 1, "{r}");
    assert_eq!(r["safeguardReset"], true);
    assert_eq!(account(&t, &deleted).await["status"], "suspended");
    assert!(t.roles(&deleted).await.is_empty());
}

/// E4: settings are checked (400 naming the value), off by default, and refused ones
/// change nothing.
#[tokio::test]
async fn e4_settings_are_off_by_default_and_checked() {
    let t = TestDirectory::new("okta").await;
    let path = format!("/directories/{}/safeguard", t.directory_id);
    let r = t.org_admin("GET", &path, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["enabled"], false);
    assert!(r.body["recommended"]["sharePercent"].as_u64().is_some());
    let r = t
        .org_admin(
            "PUT",
            &path,
            Some(json!({"enabled": true, "sharePercent": 0})),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
    assert!(r.body["detail"]
        .as_str()
        .unwrap_or("")
        .contains("sharePercent"));
    assert_eq!(t.org_admin("GET", &path, None).await.body["enabled"], false);
    let r = t
        .org_admin(
            "PUT",
            &path,
            Some(json!({"enabled": true, "windowMinuts": 5})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
}
