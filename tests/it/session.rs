//! A scripted IdP session (Okta and Entra request shapes, an admin's conflict sync), run
//! once without faults for the reference final state, then again with one DynamoDB fault
//! injected at call N, for N over the calls of the clean run, in a fresh org and
//! directories (and a private table) each time (S7, E1, L1-L7, G1-G3, G6).
//!
//! Setup that is not under test (an org with a verified domain, an Okta and an Entra
//! directory with tokens, a product, an admin-managed org group `jira-users` with one
//! invited member, and 150 Okta users for the big membership changes) is made once through
//! the API in a template table, and copied for every run with new org and directory ids
//! (ids are uuids, so rewriting them in every string attribute is exact). Only the session
//! itself runs with faults armed, so call N is the Nth DynamoDB attempt of the session.
//!
//! The clean session is 32 requests and about 143 DynamoDB attempts. Trying every position
//! for every fault kind with SDK retries on and off is some 1,400 runs of ~3 s: by default
//! each of the 10 matrix tests samples 5 write and 2 read positions with a fixed stride
//! (another offset per test; see `positions`), about 5 minutes for the whole matrix with the
//! refused-request tests. `SCIMLINK_FAULT_STRIDE=1` runs every position;
//! `SCIMLINK_FAULT_WRITES` / `SCIMLINK_FAULT_READS` change the sample.
//!
//! What a run asserts: every request that failed answered the policy's status with
//! `Retry-After` (429 for throttling; 503 for any other transient store fault, a timeout, or
//! lost races exhausted; never 500, S7), every request finally succeeded within
//! `IDP_TRIES`, the invariant checker passes, and the final state equals the reference.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use scimlink::http::AppState;
use scimlink::store::Item;
use serde_json::{json, Value};
use tokio::sync::OnceCell;

use crate::common::{okta_user, patch_op, Response, TestDirectory, OPERATOR_KEY};
use crate::faults::{self, is_write, Fault, Faults, Injection, Mode};
use crate::invariants::{self, Items, Tenant};
use crate::tables::{plain_store, uuid_like, PrivateTable};

pub const BULK: usize = 150;
pub const BULK_REMOVED: usize = 120;
/// How often the scripted IdP sends a request that failed (the first try included).
pub const IDP_TRIES: usize = 4;

/// The setup every run starts from, as raw items.
pub struct Template {
    items: Vec<Item>,
    org_id: String,
    okta_dir: String,
    entra_dir: String,
    okta_token: String,
    entra_token: String,
    bulk: Vec<String>,
}

static TEMPLATE: OnceCell<Template> = OnceCell::const_new();

pub async fn template() -> &'static Template {
    TEMPLATE.get_or_init(build_template).await
}

