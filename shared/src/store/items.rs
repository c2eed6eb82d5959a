//! Records to DynamoDB items and back. Records with structure are kept as one JSON
//! attribute (`data` or `doc`) beside the key, index and condition attributes.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::keys;
use super::StoreError;
use crate::directory::model::{EventRecord, GroupRecord, Guard, UserRecord};
use crate::directory::plan::Record;
use crate::directory::users::user_name_lower;

pub type Item = HashMap<String, AttributeValue>;

/// Days a log event is kept before DynamoDB's TTL removes it when `SCIMLINK_LOG_RETENTION_DAYS`
/// does not say otherwise (E1).
pub const DEFAULT_LOG_RETENTION_DAYS: i64 = 90;

/// The log retention in days: `SCIMLINK_LOG_RETENTION_DAYS` (1..=3650), read once.
pub fn log_retention_days() -> i64 {
    static DAYS: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *DAYS.get_or_init(|| {
        std::env::var("SCIMLINK_LOG_RETENTION_DAYS")
            .ok()
            .and_then(|d| d.trim().parse::<i64>().ok())
            .filter(|d| (1..=3650).contains(d))
            .unwrap_or(DEFAULT_LOG_RETENTION_DAYS)
    })
}

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn key_map((pk, sk): (String, String)) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

pub fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

pub fn get_n(item: &Item, name: &str) -> Option<u64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn corrupt(item: &Item, what: &str) -> StoreError {
    StoreError::Corrupt(format!("{} ({what})", get_s(item, "pk").unwrap_or("?")))
}

/// A record kept as JSON in `data`.
pub fn data_item<T: Serialize>(
    key: (String, String),
    kind: &str,
    value: &T,
) -> Result<Item, StoreError> {
    let mut item = key_map(key);
    item.insert("type".into(), s(kind));
    let json = serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    item.insert("data".into(), s(json));
    Ok(item)
}

pub fn from_data<T: DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    let data = get_s(item, "data").ok_or_else(|| corrupt(item, "no data"))?;
    serde_json::from_str(data).map_err(|e| corrupt(item, &e.to_string()))
}

/// The key of the item a record lives in.
pub fn record_key(record: &Record) -> (String, String) {
    match record {
        Record::Org(o) => keys::org(&o.id),
        Record::Directory(d) => keys::directory(&d.id),
        Record::Token(t) => keys::token(&t.hash),
        Record::User(u) => keys::user(&u.directory_id, &u.id),
        Record::Account(a) => keys::account(&a.org_id, &a.id),
        Record::Guard(g, _) => guard_key(g),
        Record::UserEmail {
            directory_id,
            email,
            user_id,
        } => keys::user_email(directory_id, email, user_id),
        Record::Event(e) => event_key(e),
        Record::Subscription(sub) => keys::subscription(&sub.org_id, &sub.id),
        Record::Changes(b) => change_key(b),
        Record::Group(g) => keys::group(&g.directory_id, &g.id),
        Record::Conflict(c) => keys::conflict(&c.org_id, &c.directory_id, &c.group_id),
        Record::OrgGroup(g) => keys::org_group(&g.org_id, &g.id),
        Record::Member {
            directory_id,
            group_id,
            user_id,
        } => keys::member(directory_id, group_id, user_id),
        Record::OrgMember {
            org_id,
            org_group_id,
            account_id,
        } => keys::org_member(org_id, org_group_id, account_id),
        Record::Safeguard(sg) => keys::safeguard(&sg.directory_id),
        Record::CleanupJob(j) => keys::job(&j.directory_id, &j.group_id, j.kind.slot()),
        Record::JobPage(p) => keys::job_page(&p.directory_id, &p.group_id, p.page),
        Record::HeldAccount {
            directory_id,
            account_id,
            ..
        } => keys::held_account(directory_id, account_id),
    }
}

pub fn guard_key(g: &Guard) -> (String, String) {
    match g {
        Guard::UserName {
            directory_id,
            lower,
        } => keys::user_name_guard(directory_id, lower),
        Guard::ExternalId {
            directory_id,
            external_id,
        } => keys::external_id_guard(directory_id, external_id),
        Guard::AccountEmail { org_id, email } => keys::account_email_guard(org_id, email),
        Guard::GroupName {
            directory_id,
            lower,
        } => keys::group_name_guard(directory_id, lower),
        Guard::OrgGroupName { org_id, lower } => keys::org_group_name_guard(org_id, lower),
    }
}

