//! Loading the events key once per cold start: `SCIMLINK_EVENTS_KEY` when set (the local
//! stack, tests), else the Secrets Manager secret named by `SCIMLINK_EVENTS_KEY_SECRET_ARN`
//! (AWS: the template generates it and grants `secretsmanager:GetSecretValue` on exactly
//! that secret to the functions that sign or show signing secrets).

use super::set::{EventsKey, EVENTS_KEY_ENV};

/// The environment variable naming the Secrets Manager secret that holds the events key.
pub const EVENTS_KEY_SECRET_ENV: &str = "SCIMLINK_EVENTS_KEY_SECRET_ARN";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("neither {EVENTS_KEY_ENV} (32+ bytes) nor {EVENTS_KEY_SECRET_ENV} is set")]
    Missing,
    /// The message never contains the secret.
    #[error("could not read the events key secret: {0}")]
    SecretsManager(String),
    #[error("the events key secret is not a string of at least 32 bytes")]
    TooShort,
}

impl EventsKey {
    /// `SCIMLINK_EVENTS_KEY`, else `GetSecretValue` of `SCIMLINK_EVENTS_KEY_SECRET_ARN`.
    pub async fn load(sdk: &aws_config::SdkConfig) -> Result<Self, KeyError> {
        if let Some(key) = Self::from_env() {
            return Ok(key);
        }
        let arn = std::env::var(EVENTS_KEY_SECRET_ENV)
            .ok()
            .filter(|a| !a.trim().is_empty())
            .ok_or(KeyError::Missing)?;
        let client = aws_sdk_secretsmanager::Client::new(sdk);
        let out = client
            .get_secret_value()
            .secret_id(arn.trim())
            .send()
            .await
            .map_err(|e| {
                KeyError::SecretsManager(
                    e.as_service_error()
                        .and_then(|s| aws_sdk_secretsmanager::error::ProvideErrorMetadata::code(s))
                        .unwrap_or("request failed")
                        .to_string(),
                )
            })?;
        out.secret_string()
            .map(str::trim)
            .filter(|s| s.len() >= 32)
            .map(Self::from_secret)
            .ok_or(KeyError::TooShort)
    }
}
