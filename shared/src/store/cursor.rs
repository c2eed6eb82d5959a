//! Opaque paging cursors: a DynamoDB `LastEvaluatedKey` (string attributes only) as
//! URL-safe base64 of JSON. A cursor only continues the query it came from: its keys carry
//! the tenant, and DynamoDB refuses a start key outside the queried partition.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;

pub fn encode(key: &HashMap<String, AttributeValue>) -> String {
    let plain: HashMap<&str, &str> = key
        .iter()
        .filter_map(|(k, v)| v.as_s().ok().map(|s| (k.as_str(), s.as_str())))
        .collect();
    let json = serde_json::to_vec(&plain).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

pub fn decode(cursor: &str) -> Option<HashMap<String, AttributeValue>> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .ok()?;
    let plain: HashMap<String, String> = serde_json::from_slice(&bytes).ok()?;
    Some(
        plain
            .into_iter()
            .map(|(k, v)| (k, AttributeValue::S(v)))
            .collect(),
    )
}

/// Any JSON value as an opaque cursor (for cursors that carry more than a key).
pub fn encode_value(v: &serde_json::Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(v).unwrap_or_default())
}

pub fn decode_value(cursor: &str) -> Option<serde_json::Value> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let key = HashMap::from([("pk".to_string(), AttributeValue::S("ORG#1".into()))]);
        assert_eq!(decode(&encode(&key)).unwrap(), key);
        assert!(decode("%%%").is_none());
    }
}