fn event_key(e: &EventRecord) -> (String, String) {
    let day = keys::day_of(&e.time);
    let pk = match &e.directory_id {
        Some(d) => keys::directory_log(d, day),
        None => keys::admin_log(&e.org_id, day),
    };
    (pk, format!("{}#{}", e.time, e.id))
}

/// Where a SCIM resource sits in its directory's listing (GSI1).
struct Listed {
    gsi1pk: String,
    gsi1sk: String,
}

/// A SCIM user or group: its document as JSON in `doc`, its listing entry, its version.
fn scim_item(
    key: (String, String),
    kind: &str,
    listed: Listed,
    id: &str,
    doc: &serde_json::Value,
    (version, created, last_modified): (u64, &str, &str),
) -> Result<Item, StoreError> {
    let mut item = key_map(key);
    item.insert("type".into(), s(kind));
    item.insert("gsi1pk".into(), s(listed.gsi1pk));
    item.insert("gsi1sk".into(), s(listed.gsi1sk));
    item.insert("id".into(), s(id));
    let json = serde_json::to_string(doc).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    item.insert("doc".into(), s(json));
    item.insert("version".into(), n(version));
    item.insert("created".into(), s(created));
    item.insert("lastModified".into(), s(last_modified));
    Ok(item)
}

/// The listing entry of a held account (E4): which account of which org.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeldAccountRef {
    pub org_id: String,
    pub account_id: String,
}

