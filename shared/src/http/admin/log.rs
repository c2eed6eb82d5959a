//! The troubleshooting log (E1) and diagnose (E2) for administrators.

use lambda_http::{Body, Response};
use serde_json::json;
use time::macros::format_description;

use super::call::{ok_json, AdminCall};
use super::render::{account_detail, event_json, user_summary};
use crate::directory::model::{EventRecord, ManagedBy, UserRecord};
use crate::directory::users::normalize_email;
use crate::scim::error::ScimError;
use crate::scim::limits::invalid_admin_cursor;
use crate::scim::resource::primary_email;
use crate::store::{log_cursor_scope, EventFilter, LogPosition};

fn parse_day(s: &str) -> Result<time::Date, ScimError> {
    let day = s.get(..10).unwrap_or(s);
    time::Date::parse(day, format_description!("[year]-[month]-[day]")).map_err(|_| {
        ScimError::invalid_value(format!("'{s}' is not a date (YYYY-MM-DD or RFC 3339)"))
    })
}

/// GET /events and /directories/{d}/events: newest first, filtered by email, SCIM id,
/// outcome and time, with cursors.
pub async fn events(
    call: &AdminCall<'_>,
    directory: Option<&str>,
) -> Result<Response<Body>, ScimError> {
    let p = &call.params;
    let filter = EventFilter {
        email: p.get("email").map(|e| normalize_email(e)),
        scim_id: p.get("scimid").cloned(),
        outcome: p.get("outcome").cloned(),
    };
    let today = time::OffsetDateTime::now_utc().date();
    let until = p
        .get("until")
        .map(|u| parse_day(u))
        .transpose()?
        .unwrap_or(today);
    let since = match p.get("since") {
        Some(s) => parse_day(s)?,
        None => today - time::Duration::days(crate::store::log_retention_days()),
    };
    let limit = p
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(50)
        .clamp(1, 200);
    let cursors = log_cursor_scope(call.cursor_key, &call.org.id, directory);
    let from = match p.get("cursor") {
        Some(c) if !c.trim().is_empty() => {
            cursors.open_log(c).map_err(|_| invalid_admin_cursor())?
        }
        _ => LogPosition::start_of(until),
    };
    let (events, next) = call
        .store
        .read_log(&call.org.id, directory, &filter, since, from, limit)
        .await?;
    Ok(ok_json(
        200,
        json!({
            "events": events.iter().map(event_json).collect::<Vec<_>>(),
            "nextCursor": next.map(|n| cursors.seal_log(&n)),
        }),
    ))
}

/// GET /diagnose?email= (E2): every record of the cascade for an email, and a verdict.
pub async fn diagnose(call: &AdminCall<'_>) -> Result<Response<Body>, ScimError> {
    let email = normalize_email(
        call.params
            .get("email")
            .ok_or_else(|| ScimError::invalid_value("the 'email' parameter is required"))?,
    );
    let account = call.store.account_by_email(&call.org.id, &email).await?;
    let directories = call.store.directories_of_org(&call.org.id).await?;
    let mut scim_users: Vec<UserRecord> = Vec::new();
    for d in &directories {
        let ids = call.store.user_ids_by_email(&d.id, &email).await?;
        scim_users.extend(call.store.get_users(&d.id, &ids).await?);
    }
    let detail = match &account {
        Some(a) => Some(account_detail(call, a).await?),
        None => None,
    };
    let today = time::OffsetDateTime::now_utc().date();
    let filter = EventFilter {
        email: Some(email.clone()),
        ..EventFilter::default()
    };
    let (recent, _) = call
        .store
        .read_log(
            &call.org.id,
            None,
            &filter,
            today - time::Duration::days(7),
            LogPosition::start_of(today),
            20,
        )
        .await?;
    let verdict = verdict(call, &email, account.as_ref(), &scim_users, &recent);
    Ok(ok_json(
        200,
        json!({
            "email": email,
            "kind": call.org.kind_of(&email),
            "account": detail,
            "scimUsers": scim_users.iter().map(|u| {
                let mut s = user_summary(u);
                if let Some(o) = s.as_object_mut() {
                    o.insert("primary".into(), json!(primary_email(&u.doc).as_deref() == Some(email.as_str())));
                }
                s
            }).collect::<Vec<_>>(),
            "recentEvents": recent.iter().map(event_json).collect::<Vec<_>>(),
            "verdict": verdict.0,
            "nextStep": verdict.1,
        }),
    ))
}

