//! The local stand-in for Lambda's DynamoDB event source mapping: reads the table's stream
//! (DescribeTable → LatestStreamArn, DescribeStream → shards, GetShardIterator, GetRecords),
//! follows new shards (a child after its parent is read to its end), keeps what the
//! mapping's filter keeps, and hands the records over in stream order, as the batches the
//! `events` function receives. `scimlink-local pump` invokes the function with them through
//! `cargo lambda watch`; the tests call the handler in-process.

use std::collections::HashMap;

use aws_sdk_dynamodbstreams::types::ShardIteratorType;

use super::stream::{from_streams_api, StreamEvent, StreamRecord};

/// Where a shard is read from the first time it is seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartingPosition {
    /// Everything the stream still holds (the mapping's `TRIM_HORIZON`).
    TrimHorizon,
    /// Only what is written from now on (the shards that exist at start; shards that
    /// appear later are read from their beginning).
    Latest,
}

#[derive(Debug, thiserror::Error)]
pub enum PumpError {
    #[error("table {0} has no stream (StreamSpecification NEW_IMAGE)")]
    NoStream(String),
    #[error("DynamoDB: {0}")]
    Dynamodb(String),
    #[error("DynamoDB Streams: {0}")]
    Streams(String),
}

#[derive(Debug, Default)]
struct Shard {
    parent: Option<String>,
    iterator: Option<String>,
    /// Read to its end (closed, and every record handed over).
    done: bool,
}

/// Reads one table's stream.
#[derive(Debug)]
pub struct StreamPump {
    dynamodb: aws_sdk_dynamodb::Client,
    streams: aws_sdk_dynamodbstreams::Client,
    table: String,
    stream_arn: Option<String>,
    shards: HashMap<String, Shard>,
    /// Shard ids in the order DescribeStream listed them (parents first).
    order: Vec<String>,
    start: StartingPosition,
    started: bool,
}

fn display<E: std::error::Error>(e: E) -> String {
    format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(e))
}

impl StreamPump {
    /// `endpoint`: DynamoDB Local's URL (the streams API is served on the same port);
    /// `None` uses the SDK configuration as it is.
    pub fn new(
        sdk: &aws_config::SdkConfig,
        endpoint: Option<&str>,
        table: impl Into<String>,
        start: StartingPosition,
    ) -> Self {
        let mut ddb = aws_sdk_dynamodb::config::Builder::from(sdk);
        let mut streams = aws_sdk_dynamodbstreams::config::Builder::from(sdk);
        if let Some(e) = endpoint {
            ddb = ddb.endpoint_url(e);
            streams = streams.endpoint_url(e);
        }
        StreamPump {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(ddb.build()),
            streams: aws_sdk_dynamodbstreams::Client::from_conf(streams.build()),
            table: table.into(),
            stream_arn: None,
            shards: HashMap::new(),
            order: Vec::new(),
            start,
            started: false,
        }
    }

    /// The stream's ARN (after the first `poll`).
    pub fn stream_arn(&self) -> Option<&str> {
        self.stream_arn.as_deref()
    }

    /// Lists the shards, taking in any new one.
    async fn discover(&mut self) -> Result<(), PumpError> {
        let arn = match &self.stream_arn {
            Some(a) => a.clone(),
            None => {
                let table = self
                    .dynamodb
                    .describe_table()
                    .table_name(&self.table)
                    .send()
                    .await
                    .map_err(|e| PumpError::Dynamodb(display(e)))?;
                let arn = table
                    .table()
                    .and_then(|t| t.latest_stream_arn())
                    .ok_or_else(|| PumpError::NoStream(self.table.clone()))?
                    .to_string();
                self.stream_arn = Some(arn.clone());
                arn
            }
        };
        let mut start_after: Option<String> = None;
        loop {
            let out = self
                .streams
                .describe_stream()
                .stream_arn(&arn)
                .set_exclusive_start_shard_id(start_after.clone())
                .send()
                .await
                .map_err(|e| PumpError::Streams(display(e)))?;
            let Some(description) = out.stream_description() else {
                break;
            };
            for shard in description.shards() {
                let Some(id) = shard.shard_id() else { continue };
                if self.shards.contains_key(id) {
                    continue;
                }
                let kind = if self.started || self.start == StartingPosition::TrimHorizon {
                    ShardIteratorType::TrimHorizon
                } else {
                    ShardIteratorType::Latest
                };
                let iterator = self
                    .streams
                    .get_shard_iterator()
                    .stream_arn(&arn)
                    .shard_id(id)
                    .shard_iterator_type(kind)
                    .send()
                    .await
                    .map_err(|e| PumpError::Streams(display(e)))?
                    .shard_iterator()
                    .map(str::to_string);
                self.order.push(id.to_string());
                self.shards.insert(
                    id.to_string(),
                    Shard {
                        parent: shard.parent_shard_id().map(str::to_string),
                        done: iterator.is_none(),
                        iterator,
                    },
                );
            }
            match description.last_evaluated_shard_id() {
                Some(last) => start_after = Some(last.to_string()),
                None => break,
            }
        }
        self.started = true;
        Ok(())
    }

    /// Every record written since the last call, in stream order per shard (a parent's
    /// before its children's), all of them (unfiltered).
    pub async fn poll_all(&mut self) -> Result<Vec<StreamRecord>, PumpError> {
        self.discover().await?;
        let arn = self.stream_arn.clone().unwrap_or_default();
        let mut out = Vec::new();
        for id in self.order.clone() {
            let parent_open = self
                .shards
                .get(&id)
                .and_then(|s| s.parent.as_ref())
                .and_then(|p| self.shards.get(p))
                .is_some_and(|p| !p.done);
            let Some(shard) = self.shards.get_mut(&id) else {
                continue;
            };
            if shard.done || parent_open {
                continue;
            }
            // Read the shard up to what exists now.
            while let Some(iterator) = shard.iterator.clone() {
                let page = self
                    .streams
                    .get_records()
                    .shard_iterator(iterator)
                    .limit(1000)
                    .send()
                    .await
                    .map_err(|e| PumpError::Streams(display(e)))?;
                let records = page.records();
                out.extend(records.iter().map(|r| from_streams_api(r, &arn)));
                shard.iterator = page.next_shard_iterator().map(str::to_string);
                if shard.iterator.is_none() {
                    shard.done = true;
                }
                if records.is_empty() {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// What the event source mapping would pass on: the change inserts
    /// ([`StreamRecord::is_change_insert`], the mapping's filter).
    pub async fn poll(&mut self) -> Result<Vec<StreamRecord>, PumpError> {
        let mut records = self.poll_all().await?;
        records.retain(StreamRecord::is_change_insert);
        Ok(records)
    }
}

/// Cuts records into the batches of at most `size` that the function is invoked with.
pub fn batches(records: Vec<StreamRecord>, size: usize) -> Vec<StreamEvent> {
    records
        .chunks(size.max(1))
        .map(|c| StreamEvent {
            records: c.to_vec(),
        })
        .collect()
}