async fn build_template() -> Template {
    let table = PrivateTable::create("template").await;
    let store = plain_store(&table.name).await;
    let okta = TestDirectory::on(AppState::new(store.clone(), Some(OPERATOR_KEY)), "okta").await;
    let entra = okta.sibling("entra").await;
    for (path, body) in [
        ("/sites", json!({"id": "acme", "name": "acme.example.net"})),
        (
            "/products",
            json!({"id": "jira", "name": "Jira", "siteId": "acme", "roles": ["user", "admin"]}),
        ),
    ] {
        let r = okta.org_admin("POST", path, Some(body)).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let r = okta
        .org_admin(
            "POST",
            "/org-groups",
            Some(json!({"name": "jira-users", "roles": ["jira/user"]})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let admin_group = r.body["id"].as_str().expect("id").to_string();
    let r = okta
        .org_admin(
            "POST",
            "/invites",
            Some(json!({"email": "ann@example.com"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let ann = r.body["id"].as_str().expect("id").to_string();
    let r = okta
        .org_admin(
            "POST",
            &format!("/org-groups/{admin_group}/members"),
            Some(json!({"accountIds": [ann]})),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let bulk = okta.users("bulk", BULK).await;
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = store
            .client()
            .scan()
            .table_name(&table.name)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan the template");
        items.extend(page.items().iter().cloned());
        match page.last_evaluated_key {
            Some(k) => start = Some(k),
            None => break,
        }
    }
    table.delete().await;
    Template {
        items,
        org_id: okta.org_id.clone(),
        okta_dir: okta.directory_id.clone(),
        entra_dir: entra.directory_id.clone(),
        okta_token: okta.token.clone(),
        entra_token: entra.token.clone(),
        bulk,
    }
}

/// One run's world: a private table holding a copy of the template with new ids, and the
/// fault switchboard of its store.
pub struct World {
    pub table: PrivateTable,
    pub faults: Arc<Faults>,
    pub okta: TestDirectory,
    pub entra: TestDirectory,
    pub bulk: Vec<String>,
}

impl World {
    pub async fn new(sdk_retries: bool) -> World {
        let t = template().await;
        let table = PrivateTable::create("run").await;
        let org = new_id();
        let okta_dir = new_id();
        let entra_dir = new_id();
        let rewrite = |v: &str| {
            v.replace(&t.org_id, &org)
                .replace(&t.okta_dir, &okta_dir)
                .replace(&t.entra_dir, &entra_dir)
        };
        let items: Vec<Item> = t
            .items
            .iter()
            .map(|item| {
                item.iter()
                    .map(|(k, v)| {
                        let v = match v {
                            AttributeValue::S(s) => AttributeValue::S(rewrite(s)),
                            other => other.clone(),
                        };
                        (k.clone(), v)
                    })
                    .collect()
            })
            .collect();
        let plain = plain_store(&table.name).await;
        for chunk in items.chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|i| {
                    WriteRequest::builder()
                        .put_request(
                            PutRequest::builder()
                                .set_item(Some(i.clone()))
                                .build()
                                .expect("put"),
                        )
                        .build()
                })
                .collect();
            while !requests.is_empty() {
                let out = plain
                    .client()
                    .batch_write_item()
                    .request_items(&table.name, requests)
                    .send()
                    .await
                    .expect("copy the template");
                requests = out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(&table.name))
                    .unwrap_or_default();
            }
        }
        let faults = Faults::new();
        let store = faults::store(&table.name, faults.clone(), sdk_retries).await;
        // The token is read on every request, as a cold instance does: the fault schedules
        // number a step's DynamoDB calls, and a cache that expires between the probe run
        // and the faulted run (30 s, on a busy machine) would shift them by one.
        let state = AppState::new(store, Some(OPERATOR_KEY)).with_token_cache(
            scimlink::http::tokens::TokenCache::with_ttl(std::time::Duration::ZERO),
        );
        World {
            okta: TestDirectory {
                state: state.clone(),
                org_id: org.clone(),
                directory_id: okta_dir,
                token: t.okta_token.clone(),
            },
            entra: TestDirectory {
                state,
                org_id: org,
                directory_id: entra_dir,
                token: t.entra_token.clone(),
            },
            table,
            faults,
            bulk: t.bulk.clone(),
        }
    }

    pub fn org_id(&self) -> &str {
        &self.okta.org_id
    }

    pub async fn items(&self) -> Items {
        invariants::tenant_items(&self.okta.state.store, self.org_id()).await
    }

    pub async fn violations(&self) -> Vec<String> {
        invariants::check(self.org_id(), &self.items().await)
    }

    pub async fn state(&self) -> Value {
        projection(&Tenant::decode(&self.items().await))
    }

    pub async fn delete(self) {
        self.table.delete().await;
    }

    /// Puts the tenant back exactly as `snapshot` (after a refused request changed it).
    pub async fn restore(&self, snapshot: &Items) {
        let now = self.items().await;
        let client = self.okta.state.store.client();
        for (k, item) in snapshot {
            if now.get(k) != Some(item) {
                client
                    .put_item()
                    .table_name(&self.table.name)
                    .set_item(Some(item.clone()))
                    .send()
                    .await
                    .expect("restore an item");
            }
        }
        for (pk, sk) in now.keys().filter(|k| !snapshot.contains_key(*k)) {
            client
                .delete_item()
                .table_name(&self.table.name)
                .key("pk", AttributeValue::S(pk.clone()))
                .key("sk", AttributeValue::S(sk.clone()))
                .send()
                .await
                .expect("restore: delete an item");
        }
    }
}

fn new_id() -> String {
    let h = uuid_like();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The canonical, id-independent final state: users by directory and userName (active,
/// emails, linked account), groups by directory and name (member userNames, held, org
/// group), accounts by email (status, origin, managedBy, linked user), org groups by name
/// (managedBy, roles, effective member emails: admin membership items while admin-managed,
/// the SCIM group's linked members while directory-managed), and conflicts.
pub fn projection(t: &Tenant) -> Value {
    let dir = |d: &str| t.directories.get(d).cloned().unwrap_or_else(|| d.into());
    let user_name = |d: &str, u: &str| {
        t.users
            .get(&(d.to_string(), u.to_string()))
            .and_then(|u| u.doc["userName"].as_str().map(str::to_string))
            .unwrap_or_else(|| format!("<missing {u}>"))
    };
    let email_of = |a: &str| {
        t.accounts
            .get(a)
            .map(|a| a.email.clone())
            .unwrap_or_else(|| format!("<missing {a}>"))
    };
    let managed = |m: &scimlink::directory::model::ManagedBy| match m {
        scimlink::directory::model::ManagedBy::Admin => "admin".to_string(),
        scimlink::directory::model::ManagedBy::Directory { directory_id } => dir(directory_id),
    };
    let mut users = BTreeMap::new();
    for ((d, _), u) in &t.users {
        users.insert(
            format!("{}:{}", dir(d), u.doc["userName"].as_str().unwrap_or("")),
            json!({
                "active": scimlink::directory::users::is_active(&u.doc),
                "emails": scimlink::directory::users::indexed_emails(&u.doc),
                "account": u.account_id.as_deref().map(email_of),
                "title": u.doc.get("title"),
            }),
        );
    }
    let mut groups = BTreeMap::new();
    for ((d, gid), g) in &t.groups {
        let mut members: Vec<String> = t
            .members
            .iter()
            .filter(|(md, mg, _)| md == d && mg == gid)
            .map(|(_, _, u)| user_name(d, u))
            .collect();
        members.sort();
        groups.insert(
            format!(
                "{}:{}",
                dir(d),
                scimlink::directory::groups::display_name(&g.doc)
            ),
            json!({
                "members": members,
                "held": g.held,
                "orgGroup": g.org_group_id.as_ref().and_then(|o| t.org_groups.get(o)).map(|o| o.name.clone()),
            }),
        );
    }
    let mut accounts = BTreeMap::new();
    for a in t.accounts.values() {
        accounts.insert(
            a.email.clone(),
            json!({
                "status": a.status,
                "origin": a.origin,
                "managedBy": managed(&a.managed_by),
                "linked": a.link.as_ref().map(|l| format!("{}:{}", dir(&l.directory_id), user_name(&l.directory_id, &l.user_id))),
            }),
        );
    }
    let mut org_groups = BTreeMap::new();
    for (id, og) in &t.org_groups {
        let mut members: Vec<String> = match (&og.managed_by, &og.scim_group) {
            (scimlink::directory::model::ManagedBy::Directory { .. }, Some(r)) => t
                .members
                .iter()
                .filter(|(d, g, _)| *d == r.directory_id && *g == r.group_id)
                .filter_map(|(d, _, u)| {
                    t.users
                        .get(&(d.clone(), u.clone()))
                        .and_then(|u| u.account_id.as_deref())
                        .map(email_of)
                })
                .collect(),
            _ => t
                .org_members
                .iter()
                .filter(|(o, _)| o == id)
                .map(|(_, a)| email_of(a))
                .collect(),
        };
        members.sort();
        org_groups.insert(
            og.name.clone(),
            json!({"managedBy": managed(&og.managed_by), "roles": og.roles, "members": members}),
        );
    }
    let mut conflicts: Vec<String> = t
        .conflicts
        .iter()
        .map(|c| format!("{}:{}:{}", dir(&c.directory_id), c.name, c.rejected))
        .collect();
    conflicts.sort();
    json!({
        "users": users,
        "groups": groups,
        "accounts": accounts,
        "orgGroups": org_groups,
        "conflicts": conflicts,
    })
}

/// The keys under which two projections differ, with both values.
pub fn state_diff(want: &Value, got: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for section in ["users", "groups", "accounts", "orgGroups"] {
        let (w, g) = (&want[section], &got[section]);
        let keys: std::collections::BTreeSet<&String> = w
            .as_object()
            .into_iter()
            .chain(g.as_object())
            .flat_map(|o| o.keys())
            .collect();
        for k in keys {
            if w.get(k) != g.get(k) {
                out.push(format!(
                    "{section}[{k}]: want {} got {}",
                    w.get(k).unwrap_or(&Value::Null),
                    g.get(k).unwrap_or(&Value::Null)
                ));
            }
        }
    }
    if want["conflicts"] != got["conflicts"] {
        out.push(format!(
            "conflicts: want {} got {}",
            want["conflicts"], got["conflicts"]
        ));
    }
    out
}

/// A request of the session that did not get its expected answer on some try.
#[derive(Debug, Clone)]
pub struct Failed {
    pub step: usize,
    pub label: &'static str,
    pub try_no: usize,
    pub status: u16,
    pub retry_after: Option<String>,
    pub detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Okta,
    Entra,
    Admin,
}

/// What a retried request may legitimately answer when an earlier try failed after its
/// write went through (a timeout): a create finds its resource taken (409, the IdP looks it
/// up by name as Okta and Entra do), a delete or a sync finds it gone (404).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Done {
    No,
    Created,
    Gone,
}

/// One request of the session, and what answers it.
struct Req {
    label: &'static str,
    who: Who,
    method: &'static str,
    path: String,
    body: Option<Value>,
    expect: u16,
    done: Done,
}

/// The session's state between steps: ids by name, what failed.
pub struct Session<'w> {
    w: &'w World,
    ids: HashMap<String, String>,
    pub tries: usize,
    pub failed: Vec<Failed>,
    pub step: usize,
}

pub const STEPS: usize = 32;

impl<'w> Session<'w> {
    pub fn new(w: &'w World) -> Self {
        Session {
            w,
            ids: HashMap::new(),
            tries: IDP_TRIES,
            failed: Vec::new(),
            step: 0,
        }
    }

    fn id(&self, name: &str) -> String {
        self.ids
            .get(name)
            .cloned()
            .unwrap_or_else(|| format!("<no id for {name}>"))
    }

    /// Sends one request as an IdP (or an admin) would: again on a failure, up to `tries`.
    /// Returns the final answer, or `None` when every try failed.
    async fn send(&mut self, req: Req) -> Option<Response> {
        let Req {
            label,
            who,
            method,
            path,
            body,
            expect,
            done,
        } = req;
        for try_no in 1..=self.tries {
            // Boxed: the handlers' futures are large, and a session holds many.
            let r = match who {
                Who::Okta => Box::pin(self.w.okta.scim(method, path.clone(), body.clone())).await,
                Who::Entra => Box::pin(self.w.entra.scim(method, path.clone(), body.clone())).await,
                Who::Admin => Box::pin(self.w.okta.org_admin(method, &path, body.clone())).await,
            };
            if r.status == expect {
                return Some(r);
            }
            let after_failure = try_no > 1;
            if after_failure
                && ((done == Done::Created && r.status == 409)
                    || (done == Done::Gone && r.status == 404))
            {
                return Some(r);
            }
            self.failed.push(Failed {
                step: self.step,
                label,
                try_no,
                status: r.status,
                retry_after: r.header("retry-after").map(str::to_string),
                detail: r.body["detail"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| r.body.to_string()),
            });
        }
        None
    }

    async fn create(
        &mut self,
        label: &'static str,
        who: Who,
        resource: &str,
        name: &str,
        body: Value,
    ) -> bool {
        let Some(r) = self
            .send(Req {
                label,
                who,
                method: "POST",
                path: format!("/{resource}"),
                body: Some(body),
                expect: 201,
                done: Done::Created,
            })
            .await
        else {
            return false;
        };
        let key = format!("{who:?}:{name}");
        if r.status == 201 {
            self.ids
                .insert(key, r.body["id"].as_str().unwrap_or_default().to_string());
            return true;
        }
        // Created by a try whose answer was lost: find it as the IdP would.
        let attr = if resource == "Users" {
            "userName"
        } else {
            "displayName"
        };
        let filter = format!("/{resource}?filter={attr}+eq+%22{name}%22");
        let Some(found) = self
            .send(Req {
                label,
                who,
                method: "GET",
                path: filter,
                body: None,
                expect: 200,
                done: Done::No,
            })
            .await
        else {
            return false;
        };
        match found.body["Resources"][0]["id"].as_str() {
            Some(id) => {
                self.ids.insert(key, id.to_string());
                true
            }
            None => false,
        }
    }

    async fn patch(
        &mut self,
        label: &'static str,
        who: Who,
        path: String,
        ops: Value,
        expect: u16,
    ) -> bool {
        self.send(Req {
            label,
            who,
            method: "PATCH",
            path,
            body: Some(patch_op(ops)),
            expect,
            done: Done::No,
        })
        .await
        .is_some()
    }

    fn bulk_values(&self, range: std::ops::Range<usize>) -> Value {
        Value::Array(
            self.w.bulk[range]
                .iter()
                .map(|u| json!({"value": u}))
                .collect(),
        )
    }

    /// Runs step `k`; `false` when its request never got its expected answer.
    pub async fn run_step(&mut self, k: usize) -> bool {
        self.step = k;
        let o = Who::Okta;
        let e = Who::Entra;
        let user = |s: &Self, n: &str| format!("/Users/{}", s.id(&format!("Okta:{n}@example.com")));
        let euser = |s: &Self, n: &str| format!("/Users/{}", s.id(&format!("Entra:{n}")));
        let group = |s: &Self, w: Who, n: &str| format!("/Groups/{}", s.id(&format!("{w:?}:{n}")));
        match k {
            // Okta looks a user up before creating it.
            0 => self.send(Req { label: "okta GET userName filter", who: o, method: "GET", path: "/Users?filter=userName+eq+%22alice%40example.com%22".into(), body: None, expect: 200, done: Done::No })
                .await
                .is_some(),
            1..=3 => {
                let n = ["alice", "bob", "carol"][k - 1];
                let email = format!("{n}@example.com");
                self.create("okta POST /Users (L1)", o, "Users", &email, okta_user(&email, &email)).await
            }
            // Okta deactivates and reactivates with a no-path replace (L6, S5).
            4 => {
                let p = user(self, "alice");
                self.patch("okta PATCH replace {active:false} (L6)", o, p, json!([{"op": "replace", "value": {"active": false}}]), 200).await
            }
            5 => {
                let p = user(self, "alice");
                self.patch("okta PATCH replace {active:true} (L6)", o, p, json!([{"op": "replace", "value": {"active": true}}]), 200).await
            }
            // Okta's PUT of the whole user (S6).
            6 => {
                let p = user(self, "bob");
                let mut body = okta_user("bob@example.com", "bob@example.com");
                body["name"] = json!({"givenName": "Robert", "familyName": "User"});
                self.send(Req { label: "okta PUT /Users (S6)", who: o, method: "PUT", path: p, body: Some(body), expect: 200, done: Done::No }).await.is_some()
            }
            // A managed account's email changes with its SCIM user (L5).
            7 => {
                let p = user(self, "carol");
                self.patch("okta PATCH email change (L5 managed)", o, p, json!([{"op": "replace", "path": "emails", "value": [{"primary": true, "value": "carol.new@example.com", "type": "work"}]}]), 200).await
            }
            8 => {
                let members = json!([{"value": self.id("Okta:alice@example.com")}, {"value": self.id("Okta:bob@example.com")}]);
                self.create("okta POST /Groups (G1)", o, "Groups", "Engineering", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Engineering", "members": members})).await
            }
            // Big membership changes: over 100 actions, the store splits the plan.
            9 => {
                let p = group(self, o, "Engineering");
                let v = self.bulk_values(0..BULK);
                self.patch("okta PATCH add 150 members (split plan)", o, p, json!([{"op": "add", "path": "members", "value": v}]), 204).await
            }
            10 => {
                let p = group(self, o, "Engineering");
                let v = self.bulk_values(0..BULK_REMOVED);
                self.patch("okta PATCH remove 120 members (split plan)", o, p, json!([{"op": "remove", "path": "members", "value": v}]), 204).await
            }
            // A group named like the admins' group is held (G2), then synced by an admin (G3).
            11 => {
                let members = json!([{"value": self.id("Okta:alice@example.com")}, {"value": self.id("Okta:carol@example.com")}]);
                self.create("okta POST /Groups held (G2)", o, "Groups", "JIRA-Users", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "JIRA-Users", "members": members})).await
            }
            12 => {
                let p = group(self, o, "JIRA-Users");
                let v = json!([{"value": self.id("Okta:bob@example.com")}]);
                self.patch("okta PATCH add to held group (G2)", o, p, json!([{"op": "add", "path": "members", "value": v}]), 204).await
            }
            13 => {
                let path = format!("/conflicts/{}/{}/sync", self.w.okta.directory_id, self.id("Okta:JIRA-Users"));
                self.send(Req { label: "admin POST conflict sync (G3)", who: Who::Admin, method: "POST", path, body: None, expect: 200, done: Done::Gone }).await.is_some()
            }
            14 => {
                let p = group(self, o, "JIRA-Users");
                let a = self.id("Okta:alice@example.com");
                self.patch("okta PATCH remove member by filter (S5)", o, p, json!([{"op": "remove", "path": format!("members[value eq \"{a}\"]")}]), 204).await
            }
            // L7: delete a user that is in two groups.
            15 => {
                let p = user(self, "bob");
                self.send(Req { label: "okta DELETE user in groups (L7)", who: o, method: "DELETE", path: p, body: None, expect: 204, done: Done::Gone }).await.is_some()
            }
            16 => {
                let members = json!([{"value": self.id("Okta:alice@example.com")}]);
                self.create("okta POST /Groups (G1)", o, "Groups", "Temp", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Temp", "members": members})).await
            }
            17 => {
                let p = group(self, o, "Temp");
                self.send(Req { label: "okta DELETE group", who: o, method: "DELETE", path: p, body: None, expect: 204, done: Done::Gone }).await.is_some()
            }
            18 => {
                let body = json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
                    "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
                    "userName": "dave",
                    "active": true,
                    "emails": [{"primary": true, "type": "work", "value": "Dave@Example.com"}],
                    "meta": {"resourceType": "User"},
                    "name": {"formatted": "Dave D", "familyName": "D", "givenName": "Dave"},
                    "roles": [],
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Engineering", "manager": {"value": "boss"}}
                });
                self.create("entra POST /Users (L1)", e, "Users", "dave", body).await
            }
            19 => {
                let body = json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "externalId": "5b0e3a8c-4a3e-4c59-9a40-07f1b1f0e0aa",
                    "userName": "erin",
                    "active": true,
                    "emails": [{"primary": true, "type": "work", "value": "erin@partner.org"}],
                    "name": {"familyName": "E", "givenName": "Erin"}
                });
                self.create("entra POST /Users external (L1/L2)", e, "Users", "erin", body).await
            }
            // Entra's capitalized ops and string booleans (S5, L6).
            20 => {
                let p = euser(self, "dave");
                self.patch("entra PATCH Replace active \"False\" (S5/L6)", e, p, json!([
                    {"op": "Replace", "path": "active", "value": "False"},
                    {"op": "Add", "path": "title", "value": "Engineer"},
                    {"op": "Replace", "path": "name.givenName", "value": "David"}
                ]), 200).await
            }
            21 => {
                let p = euser(self, "dave");
                self.patch("entra PATCH Replace active \"True\" (S5/L6)", e, p, json!([{"op": "Replace", "path": "active", "value": "True"}]), 200).await
            }
            // An external account's email changes: the link moves (L5).
            22 => {
                let p = euser(self, "erin");
                self.patch("entra PATCH email change (L5 external)", e, p, json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "erin@partner2.org"}]), 200).await
            }
            23 => self.create("entra POST /Groups (G1)", e, "Groups", "Sales", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Sales", "members": []})).await,
            24 => {
                let p = group(self, e, "Sales");
                let v = json!([{"value": self.id("Entra:dave")}, {"value": self.id("Entra:erin")}]);
                self.patch("entra PATCH Add members (S5)", e, p, json!([{"op": "Add", "path": "members", "value": v}]), 204).await
            }
            25 => {
                let p = group(self, e, "Sales");
                let v = json!([{"value": self.id("Entra:erin")}]);
                self.patch("entra PATCH Remove members value list (S5)", e, p, json!([{"op": "Remove", "path": "members", "value": v}]), 204).await
            }
            26 => {
                let p = group(self, e, "Sales");
                self.patch("entra PATCH Replace displayName (S5)", e, p, json!([{"op": "Replace", "path": "displayName", "value": "Sales EMEA"}]), 204).await
            }
            27 => {
                let p = euser(self, "dave");
                self.send(Req { label: "entra DELETE user in a group (L7)", who: e, method: "DELETE", path: p, body: None, expect: 204, done: Done::Gone }).await.is_some()
            }
            28 => self.send(Req { label: "entra GET externalId filter (S2)", who: e, method: "GET", path: "/Users?filter=externalId+eq+%225b0e3a8c-4a3e-4c59-9a40-07f1b1f0e0aa%22".into(), body: None, expect: 200, done: Done::No })
                .await
                .is_some(),
            29 => self.create("okta POST /Users (L1)", o, "Users", "dan@example.com", okta_user("dan@example.com", "dan@example.com")).await,
            30 => {
                let p = group(self, o, "Engineering");
                let v = json!([{"value": self.id("Okta:dan@example.com")}]);
                self.patch("okta PATCH add one member (S5)", o, p, json!([{"op": "add", "path": "members", "value": v}]), 204).await
            }
            31 => {
                let p = user(self, "alice");
                self.patch("okta PATCH email change (L5 managed)", o, p, json!([{"op": "replace", "path": "emails", "value": [{"primary": true, "value": "alice.b@example.com", "type": "work"}]}]), 200).await
            }
            _ => true,
        }
    }

    pub async fn run_all(&mut self) -> bool {
        let mut ok = true;
        for k in 0..STEPS {
            ok &= Box::pin(self.run_step(k)).await;
        }
        ok
    }
}

