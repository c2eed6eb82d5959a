//! What the `events` function is invoked with, as Lambda sends it: a batch of DynamoDB
//! stream records (through the event source mapping, `infra/template.yaml`), or an
//! EventBridge scheduled event (the periodic retry). Pure: decoding, the mapping's filter,
//! and the conversion of a stream record read with the DynamoDB Streams API into the JSON
//! Lambda delivers, which the local pump (`events::pump`) and the tests use.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::directory::cleanup::{CleanupJobRecord, CleanupState, JobSlot};
use crate::directory::model::{ChangeBatch, ChangeRecord};
use crate::store::{CHANGE_ITEM_TYPE, CLEANUP_ITEM_TYPE};

/// The event source mapping's filter (`FilterCriteria.Filters[0].Pattern` in
/// `infra/template.yaml`, checked by a test): only inserts of change items.
pub const FILTER_PATTERN: &str =
    r#"{"eventName":["INSERT"],"dynamodb":{"NewImage":{"type":{"S":["change"]}}}}"#;

/// The `group-cleanup` function's event source mapping filter (in `infra/template.yaml`,
/// checked by a test): clean-up jobs written `queued` (by a big group's delete, or by a
/// worker whose time budget ran out), not the progress of a running job.
pub const CLEANUP_FILTER_PATTERN: &str = r#"{"eventName":["INSERT","MODIFY"],"dynamodb":{"NewImage":{"type":{"S":["cleanup"]},"state":{"S":["queued"]}}}}"#;

/// A batch of stream records (`Records`), as Lambda delivers it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamEvent {
    #[serde(rename = "Records", default)]
    pub records: Vec<StreamRecord>,
}

/// One stream record (the fields Lambda sends for DynamoDB streams).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamRecord {
    #[serde(rename = "eventID", default)]
    pub event_id: String,
    /// `INSERT`, `MODIFY` or `REMOVE`.
    #[serde(rename = "eventName", default)]
    pub event_name: String,
    #[serde(rename = "eventVersion", default)]
    pub event_version: String,
    #[serde(rename = "eventSource", default)]
    pub event_source: String,
    #[serde(rename = "awsRegion", default)]
    pub aws_region: String,
    #[serde(rename = "eventSourceARN", default)]
    pub event_source_arn: String,
    #[serde(default)]
    pub dynamodb: StreamData,
}

/// The `dynamodb` part of a record; images are in DynamoDB's JSON (`{"S": "..."}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamData {
    #[serde(
        rename = "ApproximateCreationDateTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub approximate_creation_date_time: Option<f64>,
    #[serde(rename = "Keys", default)]
    pub keys: Map<String, Value>,
    #[serde(rename = "NewImage", default, skip_serializing_if = "Option::is_none")]
    pub new_image: Option<Map<String, Value>>,
    #[serde(rename = "SequenceNumber", default)]
    pub sequence_number: String,
    #[serde(rename = "SizeBytes", default)]
    pub size_bytes: i64,
    #[serde(rename = "StreamViewType", default)]
    pub stream_view_type: String,
}

/// What the function answers a stream batch with (`FunctionResponseTypes:
/// [ReportBatchItemFailures]`): the records to retry, by sequence number. Lambda retries
/// from the lowest one, and after `MaximumRetryAttempts` sends the batch's description to
/// the on-failure destination (the dead-letter queue).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchResponse {
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<ItemFailure>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

/// What an invocation asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation {
    /// Stream records to enqueue and push.
    Stream(StreamEvent),
    /// The schedule's tick: retry every push subscription with a backlog.
    Scheduled,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StreamError {
    #[error("not a DynamoDB stream batch nor a scheduled event")]
    UnknownInvocation,
    #[error("stream record {0}: {1}")]
    BadRecord(String, String),
}

/// Tells a stream batch (`Records`) from an EventBridge scheduled event
/// (`source: aws.events`, `detail-type: Scheduled Event`).
pub fn classify(event: Value) -> Result<Invocation, StreamError> {
    if event.get("Records").is_some() {
        return serde_json::from_value(event)
            .map(Invocation::Stream)
            .map_err(|e| StreamError::BadRecord("batch".into(), e.to_string()));
    }
    let scheduled = event.get("source").and_then(Value::as_str) == Some("aws.events")
        || event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event");
    if scheduled {
        Ok(Invocation::Scheduled)
    } else {
        Err(StreamError::UnknownInvocation)
    }
}

fn image_s<'a>(image: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    image.get(name)?.get("S")?.as_str()
}

impl StreamRecord {
    /// The event source mapping's filter ([`FILTER_PATTERN`]): an insert of a change item.
    pub fn is_change_insert(&self) -> bool {
        self.event_name == "INSERT"
            && self
                .dynamodb
                .new_image
                .as_ref()
                .and_then(|i| image_s(i, "type"))
                == Some(CHANGE_ITEM_TYPE)
    }

