//! The CLI's errors and their exit codes (docs/CLI.md, `scimlink --help`).

use serde_json::Value;

/// Exit codes: 0 success (a dry run with changes too); 1 usage; 2 the API refused the call
/// (a 4xx other than 404, e.g. a bad key); 3 not found (404); 4 a server or transport error
/// (a 5xx, unreachable, an answer that is not the API's).
#[derive(Debug)]
pub enum CliError {
    /// Bad arguments or missing configuration: exit 1.
    Usage(String),
    /// The API answered 4xx (404 excepted): exit 2. `detail` is the SCIM error's.
    Refused { status: u16, detail: String },
    /// The API answered 404: exit 3.
    NotFound(String),
    /// 5xx, unreachable, or an unreadable answer: exit 4.
    Server(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 1,
            CliError::Refused { .. } => 2,
            CliError::NotFound(_) => 3,
            CliError::Server(_) => 4,
        }
    }

    /// From an error answer: the SCIM error body's `detail` (and `scimType`), else the text.
    pub fn from_response(status: u16, body: &str) -> CliError {
        let parsed: Option<Value> = serde_json::from_str(body).ok();
        let detail = parsed
            .as_ref()
            .and_then(|v| v.get("detail"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| {
                let t: String = body.chars().take(200).collect();
                if t.trim().is_empty() {
                    "no detail".into()
                } else {
                    t
                }
            });
        let scim_type = parsed
            .as_ref()
            .and_then(|v| v.get("scimType"))
            .and_then(Value::as_str)
            .map(|t| format!(" ({t})"))
            .unwrap_or_default();
        let detail = crate::render::clean(&format!("{detail}{scim_type}"));
        match status {
            404 => CliError::NotFound(detail),
            400..=499 => CliError::Refused { status, detail },
            _ => CliError::Server(format!("the API answered {status}: {detail}")),
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Usage(m) => write!(f, "{m}"),
            CliError::Refused { status, detail } => write!(f, "refused ({status}): {detail}"),
            CliError::NotFound(d) => write!(f, "not found: {d}"),
            CliError::Server(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for CliError {}