/// The reference: the session without faults, once per test binary. Its final state, the
/// DynamoDB attempts of each step, and the operation of every attempt in order.
pub struct Reference {
    pub state: Value,
    pub per_step: Vec<usize>,
    pub ops: Vec<String>,
}

static REFERENCE: OnceCell<Reference> = OnceCell::const_new();

pub async fn reference() -> &'static Reference {
    REFERENCE.get_or_init(clean_run).await
}

async fn clean_run() -> Reference {
    let w = World::new(false).await;
    let mut s = Session::new(&w);
    let mut per_step = Vec::new();
    let mut ops = Vec::new();
    for k in 0..STEPS {
        w.faults.arm(None);
        let ok = Box::pin(s.run_step(k)).await;
        per_step.push(w.faults.calls());
        ops.extend(w.faults.attempts().into_iter().map(|a| a.op));
        w.faults.disarm();
        assert!(ok, "step {k} of the clean session failed: {:?}", s.failed);
    }
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    let v = w.violations().await;
    assert!(v.is_empty(), "clean session: {}", v.join("\n  "));
    let state = w.state().await;
    w.delete().await;
    Reference {
        state,
        per_step,
        ops,
    }
}

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

/// Positions (from 1) of the reference's attempts to inject at. Every position with
/// `SCIMLINK_FAULT_STRIDE=1` (the exhaustive matrix: about 140 runs per fault kind and retry
/// setting, some 10 minutes each). By default, to keep the whole matrix at a few minutes,
/// a fixed stride over the write attempts (where partial writes and lost answers happen) for
/// `SCIMLINK_FAULT_WRITES` runs (default 5) and over the read attempts for
/// `SCIMLINK_FAULT_READS` runs (default 2), each fault kind and retry setting starting at
/// another `offset`, so that together the tests cover more positions.
pub fn positions(ops: &[String], offset: usize) -> Vec<usize> {
    let all: Vec<usize> = (1..=ops.len()).collect();
    if let Some(stride) = env_usize("SCIMLINK_FAULT_STRIDE").filter(|s| *s > 0) {
        return all
            .into_iter()
            .skip(offset % stride)
            .step_by(stride)
            .collect();
    }
    let pick = |want: bool, budget: usize| -> Vec<usize> {
        let of_kind: Vec<usize> = all
            .iter()
            .copied()
            .filter(|p| is_write(&ops[p - 1]) == want)
            .collect();
        let stride = of_kind.len().div_ceil(budget.max(1)).max(1);
        of_kind
            .into_iter()
            .skip(offset % stride)
            .step_by(stride)
            .collect()
    };
    let mut out = pick(true, env_usize("SCIMLINK_FAULT_WRITES").unwrap_or(5));
    out.extend(pick(false, env_usize("SCIMLINK_FAULT_READS").unwrap_or(2)));
    out.sort();
    out
}

