// TEMPORARY until the protocol core lands.
use serde_json::Value;
pub fn primary_email(doc: &Value) -> Option<String> {
    let emails = doc.get("emails").and_then(Value::as_array);
    let pick = emails.and_then(|es| {
        es.iter()
            .find(|e| e.get("primary").and_then(Value::as_bool) == Some(true))
            .or_else(|| {
                es.iter()
                    .find(|e| e.get("type").and_then(Value::as_str) == Some("work"))
            })
            .or_else(|| es.first())
    });
    pick.and_then(|e| e.get("value").and_then(Value::as_str))
        .map(|v| v.trim().to_lowercase())
        .or_else(|| {
            doc.get("userName")
                .and_then(Value::as_str)
                .filter(|u| u.contains('@'))
                .map(|u| u.trim().to_lowercase())
        })
}
pub struct Normalized {
    pub doc: Value,
    pub quirks: Vec<String>,
}
pub fn canonicalize(
    _rt: &'static super::schema::ResourceType,
    input: &Value,
) -> Result<Normalized, super::error::ScimError> {
    Ok(Normalized {
        doc: input.clone(),
        quirks: vec![],
    })
}
