//! RFC 7644 §3.12 errors: one type for every protocol error, with its status and `scimType`.

use serde_json::{json, Value};

use super::schema::ERROR_SCHEMA;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimType {
    InvalidFilter,
    TooMany,
    Uniqueness,
    Mutability,
    InvalidSyntax,
    InvalidPath,
    NoTarget,
    InvalidValue,
    InvalidVers,
    Sensitive,
    /// RFC 9865: a cursor that is not one this listing handed out.
    InvalidCursor,
}

impl ScimType {
    pub fn as_str(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::TooMany => "tooMany",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::InvalidValue => "invalidValue",
            ScimType::InvalidVers => "invalidVers",
            ScimType::Sensitive => "sensitive",
            ScimType::InvalidCursor => "invalidCursor",
        }
    }
}

/// A client-visible SCIM error: HTTP status, optional `scimType`, and a detail a person can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {}: {detail}", scim_type.map(ScimType::as_str).unwrap_or("-"))]
pub struct ScimError {
    pub status: u16,
    pub scim_type: Option<ScimType>,
    pub detail: String,
    /// Seconds a client should wait before retrying (429 and 503 only).
    pub retry_after: Option<u32>,
    /// The methods the resource takes (405 only, RFC 9110 §15.5.6).
    pub allow: Option<&'static str>,
}

impl ScimError {
    pub fn new(status: u16, scim_type: Option<ScimType>, detail: impl Into<String>) -> Self {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
            retry_after: None,
            allow: None,
        }
    }
    pub fn bad_request(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Self::new(400, Some(scim_type), detail)
    }
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidFilter, detail)
    }
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidPath, detail)
    }
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidValue, detail)
    }
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidSyntax, detail)
    }
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::Mutability, detail)
    }
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::NoTarget, detail)
    }
    pub fn too_many(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::TooMany, detail)
    }
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(409, Some(ScimType::Uniqueness), detail)
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, None, detail)
    }
    pub fn unauthorized() -> Self {
        Self::new(401, None, "a valid bearer token is required")
    }
    pub fn precondition_failed(detail: impl Into<String>) -> Self {
        Self::new(412, None, detail)
    }
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            413,
            None,
            format!("the request body exceeds the maximum payload size of {limit} bytes"),
        )
    }
    pub fn method_not_allowed(detail: impl Into<String>, allow: &'static str) -> Self {
        ScimError {
            allow: Some(allow),
            ..Self::new(405, None, detail)
        }
    }
    /// RFC 7644 §3.12: the service provider does not support the request operation.
    pub fn not_implemented(detail: impl Into<String>) -> Self {
        Self::new(501, None, detail)
    }
    pub fn throttled(retry_after: u32) -> Self {
        ScimError {
            retry_after: Some(retry_after),
            ..Self::new(429, None, "too many requests; retry later")
        }
    }
    /// 503 with `Retry-After`: a transient failure on our side; the request changed nothing.
    pub fn unavailable(retry_after: u32, detail: impl Into<String>) -> Self {
        ScimError {
            retry_after: Some(retry_after),
            ..Self::new(503, None, detail)
        }
    }
    pub fn internal() -> Self {
        Self::new(500, None, "internal error; the request was not applied")
    }

    /// The RFC 7644 error body.
    pub fn to_json(&self) -> Value {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let (Some(t), Some(obj)) = (self.scim_type, body.as_object_mut()) {
            obj.insert("scimType".into(), Value::String(t.as_str().into()));
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_has_status_as_string_and_scim_type() {
        let e = ScimError::invalid_filter("bad");
        let j = e.to_json();
        assert_eq!(j["status"], "400");
        assert_eq!(j["scimType"], "invalidFilter");
        assert_eq!(j["schemas"][0], ERROR_SCHEMA);
        assert!(ScimError::not_found("x")
            .to_json()
            .get("scimType")
            .is_none());
    }
}