/// Runs the session with `fault` once at each sampled position; returns every problem.
async fn matrix(fault: Fault, sdk_retries: bool, offset: usize) -> Vec<String> {
    let reference = reference().await;
    let want = &reference.state;
    let mut problems = Vec::new();
    for at in positions(&reference.ops, offset) {
        let w = World::new(sdk_retries).await;
        let mut s = Session::new(&w);
        w.faults.arm(Some(Injection {
            fault,
            at,
            mode: Mode::Once,
        }));
        let completed = s.run_all().await;
        let injected = w.faults.injected();
        w.faults.disarm();
        let hit = injected
            .first()
            .map(|a| format!("call {} ({})", a.n, a.op))
            .unwrap_or_else(|| format!("call {at} (not reached)"));
        let ctx = format!("{fault:?} once at {hit}, sdk retries {sdk_retries}");
        for f in &s.failed {
            let good = f.status == fault.expected_status() && f.retry_after.is_some();
            if !good {
                problems.push(format!(
                    "{ctx}: step {} '{}' try {} answered {} (Retry-After {:?}), want {} with Retry-After: {}",
                    f.step, f.label, f.try_no, f.status, f.retry_after, fault.expected_status(), f.detail
                ));
            }
        }
        if !completed {
            problems.push(format!(
                "{ctx}: a request never succeeded after {IDP_TRIES} tries"
            ));
        }
        for v in w.violations().await {
            problems.push(format!("{ctx}: invariant: {v}"));
        }
        for d in state_diff(want, &w.state().await) {
            problems.push(format!("{ctx}: final state: {d}"));
        }
        w.delete().await;
    }
    problems
}

