//! The invariants of the whole table, checked over one tenant's raw items.
//!
//! Tests share one table and run in parallel, so a check reads only its org's tenant: every
//! key starts with `ORG#<orgId>` or `DIR#<directoryId>` (store/keys.rs), and the org's
//! directories are listed first (gsi1 `ORG#<org>#DIRECTORIES`). It is a paginated,
//! strongly consistent Scan of the table through `store.client()`, filtered on those key
//! prefixes (and filtered again exactly in Rust: `ORG#<org>` must be followed by `#` or
//! nothing). Tokens (`TOKEN#<hash>`) are not tenant-prefixed and are not checked.
//!
//! It is a reader of raw items: it decodes them with the store's public decoders and the
//! model's serde types, never through the services' own reads.
//!
//! What it checks (each violation names the rule):
//! - guards (X4/L1/L3/G5 uniqueness): every userName, externalId and group name guard of a
//!   directory, every account email and org group name guard of the org, names a live item
//!   that still has that value; every live item has its guards; every email index entry
//!   (`DIR#d#USEREMAIL#<email>`) names a live user with that email and every user's emails
//!   are indexed (S2);
//! - L3: no account has two SCIM holders across the org's directories; a user's `accountId`
//!   and its account's `link` agree both ways;
//! - L1: no email has two accounts;
//! - G6/L7: no membership item (SCIM or admin) names a missing user, group, account or org
//!   group;
//! - G2/G3: no held conflict is missing its SCIM group (which must be held and name the
//!   conflict's org group), and every held SCIM group is listed as a conflict; a directory-
//!   managed org group and its SCIM group name each other;
//! - E1 "every change has its log event": events are written in the same transaction as the
//!   change they report, with the plan's `now` as both the event's `time` and the record's
//!   `lastModified`. So the latest change of every live record has an event with exactly
//!   that time: for a SCIM user or group, in its directory's log partition of that day
//!   (`DIR#d#LOG#<day>`) with `scimId` = its id; for an account or an org group (changed by
//!   SCIM writes or admin calls), in any log partition of the tenant. This proves the last
//!   change of every live record was logged; earlier versions and deleted records leave no
//!   item to check against (their events are checked by the session tests' outcomes).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use scimlink::directory::groups::display_name;
use scimlink::directory::model::{
    AccountRecord, ConflictRecord, EventRecord, GroupRecord, LinkRef, ManagedBy, OrgGroupRecord,
    UserRecord,
};
use scimlink::directory::users::{indexed_emails, user_name_lower};
use scimlink::scim::resource::external_id;
use scimlink::store::{event_from_item, group_from_item, keys, user_from_item, Item, Store};

pub type Key = (String, String);
/// A tenant's items by (pk, sk).
pub type Items = BTreeMap<Key, Item>;

fn s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

/// The directories of an org (gsi1 `ORG#<org>#DIRECTORIES`).
pub async fn directories_of(store: &Store, org_id: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let page = store
            .client()
            .query()
            .table_name(store.table())
            .index_name(keys::GSI1)
            .key_condition_expression("gsi1pk = :p")
            .expression_attribute_values(":p", AttributeValue::S(keys::directories_of(org_id)))
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("query the org's directories");
        for i in page.items() {
            if let Some(pk) = s(i, "pk") {
                out.push(pk.trim_start_matches("DIR#").to_string());
            }
        }
        match page.last_evaluated_key {
            Some(k) => start = Some(k),
            None => break,
        }
    }
    out.sort();
    out
}

fn in_prefix(pk: &str, prefix: &str) -> bool {
    pk == prefix
        || pk
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('#'))
}

