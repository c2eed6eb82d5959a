//! HTTP calls to the admin API. The key goes in the `Authorization` header only: never in a
//! URL, and never in an error (reqwest's errors name the URL, which holds no secret).

use serde_json::Value;

use crate::config::Config;
use crate::error::CliError;

/// An answer of the API: its status (2xx) and JSON body (`Null` for 204).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

pub struct Client {
    http: reqwest::Client,
    config: Config,
}

/// A path segment, percent-encoded (ids and names come from users and IdPs).
pub fn seg(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A query string from pairs whose value is present.
pub fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", seg(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

impl Client {
    pub fn new(config: Config) -> Result<Client, CliError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("scimlink-cli/", env!("CARGO_PKG_VERSION")))
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| CliError::Server(format!("could not set up HTTP: {e}")))?;
        Ok(Client { http, config })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// `/orgs/{org}` + `rest`.
    pub fn org_path(&self, rest: &str) -> Result<String, CliError> {
        Ok(format!("/orgs/{}{rest}", seg(self.config.org()?)))
    }

    /// Calls `method` on `path` (below the endpoint, with its query); a non-2xx is an error.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, CliError> {
        let url = format!("{}{path}", self.config.endpoint);
        let mut req = self
            .http
            .request(method, &url)
            .bearer_auth(&self.config.key)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await.map_err(|e| {
            CliError::Server(format!(
                "could not reach the admin API at {}: {}",
                self.config.endpoint,
                e.without_url()
            ))
        })?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| {
            CliError::Server(format!("the answer could not be read: {}", e.without_url()))
        })?;
        if !(200..300).contains(&status) {
            return Err(CliError::from_response(status, &text));
        }
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|_| {
                CliError::Server(format!(
                    "the API answered {status} with a body that is not JSON"
                ))
            })?
        };
        Ok(Answer { status, body })
    }

    pub async fn get(&self, path: &str) -> Result<Answer, CliError> {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Option<&Value>) -> Result<Answer, CliError> {
        self.call(reqwest::Method::POST, path, body).await
    }
}