/// Fails the test with every problem found, one a line.
pub fn report(name: &str, problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "{name}: {} problems:\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

#[tokio::test]
async fn e1_l1_l5_l7_g2_g3_clean_session_keeps_every_invariant() {
    let started = std::time::Instant::now();
    template().await;
    let built = started.elapsed();
    let r = reference().await;
    eprintln!(
        "template {built:?}, run {:?}; DynamoDB attempts per step: {:?} = {}",
        started.elapsed() - built,
        r.per_step,
        r.ops.len()
    );
    let state = &r.state;
    // alice, dan and the 30 bulk users left (bob was deleted, L7).
    assert_eq!(
        state["groups"]["okta:Engineering"]["members"]
            .as_array()
            .map(Vec::len),
        Some(BULK - BULK_REMOVED + 2)
    );
    assert_eq!(
        state["groups"]["okta:JIRA-Users"]["members"],
        json!(["carol@example.com"])
    );
    assert_eq!(state["orgGroups"]["jira-users"]["managedBy"], "okta");
    assert_eq!(
        state["orgGroups"]["jira-users"]["members"],
        json!(["carol.new@example.com"])
    );
    assert_eq!(state["accounts"]["bob@example.com"]["status"], "suspended");
    assert_eq!(state["accounts"]["erin@partner.org"]["linked"], Value::Null);
    assert_eq!(
        state["accounts"]["erin@partner2.org"]["linked"],
        "entra:erin"
    );
    assert_eq!(state["groups"]["entra:Sales EMEA"]["members"], json!([]));
    assert_eq!(state["conflicts"], json!([]));
}

macro_rules! fault_matrix {
    ($name:ident, $fault:expr, $retries:expr, $offset:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            report(stringify!($name), matrix($fault, $retries, $offset).await);
        }
    };
}