    /// The clean-up mapping's filter ([`CLEANUP_FILTER_PATTERN`]): a job written `queued`.
    pub fn is_cleanup_wake(&self) -> bool {
        let image = self.dynamodb.new_image.as_ref();
        matches!(self.event_name.as_str(), "INSERT" | "MODIFY")
            && image.and_then(|i| image_s(i, "type")) == Some(CLEANUP_ITEM_TYPE)
            && image.and_then(|i| image_s(i, "state")) == Some(CleanupState::Queued.as_str())
    }

    /// The group job a record names: (directory, group, which of its jobs).
    pub fn cleanup_job(&self) -> Result<(String, String, JobSlot), StreamError> {
        self.data::<CleanupJobRecord>()
            .map(|j| (j.directory_id, j.group_id, j.kind.slot()))
    }

    /// The changes the inserted item holds (`NewImage.data`: the `ChangeBatch` of one
    /// transaction, as JSON), in their order.
    pub fn changes(&self) -> Result<Vec<ChangeRecord>, StreamError> {
        self.data::<ChangeBatch>().map(|b| b.events)
    }

    /// The record the item keeps as JSON in `data` (`NewImage.data`).
    fn data<T: serde::de::DeserializeOwned>(&self) -> Result<T, StreamError> {
        let bad = |why: &str| StreamError::BadRecord(self.id().to_string(), why.to_string());
        let data = self
            .dynamodb
            .new_image
            .as_ref()
            .and_then(|i| image_s(i, "data"))
            .ok_or_else(|| bad("no NewImage.data"))?;
        serde_json::from_str::<T>(data).map_err(|e| bad(&e.to_string()))
    }

    /// What identifies it in `batchItemFailures`: its sequence number.
    pub fn id(&self) -> &str {
        &self.dynamodb.sequence_number
    }

    /// The partition key of the item (`Keys.pk`).
    pub fn partition_key(&self) -> Option<&str> {
        image_s(&self.dynamodb.keys, "pk")
    }
}

/// An attribute value of the DynamoDB Streams API in DynamoDB's JSON, as Lambda writes it.
pub fn attribute_json(value: &aws_sdk_dynamodbstreams::types::AttributeValue) -> Value {
    use aws_sdk_dynamodbstreams::types::AttributeValue as A;
    use base64::Engine;
    let b64 = |b: &aws_sdk_dynamodbstreams::primitives::Blob| {
        base64::engine::general_purpose::STANDARD.encode(b.as_ref())
    };
    match value {
        A::S(s) => json!({ "S": s }),
        A::N(n) => json!({ "N": n }),
        A::B(b) => json!({ "B": b64(b) }),
        A::Bool(b) => json!({ "BOOL": b }),
        A::Null(_) => json!({ "NULL": true }),
        A::Ss(v) => json!({ "SS": v }),
        A::Ns(v) => json!({ "NS": v }),
        A::Bs(v) => json!({ "BS": v.iter().map(b64).collect::<Vec<_>>() }),
        A::L(v) => json!({ "L": v.iter().map(attribute_json).collect::<Vec<_>>() }),
        A::M(m) => json!({ "M": image_json(m) }),
        // A type added to DynamoDB after this SDK: nothing we filter on.
        _ => Value::Null,
    }
}

fn image_json(
    image: &std::collections::HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>,
) -> Map<String, Value> {
    image
        .iter()
        .map(|(k, v)| (k.clone(), attribute_json(v)))
        .collect()
}