/// Every item of the org's tenant: a paginated, strongly consistent Scan of the table.
pub async fn tenant_items(store: &Store, org_id: &str) -> Items {
    let dirs = directories_of(store, org_id).await;
    let mut prefixes = vec![format!("ORG#{org_id}")];
    prefixes.extend(dirs.iter().map(|d| format!("DIR#{d}")));
    let filter = (0..prefixes.len())
        .map(|i| format!("begins_with(pk, :p{i})"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let mut out = Items::new();
    let mut start = None;
    loop {
        let mut scan = store
            .client()
            .scan()
            .table_name(store.table())
            .consistent_read(true)
            .filter_expression(&filter)
            .set_exclusive_start_key(start);
        for (i, p) in prefixes.iter().enumerate() {
            scan = scan.expression_attribute_values(format!(":p{i}"), AttributeValue::S(p.clone()));
        }
        let page = scan.send().await.expect("scan the table");
        for item in page.items() {
            let (Some(pk), Some(sk)) = (s(item, "pk"), s(item, "sk")) else {
                continue;
            };
            if prefixes.iter().any(|p| in_prefix(pk, p)) {
                out.insert((pk.to_string(), sk.to_string()), item.clone());
            }
        }
        match page.last_evaluated_key {
            Some(k) => start = Some(k),
            None => break,
        }
    }
    out
}

/// The tenant's items, decoded.
#[derive(Default)]
pub struct Tenant {
    /// (directory, id)
    pub users: BTreeMap<(String, String), UserRecord>,
    pub groups: BTreeMap<(String, String), GroupRecord>,
    pub accounts: BTreeMap<String, AccountRecord>,
    pub org_groups: BTreeMap<String, OrgGroupRecord>,
    pub conflicts: Vec<ConflictRecord>,
    /// (scope: directory or org id, kind, value) -> owner
    pub guards: BTreeMap<(String, String, String), String>,
    /// (directory, email, user id)
    pub user_emails: BTreeSet<(String, String, String)>,
    /// (directory, group id, user id)
    pub members: BTreeSet<(String, String, String)>,
    /// (org group id, account id)
    pub org_members: BTreeSet<(String, String)>,
    /// (partition, event)
    pub events: Vec<(String, EventRecord)>,
    /// E5: every change event, by transaction.
    pub changes: Vec<scimlink::directory::model::ChangeRecord>,
    /// directory id -> idp
    pub directories: BTreeMap<String, String>,
    /// Items that could not be decoded or classified.
    pub unreadable: Vec<String>,
}

fn data<T: serde::de::DeserializeOwned>(item: &Item) -> Result<T, String> {
    let d = s(item, "data").ok_or("no data")?;
    serde_json::from_str(d).map_err(|e| e.to_string())
}

/// `DIR#<d>#<KIND>#<value>` or `ORG#<o>#<KIND>#<value>` -> (tenant id, kind, value).
fn split_key(pk: &str) -> Option<(String, String, String)> {
    let rest = pk
        .strip_prefix("DIR#")
        .or_else(|| pk.strip_prefix("ORG#"))?;
    let (tenant, rest) = rest.split_once('#')?;
    let (kind, value) = rest.split_once('#').unwrap_or((rest, ""));
    Some((tenant.to_string(), kind.to_string(), value.to_string()))
}

impl Tenant {
    pub fn decode(items: &Items) -> Tenant {
        let mut t = Tenant::default();
        for ((pk, sk), item) in items {
            let kind = s(item, "type").unwrap_or("");
            let split = split_key(pk);
            let dir = split.as_ref().map(|x| x.0.clone()).unwrap_or_default();
            let res: Result<(), String> = (|| {
                match kind {
                    "org" => {}
                    "directory" => {
                        let d: scimlink::directory::model::DirectoryRecord = data(item)?;
                        t.directories.insert(d.id, d.idp);
                    }
                    "user" => {
                        let u = user_from_item(&dir, item).map_err(|e| e.to_string())?;
                        t.users.insert((dir.clone(), u.id.clone()), u);
                    }
                    "group" => {
                        let g = group_from_item(&dir, item).map_err(|e| e.to_string())?;
                        t.groups.insert((dir.clone(), g.id.clone()), g);
                    }
                    "account" => {
                        let a: AccountRecord = data(item)?;
                        t.accounts.insert(a.id.clone(), a);
                    }
                    "org-group" => {
                        let g: OrgGroupRecord = data(item)?;
                        t.org_groups.insert(g.id.clone(), g);
                    }
                    "conflict" => t.conflicts.push(data(item)?),
                    "guard" => {
                        let (scope, kind, value) = split.clone().ok_or("guard key")?;
                        let owner = s(item, "owner").ok_or("guard without owner")?;
                        t.guards.insert((scope, kind, value), owner.to_string());
                    }
                    "user-email" => {
                        let (_, _, email) = split.clone().ok_or("email index key")?;
                        let uid = s(item, "userId").ok_or("no userId")?;
                        t.user_emails.insert((dir.clone(), email, uid.to_string()));
                    }
                    "member" => {
                        let uid = s(item, "userId").ok_or("no userId")?;
                        let gid = s(item, "groupId").ok_or("no groupId")?;
                        if sk != &format!("{}{uid}", keys::MEMBER_PREFIX)
                            || pk != &keys::group_partition(&dir, gid)
                        {
                            return Err("member item keys disagree with its body".into());
                        }
                        t.members
                            .insert((dir.clone(), gid.to_string(), uid.to_string()));
                    }
                    "org-member" => {
                        let aid = s(item, "accountId").ok_or("no accountId")?;
                        let ogid = s(item, "orgGroupId").ok_or("no orgGroupId")?;
                        t.org_members.insert((ogid.to_string(), aid.to_string()));
                    }
                    "event" => {
                        let e = event_from_item(item).map_err(|e| e.to_string())?;
                        t.events.push((pk.clone(), e));
                    }
                    "change" => {
                        let data = s(item, "data").ok_or("no data")?;
                        let b: scimlink::directory::model::ChangeBatch =
                            serde_json::from_str(data).map_err(|e| e.to_string())?;
                        t.changes.extend(b.events);
                    }
                    // Subscriptions, their delivery state and queues (E5): delivery data.
                    "subscription" | "delivery" | "subscription-state" => {}
                    other => return Err(format!("unknown item type '{other}'")),
                }
                Ok(())
            })();
            if let Err(e) = res {
                t.unreadable.push(format!("{pk} / {sk}: {e}"));
            }
        }
        t
    }

    /// The account of a SCIM user, and the SCIM user (directory, id) of an account.
    pub fn holders(&self) -> HashMap<&str, Vec<(&str, &str)>> {
        let mut out: HashMap<&str, Vec<(&str, &str)>> = HashMap::new();
        for ((d, id), u) in &self.users {
            if let Some(a) = &u.account_id {
                out.entry(a.as_str())
                    .or_default()
                    .push((d.as_str(), id.as_str()));
            }
        }
        out
    }
}

/// Every violation of the invariants in the tenant's items; empty when all hold.
pub fn check(org_id: &str, items: &Items) -> Vec<String> {
    let t = Tenant::decode(items);
    let mut v: Vec<String> = t
        .unreadable
        .iter()
        .map(|u| format!("unreadable item {u}"))
        .collect();
    let guard = |scope: &str, kind: &str, value: &str| {
        t.guards
            .get(&(scope.to_string(), kind.to_string(), value.to_string()))
    };

    // Live items have their guards and index entries.
    for ((d, id), u) in &t.users {
        let name = user_name_lower(&u.doc);
        match guard(d, "USERNAME", &name) {
            Some(o) if o == id => {}
            other => v.push(format!(
                "S2/L1: user {d}/{id} '{name}' has userName guard {other:?}"
            )),
        }
        if let Some(ext) = external_id(&u.doc) {
            match guard(d, "EXTID", ext) {
                Some(o) if o == id => {}
                other => v.push(format!(
                    "S2: user {d}/{id} externalId '{ext}' has guard {other:?}"
                )),
            }
        }
        for e in indexed_emails(&u.doc) {
            if !t.user_emails.contains(&(d.clone(), e.clone(), id.clone())) {
                v.push(format!("S2: user {d}/{id} email '{e}' is not indexed"));
            }
        }
    }
    for ((d, id), g) in &t.groups {
        let name = display_name(&g.doc).to_lowercase();
        match guard(d, "GROUPNAME", &name) {
            Some(o) if o == id => {}
            other => v.push(format!(
                "G5: group {d}/{id} '{name}' has name guard {other:?}"
            )),
        }
    }
    let mut by_email: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (id, a) in &t.accounts {
        by_email.entry(a.email.as_str()).or_default().push(id);
        match guard(org_id, "EMAIL", &a.email) {
            Some(o) if o == id => {}
            other => v.push(format!(
                "L1: account {id} '{}' has email guard {other:?}",
                a.email
            )),
        }
    }
    for (email, ids) in &by_email {
        if ids.len() > 1 {
            v.push(format!(
                "L1: email '{email}' has {} accounts: {ids:?}",
                ids.len()
            ));
        }
    }
    for (id, g) in &t.org_groups {
        match guard(org_id, "OGROUPNAME", &g.name.to_lowercase()) {
            Some(o) if o == id => {}
            other => v.push(format!(
                "G1: org group {id} '{}' has name guard {other:?}",
                g.name
            )),
        }
    }

    // Every guard and index entry names a live item that has the value.
    for ((scope, kind, value), owner) in &t.guards {
        let ok = match kind.as_str() {
            "USERNAME" => t
                .users
                .get(&(scope.clone(), owner.clone()))
                .is_some_and(|u| &user_name_lower(&u.doc) == value),
            "EXTID" => t
                .users
                .get(&(scope.clone(), owner.clone()))
                .is_some_and(|u| external_id(&u.doc) == Some(value.as_str())),
            "GROUPNAME" => t
                .groups
                .get(&(scope.clone(), owner.clone()))
                .is_some_and(|g| &display_name(&g.doc).to_lowercase() == value),
            "EMAIL" => scope == org_id && t.accounts.get(owner).is_some_and(|a| &a.email == value),
            "OGROUPNAME" => {
                scope == org_id
                    && t.org_groups
                        .get(owner)
                        .is_some_and(|g| &g.name.to_lowercase() == value)
            }
            _ => false,
        };
        if !ok {
            v.push(format!(
                "guard {kind} '{value}' of {scope} names {owner}, which is missing or has another value"
            ));
        }
    }
    for (d, email, uid) in &t.user_emails {
        if !t
            .users
            .get(&(d.clone(), uid.clone()))
            .is_some_and(|u| indexed_emails(&u.doc).contains(email))
        {
            v.push(format!(
                "S2: email index '{email}' of {d} names user {uid}, which is missing or has another email"
            ));
        }
    }

    // L3: one holder per account, and links agree both ways.
    let holders = t.holders();
    for (a, hs) in &holders {
        if hs.len() > 1 {
            v.push(format!(
                "L3: account {a} has {} SCIM holders: {hs:?}",
                hs.len()
            ));
        }
    }
    for ((d, id), u) in &t.users {
        if let Some(a) = &u.account_id {
            let want = LinkRef {
                directory_id: d.clone(),
                user_id: id.clone(),
            };
            match t.accounts.get(a) {
                None => v.push(format!("L1: user {d}/{id} links to missing account {a}")),
                Some(acc) if acc.link.as_ref() != Some(&want) => v.push(format!(
                    "L3: user {d}/{id} links to account {a} ({}), whose link is {:?}",
                    acc.email, acc.link
                )),
                Some(_) => {}
            }
        }
    }
    for (id, a) in &t.accounts {
        if let Some(l) = &a.link {
            let back = t
                .users
                .get(&(l.directory_id.clone(), l.user_id.clone()))
                .and_then(|u| u.account_id.as_deref());
            if back != Some(id.as_str()) {
                v.push(format!(
                    "L3: account {id} ({}) links to {}/{}, which links to {back:?}",
                    a.email, l.directory_id, l.user_id
                ));
            }
        }
    }

    // Memberships name live things.
    for (d, g, u) in &t.members {
        if !t.groups.contains_key(&(d.clone(), g.clone())) {
            v.push(format!("G6: membership {d}/{g}/{u} names a missing group"));
        }
        if !t.users.contains_key(&(d.clone(), u.clone())) {
            v.push(format!(
                "G6/L7: membership {d}/{g}/{u} names a missing user"
            ));
        }
    }
    for (og, a) in &t.org_members {
        if !t.org_groups.contains_key(og) {
            v.push(format!(
                "G7: admin membership {og}/{a} names a missing org group"
            ));
        }
        if !t.accounts.contains_key(a) {
            v.push(format!(
                "G7: admin membership {og}/{a} names a missing account"
            ));
        }
    }

    // G2/G3: conflicts and held groups, org groups and their SCIM groups.
    let mut conflicted = BTreeSet::new();
    for c in &t.conflicts {
        conflicted.insert((c.directory_id.clone(), c.group_id.clone()));
        match t
            .groups
            .get(&(c.directory_id.clone(), c.group_id.clone()))
        {
            None => v.push(format!(
                "G2: conflict '{}' is missing its SCIM group {}/{}",
                c.name, c.directory_id, c.group_id
            )),
            Some(g) if !g.held || g.org_group_id.as_deref() != Some(c.org_group_id.as_str()) => {
                v.push(format!(
                    "G2: conflict '{}' names group {}/{} which is held={} with org group {:?} (conflict says {})",
                    c.name, c.directory_id, c.group_id, g.held, g.org_group_id, c.org_group_id
                ))
            }
            Some(_) => {}
        }
        if !t.org_groups.contains_key(&c.org_group_id) {
            v.push(format!(
                "G2: conflict '{}' names missing org group {}",
                c.name, c.org_group_id
            ));
        }
    }
    for ((d, id), g) in &t.groups {
        if g.held && !conflicted.contains(&(d.clone(), id.clone())) {
            v.push(format!(
                "G2: held group {d}/{id} '{}' is not listed as a conflict",
                display_name(&g.doc)
            ));
        }
        if let (false, Some(og)) = (g.held, &g.org_group_id) {
            let ok = t.org_groups.get(og).is_some_and(|o| {
                o.managed_by
                    == ManagedBy::Directory {
                        directory_id: d.clone(),
                    }
                    && o.scim_group
                        .as_ref()
                        .is_some_and(|r| &r.directory_id == d && &r.group_id == id)
            });
            if !ok {
                v.push(format!(
                    "G1: group {d}/{id} '{}' links to org group {og}, which is missing or not managed through it",
                    display_name(&g.doc)
                ));
            }
        }
    }
    for (id, og) in &t.org_groups {
        if let ManagedBy::Directory { directory_id } = &og.managed_by {
            let ok = og.scim_group.as_ref().is_some_and(|r| {
                &r.directory_id == directory_id
                    && t.groups
                        .get(&(r.directory_id.clone(), r.group_id.clone()))
                        .is_some_and(|g| !g.held && g.org_group_id.as_deref() == Some(id))
            });
            if !ok {
                v.push(format!(
                    "G1: org group {id} '{}' is managed by directory {directory_id} through {:?}, which does not link back",
                    og.name, og.scim_group
                ));
            }
        }
    }

    // E1: the latest change of every live record has its event.
    let logged: BTreeSet<(&str, Option<&str>, &str)> = t
        .events
        .iter()
        .map(|(pk, e)| (pk.as_str(), e.scim_id.as_deref(), e.time.as_str()))
        .collect();
    let times: BTreeSet<&str> = t.events.iter().map(|(_, e)| e.time.as_str()).collect();
    for ((d, id), u) in &t.users {
        let pk = keys::directory_log(d, keys::day_of(&u.last_modified));
        if !logged.contains(&(pk.as_str(), Some(id.as_str()), u.last_modified.as_str())) {
            v.push(format!(
                "E1: user {d}/{id} '{}' (v{}, {}) has no event of that change",
                user_name_lower(&u.doc),
                u.version,
                u.last_modified
            ));
        }
    }
    for ((d, id), g) in &t.groups {
        let pk = keys::directory_log(d, keys::day_of(&g.last_modified));
        if !logged.contains(&(pk.as_str(), Some(id.as_str()), g.last_modified.as_str())) {
            v.push(format!(
                "E1: group {d}/{id} '{}' (v{}, {}) has no event of that change",
                display_name(&g.doc),
                g.version,
                g.last_modified
            ));
        }
    }
    for (id, a) in &t.accounts {
        if !times.contains(a.last_modified.as_str()) {
            v.push(format!(
                "E1: account {id} '{}' (v{}, {}) has no event of that change",
                a.email, a.version, a.last_modified
            ));
        }
    }
    for (id, g) in &t.org_groups {
        if !times.contains(g.last_modified.as_str()) {
            v.push(format!(
                "E1: org group {id} '{}' (v{}, {}) has no event of that change",
                g.name, g.version, g.last_modified
            ));
        }
    }
    v
}

/// Scans the org's tenant and checks it.
#[allow(dead_code)]
pub async fn check_tenant(store: &Store, org_id: &str) -> Vec<String> {
    check(org_id, &tenant_items(store, org_id).await)
}

/// Panics with every violation, if any.
pub async fn assert_invariants(store: &Store, org_id: &str, context: &str) {
    let v = check_tenant(store, org_id).await;
    assert!(
        v.is_empty(),
        "{context}: {} invariant violations:\n  {}",
        v.len(),
        v.join("\n  ")
    );
}

/// What differs between two snapshots of a tenant: keys added, removed, and changed.
pub fn diff(before: &Items, after: &Items) -> Vec<String> {
    let mut out = Vec::new();
    for (k, item) in after {
        match before.get(k) {
            None => out.push(format!(
                "+ {} / {} ({})",
                k.0,
                k.1,
                s(item, "type").unwrap_or("?")
            )),
            Some(old) if old != item => {
                let mut names: Vec<&String> = item
                    .keys()
                    .chain(old.keys())
                    .filter(|n| item.get(*n) != old.get(*n))
                    .collect();
                names.sort();
                names.dedup();
                out.push(format!("~ {} / {} ({names:?})", k.0, k.1))
            }
            Some(_) => {}
        }
    }
    for k in before.keys() {
        if !after.contains_key(k) {
            out.push(format!("- {} / {}", k.0, k.1));
        }
    }
    out
}