// S7: throttling answers 429 with Retry-After; E1/L1-L7/G1-G3: state and invariants survive.
fault_matrix!(
    s7_session_survives_throttling_once_sdk_retries_off,
    Fault::Throttling,
    false,
    0
);
fault_matrix!(
    s7_session_survives_throttling_once_sdk_retries_on,
    Fault::Throttling,
    true,
    1
);
// S7: a failed condition is a lost race: the service loads, plans and applies again.
fault_matrix!(
    s7_session_survives_condition_failed_once_sdk_retries_off,
    Fault::ConditionFailed,
    false,
    2
);
fault_matrix!(
    s7_session_survives_condition_failed_once_sdk_retries_on,
    Fault::ConditionFailed,
    true,
    3
);
fault_matrix!(
    s7_session_survives_transaction_conflict_once_sdk_retries_off,
    Fault::TransactionConflict,
    false,
    4
);
fault_matrix!(
    s7_session_survives_transaction_conflict_once_sdk_retries_on,
    Fault::TransactionConflict,
    true,
    5
);
// S7: a timeout (the write may have happened) answers 503; the IdP's retry converges.
fault_matrix!(
    s7_session_survives_timeout_once_sdk_retries_off,
    Fault::Timeout,
    false,
    6
);
fault_matrix!(
    s7_session_survives_timeout_once_sdk_retries_on,
    Fault::Timeout,
    true,
    7
);
fault_matrix!(
    s7_session_survives_internal_error_once_sdk_retries_off,
    Fault::InternalError,
    false,
    8
);
fault_matrix!(
    s7_session_survives_internal_error_once_sdk_retries_on,
    Fault::InternalError,
    true,
    9
);