/// The full item for a record.
pub fn record_item(record: &Record) -> Result<Item, StoreError> {
    let key = record_key(record);
    match record {
        Record::Org(o) => {
            let mut item = data_item(key, "org", o)?;
            item.insert("version".into(), n(o.version));
            Ok(item)
        }
        Record::Directory(d) => {
            let mut item = data_item(key, "directory", d)?;
            item.insert("gsi1pk".into(), s(keys::directories_of(&d.org_id)));
            item.insert("gsi1sk".into(), s(&d.id));
            Ok(item)
        }
        Record::Token(t) => {
            let mut item = data_item(key, "token", t)?;
            use crate::directory::model::TokenScope;
            let listing = match &t.scope {
                TokenScope::Directory { directory_id, .. } => {
                    keys::tokens_of(&t.org_id, Some(directory_id))
                }
                TokenScope::OrgAdmin => keys::tokens_of(&t.org_id, None),
                // Listed apart from admin keys, so a receiver's token is never shown or
                // revoked as an admin key; found by its subscription when that is deleted.
                TokenScope::Receiver { subscription_id } => {
                    keys::receiver_tokens_of(&t.org_id, subscription_id)
                }
            };
            item.insert("gsi1pk".into(), s(listing));
            item.insert("gsi1sk".into(), s(&t.id));
            Ok(item)
        }
        Record::User(u) => {
            let mut item = scim_item(
                key,
                "user",
                Listed {
                    gsi1pk: keys::users_of(&u.directory_id),
                    gsi1sk: keys::user_order(&user_name_lower(&u.doc), &u.id),
                },
                &u.id,
                &u.doc,
                (u.version, &u.created, &u.last_modified),
            )?;
            if let Some(a) = &u.account_id {
                item.insert("accountId".into(), s(a));
            }
            Ok(item)
        }
        Record::Account(a) => {
            let mut item = data_item(key, "account", a)?;
            item.insert("gsi1pk".into(), s(keys::accounts_of(&a.org_id)));
            item.insert("gsi1sk".into(), s(&a.email));
            item.insert("version".into(), n(a.version));
            Ok(item)
        }
        Record::Guard(_, owner) => {
            let mut item = key_map(key);
            item.insert("type".into(), s("guard"));
            item.insert("owner".into(), s(owner));
            Ok(item)
        }
        Record::UserEmail { user_id, .. } => {
            let mut item = key_map(key);
            item.insert("type".into(), s("user-email"));
            item.insert("userId".into(), s(user_id));
            Ok(item)
        }
        Record::Group(g) => {
            let mut item = scim_item(
                key,
                "group",
                Listed {
                    gsi1pk: keys::groups_of(&g.directory_id),
                    gsi1sk: keys::group_order(&display_name_lower(&g.doc), &g.id),
                },
                &g.id,
                &g.doc,
                (g.version, &g.created, &g.last_modified),
            )?;
            if let Some(o) = &g.org_group_id {
                item.insert("orgGroupId".into(), s(o));
            }
            item.insert("held".into(), AttributeValue::Bool(g.held));
            if g.members_pending {
                item.insert("membersPending".into(), AttributeValue::Bool(true));
            }
            Ok(item)
        }
        Record::Conflict(c) => {
            let mut item = data_item(key, "conflict", c)?;
            item.insert("gsi1pk".into(), s(keys::conflicts_of(&c.org_id)));
            item.insert(
                "gsi1sk".into(),
                s(format!("{}#{}", c.name.to_lowercase(), c.group_id)),
            );
            Ok(item)
        }
        Record::OrgGroup(g) => {
            let mut item = data_item(key, "org-group", g)?;
            item.insert("gsi1pk".into(), s(keys::org_groups_of(&g.org_id)));
            item.insert("gsi1sk".into(), s(g.name.to_lowercase()));
            item.insert("version".into(), n(g.version));
            Ok(item)
        }
        Record::Member {
            directory_id,
            group_id,
            user_id,
        } => {
            let mut item = key_map(key);
            item.insert("type".into(), s("member"));
            item.insert("userId".into(), s(user_id));
            item.insert("groupId".into(), s(group_id));
            item.insert(
                "gsi1pk".into(),
                s(keys::groups_of_user(directory_id, user_id)),
            );
            item.insert("gsi1sk".into(), s(group_id));
            Ok(item)
        }
        Record::OrgMember {
            org_id,
            org_group_id,
            account_id,
        } => {
            let mut item = key_map(key);
            item.insert("type".into(), s("org-member"));
            item.insert("accountId".into(), s(account_id));
            item.insert("orgGroupId".into(), s(org_group_id));
            item.insert(
                "gsi1pk".into(),
                s(keys::groups_of_account(org_id, account_id)),
            );
            item.insert("gsi1sk".into(), s(org_group_id));
            Ok(item)
        }
        Record::Event(e) => {
            let mut item = data_item(key, "event", e)?;
            let day = keys::day_of(&e.time);
            item.insert("gsi1pk".into(), s(keys::org_log(&e.org_id, day)));
            // Top-level copies that the log's filters read (E1).
            item.insert("outcome".into(), s(e.outcome.as_str()));
            if let Some(email) = &e.email {
                item.insert("email".into(), s(email));
            }
            if let Some(id) = &e.scim_id {
                item.insert("scimId".into(), s(id));
            }
            item.insert("gsi1sk".into(), s(format!("{}#{}", e.time, e.id)));
            item.insert("ttl".into(), n(log_expiry()));
            Ok(item)
        }
        Record::Subscription(sub) => {
            let mut item = data_item(key, "subscription", sub)?;
            item.insert("gsi1pk".into(), s(keys::subscriptions_of(&sub.org_id)));
            item.insert("gsi1sk".into(), s(&sub.id));
            item.insert("version".into(), n(sub.version));
            Ok(item)
        }
        Record::Safeguard(sg) => {
            let mut item = data_item(key, "safeguard", sg)?;
            item.insert("version".into(), n(sg.version));
            Ok(item)
        }
        Record::CleanupJob(job) => {
            // `type = cleanup` and `state = queued` are what the clean-up's event source
            // mapping filters on (events::stream::CLEANUP_FILTER_PATTERN).
            let mut item = data_item(key, CLEANUP_ITEM_TYPE, job)?;
            item.insert("state".into(), s(job.state.as_str()));
            item.insert("version".into(), n(job.version));
            Ok(item)
        }
        Record::JobPage(page) => data_item(key, JOB_PAGE_ITEM_TYPE, page),
        Record::HeldAccount {
            org_id,
            directory_id,
            account_id,
        } => {
            let mut item = data_item(
                key,
                "hold",
                &HeldAccountRef {
                    org_id: org_id.clone(),
                    account_id: account_id.clone(),
                },
            )?;
            item.insert("gsi1pk".into(), s(keys::holds_of(directory_id)));
            item.insert("gsi1sk".into(), s(account_id));
            Ok(item)
        }
        Record::Changes(b) => {
            // `type = change` is what the stream's event source mapping filters on.
            let mut item = data_item(key, CHANGE_ITEM_TYPE, b)?;
            item.insert("ttl".into(), n(log_expiry()));
            Ok(item)
        }
    }
}