fn origin(a: &crate::directory::model::AccountRecord) -> String {
    serde_json::to_value(a.origin)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The verdict in words and the admin's next step.
fn verdict(
    call: &AdminCall<'_>,
    email: &str,
    account: Option<&crate::directory::model::AccountRecord>,
    users: &[UserRecord],
    recent: &[EventRecord],
) -> (String, String) {
    let base = format!("/admin/v1/orgs/{}", call.org.id);
    let primary: Vec<&UserRecord> = users
        .iter()
        .filter(|u| primary_email(&u.doc).as_deref() == Some(email))
        .collect();
    let refused = recent
        .iter()
        .find(|e| e.outcome == crate::directory::model::Outcome::Refused);
    match account {
        None if primary.is_empty() => (
            format!("No account and no SCIM user has {email}."),
            "Invite the person, or assign them to the application in the IdP so that it provisions them.".into(),
        ),
        None => {
            let u = primary[0];
            (
                format!("SCIM user {} in directory {} has {email} but is linked to no account.", u.id, u.directory_id),
                format!("Relink it: POST {base}/directories/{}/users/{}/relink", u.directory_id, u.id),
            )
        }
        Some(a) => match &a.link {
            Some(l) => {
                let holder_has_email = primary.iter().any(|u| u.id == l.user_id && u.directory_id == l.directory_id);
                let managed = match &a.managed_by {
                    ManagedBy::Directory { directory_id } => format!("managed by directory {directory_id}"),
                    ManagedBy::Admin => "managed by admin (external account: its profile stays with its owner)".into(),
                };
                let others: Vec<&&UserRecord> = primary.iter().filter(|u| u.id != l.user_id).collect();
                if let Some(other) = others.first() {
                    (
                        format!(
                            "Account {} of {email} is linked to SCIM user {} in directory {}; SCIM user {} in directory {} also has this email and cannot be linked: an account has one holder (L3).{}",
                            a.id, l.user_id, l.directory_id, other.id, other.directory_id,
                            refused.map(|e| format!(" The IdP was refused: {}", e.message)).unwrap_or_default()
                        ),
                        format!(
                            "If the IdP's matching attribute latched onto the wrong record, unlink the stale holder (POST {base}/directories/{}/users/{}/unlink) and let the IdP retry; otherwise fix the user in the IdP.",
                            l.directory_id, l.user_id
                        ),
                    )
                } else if let Some(refusal) = refused.filter(|e| e.scim_id.as_deref() != Some(l.user_id.as_str())) {
                    (
                        format!(
                            "Account {} of {email} is linked to SCIM user {} in directory {}. The IdP recently tried to provision this email as another record{} and was refused: {}",
                            a.id,
                            l.user_id,
                            l.directory_id,
                            refusal.external_id.as_ref().map(|x| format!(" (externalId '{x}')")).unwrap_or_default(),
                            refusal.message
                        ),
                        format!(
                            "The IdP identifies this person by another record now: the current holder is likely a leftover. Unlink it (POST {base}/directories/{}/users/{}/unlink) and let the IdP retry; or, if the holder is right, fix the duplicate in the IdP.",
                            l.directory_id, l.user_id
                        ),
                    )
                } else if holder_has_email {
                    (
                        format!("Account {} of {email} (origin {}) is linked to SCIM user {} in directory {}, {managed}. Its synced groups apply.", a.id, origin(a), l.user_id, l.directory_id),
                        "Nothing to do.".into(),
                    )
                } else {
                    (
                        format!("Account {} of {email} is linked to SCIM user {} in directory {}, whose primary email is no longer {email}.", a.id, l.user_id, l.directory_id),
                        "Check the user's email in the IdP; the next IdP write moves or updates the link (L5).".into(),
                    )
                }
            }
            None if primary.is_empty() => (
                format!("Account {} of {email} (origin {}) exists; no directory has provisioned this email, so it has no synced groups.", a.id, origin(a)),
                "Assign the person to the application in the IdP: the IdP's create links this account by email (L1), and its groups then sync.".into(),
            ),
            None => {
                let u = primary[0];
                (
                    format!("Account {} of {email} exists and SCIM user {} in directory {} has this email, but they are not linked (unlinked by an admin, or created before the account).", a.id, u.id, u.directory_id),
                    format!("Relink it: POST {base}/directories/{}/users/{}/relink", u.directory_id, u.id),
                )
            }
        },
    }
}
