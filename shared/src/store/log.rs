//! The troubleshooting log (E1), read newest first: one day partition at a time (the
//! directory's on the main table, the org's on GSI1), filtered, with positions that a cursor
//! carries to continue exactly after the last event handed out.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};
use time::macros::format_description;

use super::cursor::{CursorError, CursorKey, CursorScope, PageKey};
use super::items::event_from_item;
use super::{keys, Store, StoreError};
use crate::directory::model::EventRecord;

/// Queries one read of the log may make before it stops with a position to continue.
const MAX_QUERIES_PER_READ: usize = 60;

/// Filters of the troubleshooting log (E1).
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub email: Option<String>,
    pub scim_id: Option<String>,
    pub outcome: Option<String>,
}

/// Where a read of the log continues: a day, and the key after which it goes on that day.
#[derive(Debug, Clone, PartialEq)]
pub struct LogPosition {
    pub day: time::Date,
    after: Option<PageKey>,
}

impl LogPosition {
    /// The newest end of `day`.
    pub fn start_of(day: time::Date) -> Self {
        LogPosition { day, after: None }
    }
}

/// `YYYY-MM-DD`, as log partitions are keyed.
pub fn day_text(d: time::Date) -> String {
    d.format(format_description!("[year]-[month]-[day]"))
        .unwrap_or_default()
}

/// Where cursors of the org's log, or of one directory's, are valid (X4).
pub fn log_cursor_scope(key: &CursorKey, org_id: &str, directory: Option<&str>) -> CursorScope {
    let listing = match directory {
        Some(d) => format!("events/{d}"),
        None => "events".into(),
    };
    CursorScope::new(key, org_id, &listing)
}

impl CursorScope {
    /// A cursor continuing a read of the log at `position`.
    pub fn seal_log(&self, position: &LogPosition) -> String {
        self.seal(&json!({
            "day": day_text(position.day),
            "key": position.after.as_ref().map(PageKey::to_json),
        }))
    }

    /// The position of a cursor sealed with [`CursorScope::seal_log`].
    pub fn open_log(&self, cursor: &str) -> Result<LogPosition, CursorError> {
        let v = self.open(cursor)?;
        let day = v
            .get("day")
            .and_then(Value::as_str)
            .and_then(|d| time::Date::parse(d, format_description!("[year]-[month]-[day]")).ok())
            .ok_or(CursorError::Malformed)?;
        let after = match v.get("key") {
            None | Some(Value::Null) => None,
            Some(k) => Some(PageKey::from_json(k).ok_or(CursorError::Malformed)?),
        };
        Ok(LogPosition { day, after })
    }
}

/// The start key that continues a log query right after `event` (main table, or the org
/// log's GSI when `org_log`).
fn event_start_key(event: &EventRecord, org_log: bool) -> HashMap<String, AttributeValue> {
    let (pk, sk) = super::items::record_key(&crate::directory::plan::Record::Event(event.clone()));
    let mut key = HashMap::from([
        ("pk".to_string(), AttributeValue::S(pk)),
        ("sk".to_string(), AttributeValue::S(sk.clone())),
    ]);
    if org_log {
        key.insert(
            "gsi1pk".into(),
            AttributeValue::S(keys::org_log(&event.org_id, keys::day_of(&event.time))),
        );
        key.insert("gsi1sk".into(), AttributeValue::S(sk));
    }
    key
}

impl Store {
    /// Up to `limit` events newest first from `from` back to `since` (inclusive); and where
    /// to continue, unless the log is read to `since`. `directory`: that directory's log;
    /// `None`: the whole org's.
    pub async fn read_log(
        &self,
        org_id: &str,
        directory: Option<&str>,
        filter: &EventFilter,
        since: time::Date,
        from: LogPosition,
        limit: usize,
    ) -> Result<(Vec<EventRecord>, Option<LogPosition>), StoreError> {
        let mut out = Vec::new();
        let mut queries = 0;
        let mut day = from.day;
        let mut start = from.after.map(PageKey::into_key);
        while day >= since {
            let (events, next) = self
                .events_of_day(
                    org_id,
                    directory,
                    &day_text(day),
                    filter,
                    start.take(),
                    // Read ahead of what is wanted, so a filter skipping many events costs
                    // few queries.
                    ((limit - out.len()) * 4).clamp(25, 500) as i32,
                )
                .await?;
            queries += 1;
            let wanted = limit - out.len();
            if events.len() > wanted {
                // The page is cut: continue right after the last event taken, that day.
                let taken: Vec<EventRecord> = events.into_iter().take(wanted).collect();
                start = taken
                    .last()
                    .map(|e| event_start_key(e, directory.is_none()));
                out.extend(taken);
            } else {
                out.extend(events);
                match next {
                    Some(k) => start = Some(k),
                    None => match day.previous_day() {
                        Some(d) => day = d,
                        None => break,
                    },
                }
            }
            if out.len() >= limit || queries >= MAX_QUERIES_PER_READ {
                if day < since {
                    return Ok((out, None));
                }
                let after = start.map(PageKey);
                return Ok((out, Some(LogPosition { day, after })));
            }
        }
        Ok((out, None))
    }

    /// One day of a log, newest first, filtered. `directory`: that directory's log (main
    /// table); `None`: the whole org's log (GSI1).
    async fn events_of_day(
        &self,
        org_id: &str,
        directory: Option<&str>,
        day: &str,
        filter: &EventFilter,
        start: Option<HashMap<String, AttributeValue>>,
        limit: i32,
    ) -> Result<(Vec<EventRecord>, Option<HashMap<String, AttributeValue>>), StoreError> {
        let mut q = match directory {
            Some(d) => self
                .query_partition(keys::directory_log(d, day))
                .consistent_read(false),
            None => self.query_gsi1(keys::org_log(org_id, day)),
        }
        .scan_index_forward(false)
        .limit(limit);
        let mut conditions = Vec::new();
        for (name, attr, value) in [
            (":email", "email", &filter.email),
            (":sid", "scimId", &filter.scim_id),
            (":outcome", "outcome", &filter.outcome),
        ] {
            if let Some(v) = value {
                conditions.push(format!("{attr} = {name}"));
                q = q.expression_attribute_values(name, AttributeValue::S(v.clone()));
            }
        }
        if !conditions.is_empty() {
            q = q.filter_expression(conditions.join(" AND "));
        }
        let page = self.query_page(q, start).await?;
        let events = page
            .items
            .iter()
            .map(event_from_item)
            .collect::<Result<_, _>>()?;
        Ok((events, page.next))
    }
}