/// A transaction's change item: in the org's change partition of the day, sorted by the
/// order of its first event (all of its events share the time and transaction).
fn change_key(b: &crate::directory::model::ChangeBatch) -> (String, String) {
    match b.events.first() {
        Some(c) => (
            keys::changes(&c.org_id, keys::day_of(&c.time)),
            c.order_key(),
        ),
        None => ("CHANGES#EMPTY".into(), String::new()),
    }
}

/// The `type` of change-event items: the `events` function's stream filter takes only these.
pub const CHANGE_ITEM_TYPE: &str = "change";
/// The `type` of group clean-up jobs: the `group-cleanup` function's stream filter.
pub const CLEANUP_ITEM_TYPE: &str = "cleanup";
/// A replace job's target page: not a wake (the mapping's filter keeps only `cleanup`).
pub const JOB_PAGE_ITEM_TYPE: &str = "job-page";

/// When a log or change event written now expires (DynamoDB TTL, epoch seconds).
fn log_expiry() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp() + log_retention_days() * 86_400
}

pub fn user_from_item(directory_id: &str, item: &Item) -> Result<UserRecord, StoreError> {
    let doc = get_s(item, "doc").ok_or_else(|| corrupt(item, "no doc"))?;
    Ok(UserRecord {
        directory_id: directory_id.to_string(),
        id: get_s(item, "id")
            .ok_or_else(|| corrupt(item, "no id"))?
            .to_string(),
        doc: serde_json::from_str(doc).map_err(|e| corrupt(item, &e.to_string()))?,
        version: get_n(item, "version").ok_or_else(|| corrupt(item, "no version"))?,
        created: get_s(item, "created").unwrap_or_default().to_string(),
        last_modified: get_s(item, "lastModified").unwrap_or_default().to_string(),
        account_id: get_s(item, "accountId").map(str::to_string),
    })
}

pub fn group_from_item(directory_id: &str, item: &Item) -> Result<GroupRecord, StoreError> {
    let doc = get_s(item, "doc").ok_or_else(|| corrupt(item, "no doc"))?;
    Ok(GroupRecord {
        directory_id: directory_id.to_string(),
        id: get_s(item, "id")
            .ok_or_else(|| corrupt(item, "no id"))?
            .to_string(),
        doc: serde_json::from_str(doc).map_err(|e| corrupt(item, &e.to_string()))?,
        version: get_n(item, "version").ok_or_else(|| corrupt(item, "no version"))?,
        created: get_s(item, "created").unwrap_or_default().to_string(),
        last_modified: get_s(item, "lastModified").unwrap_or_default().to_string(),
        org_group_id: get_s(item, "orgGroupId").map(str::to_string),
        held: item
            .get("held")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
        members_pending: item
            .get("membersPending")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
    })
}

/// `displayName`, lowercase: the listing order and the uniqueness guard of a group.
pub fn display_name_lower(doc: &serde_json::Value) -> String {
    doc.get("displayName")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_lowercase()
}

pub fn event_from_item(item: &Item) -> Result<EventRecord, StoreError> {
    from_data(item)
}

/// An item's size as DynamoDB bills it: each attribute's name and value in bytes (strings
/// as UTF-8, numbers at about one byte per two digits). A write costs one WCU per KB of
/// it, two inside a transaction.
pub fn item_size(item: &Item) -> usize {
    fn value_size(v: &AttributeValue) -> usize {
        match v {
            AttributeValue::S(s) => s.len(),
            AttributeValue::N(n) => n.len().div_ceil(2) + 1,
            AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
            AttributeValue::L(l) => 3 + l.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
            AttributeValue::M(m) => {
                3 + m
                    .iter()
                    .map(|(k, v)| 1 + k.len() + value_size(v))
                    .sum::<usize>()
            }
            AttributeValue::Ss(s) => s.iter().map(String::len).sum(),
            _ => 0,
        }
    }
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}
