//! Dead letters: what push could not deliver, reported to the SQS dead-letter queue
//! (`SCIMLINK_DEAD_LETTER_QUEUE_URL`) or, without one (the local stack), as a warning log
//! line. A notice names the subscription, the event (`jti`, order key) and what went
//! wrong, as a kind or status: never the SET, a secret or a token.

use std::sync::{Arc, Mutex};

use serde::Serialize;

/// The environment variable naming the dead-letter queue.
pub const DEAD_LETTER_QUEUE_ENV: &str = "SCIMLINK_DEAD_LETTER_QUEUE_URL";

/// Why a notice was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeadLetterReason {
    /// The receiver rejected this SET (RFC 8935 `invalid_request`): it left the queue.
    Rejected,
    /// Delivery failed after the retries of one attempt; the SET stays queued and is
    /// retried by the schedule.
    Failing,
    /// The subscription was disabled; its backlog stays queued (poll, redelivery).
    Disabled,
}

/// One notice, as the queue's message body (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub org_id: String,
    pub subscription_id: String,
    pub jti: String,
    pub order_key: String,
    pub reason: DeadLetterReason,
    /// A status or kind (`status 503`, `timeout`, `status 400 invalid_request`).
    pub error: String,
    pub time: String,
}

#[derive(Debug, thiserror::Error)]
#[error("could not send a dead letter: {0}")]
pub struct DeadLetterError(String);

/// Where notices go.
#[derive(Debug, Clone)]
pub enum DeadLetters {
    Sqs {
        client: aws_sdk_sqs::Client,
        queue_url: String,
    },
    /// A warning log line (the local stack).
    Log,
    /// Kept in memory (tests).
    Memory(Arc<Mutex<Vec<DeadLetter>>>),
}

impl DeadLetters {
    /// SQS when `SCIMLINK_DEAD_LETTER_QUEUE_URL` is set, else the log.
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Self {
        match std::env::var(DEAD_LETTER_QUEUE_ENV) {
            Ok(url) if !url.trim().is_empty() => DeadLetters::Sqs {
                client: aws_sdk_sqs::Client::new(sdk),
                queue_url: url.trim().to_string(),
            },
            _ => DeadLetters::Log,
        }
    }

    pub fn memory() -> (Self, Arc<Mutex<Vec<DeadLetter>>>) {
        let kept = Arc::new(Mutex::new(Vec::new()));
        (DeadLetters::Memory(kept.clone()), kept)
    }

    pub async fn send(&self, letter: &DeadLetter) -> Result<(), DeadLetterError> {
        match self {
            DeadLetters::Sqs { client, queue_url } => {
                let body =
                    serde_json::to_string(letter).map_err(|e| DeadLetterError(e.to_string()))?;
                client
                    .send_message()
                    .queue_url(queue_url)
                    .message_body(body)
                    .send()
                    .await
                    .map_err(|e| {
                        DeadLetterError(format!("{}", aws_sdk_sqs::error::DisplayErrorContext(e)))
                    })?;
                Ok(())
            }
            DeadLetters::Log => {
                tracing::warn!(
                    org = %letter.org_id,
                    subscription = %letter.subscription_id,
                    jti = %letter.jti,
                    order = %letter.order_key,
                    reason = ?letter.reason,
                    error = %letter.error,
                    "dead letter (no SCIMLINK_DEAD_LETTER_QUEUE_URL: logged only)"
                );
                Ok(())
            }
            DeadLetters::Memory(kept) => {
                if let Ok(mut v) = kept.lock() {
                    v.push(letter.clone());
                }
                Ok(())
            }
        }
    }
}