/// A record read with `GetRecords` as Lambda's event source mapping passes it on.
pub fn from_streams_api(
    record: &aws_sdk_dynamodbstreams::types::Record,
    stream_arn: &str,
) -> StreamRecord {
    let data = record.dynamodb();
    StreamRecord {
        event_id: record.event_id().unwrap_or_default().to_string(),
        event_name: record
            .event_name()
            .map(|n| n.as_str().to_string())
            .unwrap_or_default(),
        event_version: record.event_version().unwrap_or("1.1").to_string(),
        event_source: record.event_source().unwrap_or("aws:dynamodb").to_string(),
        aws_region: record.aws_region().unwrap_or_default().to_string(),
        event_source_arn: stream_arn.to_string(),
        dynamodb: StreamData {
            approximate_creation_date_time: data
                .and_then(|d| d.approximate_creation_date_time())
                .map(|t| t.as_secs_f64().floor()),
            keys: data
                .and_then(|d| d.keys())
                .map(image_json)
                .unwrap_or_default(),
            new_image: data.and_then(|d| d.new_image()).map(image_json),
            sequence_number: data
                .and_then(|d| d.sequence_number())
                .unwrap_or_default()
                .to_string(),
            size_bytes: data.and_then(|d| d.size_bytes()).unwrap_or_default(),
            stream_view_type: data
                .and_then(|d| d.stream_view_type())
                .map(|v| v.as_str().to_string())
                .unwrap_or_default(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        serde_json::from_str(include_str!(
            "../../../functions/events/events/stream-insert.json"
        ))
        .unwrap()
    }

    #[test]
    fn the_sample_stream_event_is_a_change_insert() {
        let Invocation::Stream(batch) = classify(sample()).unwrap() else {
            panic!("a stream batch")
        };
        assert_eq!(batch.records.len(), 1);
        let r = &batch.records[0];
        assert!(r.is_change_insert());
        let c = r.changes().unwrap().remove(0);
        assert_eq!(c.event, "prov:create");
        assert_eq!(
            r.partition_key(),
            Some(format!("ORG#{}#CHANGES#{}", c.org_id, &c.time[..10]).as_str())
        );
        // Round trip: what the pump writes is what the function reads.
        let again: StreamEvent =
            serde_json::from_value(serde_json::to_value(&batch).unwrap()).unwrap();
        assert_eq!(again, batch);
    }

    #[test]
    fn the_filter_keeps_only_inserts_of_change_items() {
        let Invocation::Stream(batch) = classify(sample()).unwrap() else {
            panic!()
        };
        let insert = batch.records[0].clone();
        let mut modify = insert.clone();
        modify.event_name = "MODIFY".into();
        let mut other = insert.clone();
        other
            .dynamodb
            .new_image
            .as_mut()
            .unwrap()
            .insert("type".into(), json!({"S": "event"}));
        let mut removed = insert.clone();
        removed.event_name = "REMOVE".into();
        removed.dynamodb.new_image = None;
        assert!(insert.is_change_insert());
        assert!(!modify.is_change_insert());
        assert!(!other.is_change_insert());
        assert!(!removed.is_change_insert());
        let mut broken = insert.clone();
        broken
            .dynamodb
            .new_image
            .as_mut()
            .unwrap()
            .insert("data".into(), json!({"S": "{"}));
        assert!(matches!(broken.changes(), Err(StreamError::BadRecord(..))));
    }

    #[test]
    fn the_template_filters_with_the_same_patterns() {
        let template = include_str!("../../../infra/template.yaml");
        for pattern in [FILTER_PATTERN, CLEANUP_FILTER_PATTERN] {
            assert!(
                template.contains(&format!("Pattern: '{pattern}'")),
                "infra/template.yaml must filter with {pattern}"
            );
        }
    }

    /// The `group-cleanup` sample (for `cargo lambda invoke`) is a wake of a queued job
    /// that names its group.
    #[test]
    fn the_sample_clean_up_event_wakes_a_job() {
        let sample = serde_json::from_str(include_str!(
            "../../../functions/group-cleanup/events/job-wake.json"
        ))
        .expect("JSON");
        let Ok(Invocation::Stream(batch)) = classify(sample) else {
            panic!("not a stream batch");
        };
        let record = &batch.records[0];
        assert!(record.is_cleanup_wake() && !record.is_change_insert());
        assert_eq!(
            record.cleanup_job().expect("the job"),
            (
                "__DIRECTORY_ID__".into(),
                "grp_deleted_sample".into(),
                JobSlot::Membership
            )
        );
    }

    #[test]
    fn the_clean_up_filter_keeps_queued_jobs_only() {
        let job = |event: &str, kind: &str, state: &str| StreamRecord {
            event_name: event.into(),
            dynamodb: StreamData {
                new_image: Some(
                    json!({"type": {"S": kind}, "state": {"S": state}, "data": {"S": "{}"}})
                        .as_object()
                        .unwrap()
                        .clone(),
                ),
                ..StreamData::default()
            },
            ..StreamRecord::default()
        };
        assert!(job("INSERT", "cleanup", "queued").is_cleanup_wake());
        assert!(job("MODIFY", "cleanup", "queued").is_cleanup_wake());
        assert!(!job("MODIFY", "cleanup", "running").is_cleanup_wake());
        assert!(!job("INSERT", "change", "queued").is_cleanup_wake());
        assert!(!job("INSERT", "cleanup", "queued").is_change_insert());
        let mut removed = job("REMOVE", "cleanup", "queued");
        removed.dynamodb.new_image = None;
        assert!(!removed.is_cleanup_wake());
        assert!(matches!(
            job("INSERT", "cleanup", "queued").cleanup_job(),
            Err(StreamError::BadRecord(..))
        ));
    }

    #[test]
    fn scheduled_events_are_ticks_and_anything_else_is_refused() {
        let tick: Value = serde_json::from_str(include_str!(
            "../../../functions/events/events/scheduled.json"
        ))
        .unwrap();
        assert_eq!(classify(tick), Ok(Invocation::Scheduled));
        assert_eq!(
            classify(json!({"hello": 1})),
            Err(StreamError::UnknownInvocation)
        );
        assert_eq!(
            classify(json!({"Records": []})),
            Ok(Invocation::Stream(StreamEvent::default()))
        );
    }

    #[test]
    fn streams_api_values_become_lambda_json() {
        use aws_sdk_dynamodbstreams::types::AttributeValue as A;
        let m = std::collections::HashMap::from([
            ("s".to_string(), A::S("x".into())),
            ("n".to_string(), A::N("1".into())),
            ("b".to_string(), A::Bool(true)),
            ("l".to_string(), A::L(vec![A::Null(true)])),
        ]);
        assert_eq!(
            Value::Object(image_json(&m)),
            json!({"s": {"S": "x"}, "n": {"N": "1"}, "b": {"BOOL": true}, "l": {"L": [{"NULL": true}]}})
        );
    }
}
