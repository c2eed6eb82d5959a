//! Admin API for product access (G2-G4, G7): sites and products, org groups and their
//! roles and members, default-access groups, an account's access, held conflicts.

use std::time::{Duration, Instant};

use futures::StreamExt;
use lambda_http::{Body, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::call::{ok_json, required, AdminCall};
use super::render::{access_json, org_group_json, products_json, role_json};
use crate::directory::access::{access_delta, default_access_refusal, effective_groups, Breakdown};
use crate::directory::model::{ConflictRecord, OrgGroupRecord, OrgRecord, Product, Site};
use crate::http::response::empty;
use crate::scim::error::ScimError;
use crate::write::access::{load_conflict, load_review, Review};

/// How long one "sync all" call works before it answers with progress and a cursor.
const SYNC_ALL_BUDGET: Duration = Duration::from_secs(20);
/// How many held groups one "sync all" call syncs at once.
const SYNC_ALL_PARALLEL: usize = 8;

/// What became of one held group in a "sync all" call.
enum SyncAllOutcome {
    Synced(Value),
    Refused(Value),
    Skipped(Value),
    /// Not started: the call's time budget ran out first.
    Remaining,
    Failed(ScimError),
}

/// An id made of letters, digits, `-`, `_` and `.`, lowercase.
fn slug(raw: &str) -> Result<String, ScimError> {
    let s = raw.trim().to_lowercase();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        Ok(s)
    } else {
        Err(ScimError::invalid_value(format!(
            "'{raw}' must be letters, digits, '-', '_' or '.'"
        )))
    }
}

/// Trimmed, non-empty strings of a list field.
fn names(field: &str, list: &[String]) -> Result<Vec<String>, ScimError> {
    list.iter().map(|s| required(field, s)).collect()
}

#[derive(Deserialize)]
struct NewSite {
    #[serde(default)]
    id: Option<String>,
    name: String,
}

/// POST /sites {id?, name}
pub async fn add_site(call: &AdminCall<'_>) -> Result<Response<Body>, ScimError> {
    let body: NewSite = call.body()?;
    let name = required("name", &body.name)?;
    let id = slug(body.id.as_deref().unwrap_or(&name))?;
    let written = call
        .writer()
        .update_org(&call.caller(), &call.org, "POST /sites", |org| {
            if org.sites.iter().any(|s| s.id == id) {
                return Err(ScimError::uniqueness(format!("site {id} already exists")));
            }
            let mut next = org.clone();
            next.sites.push(Site {
                id: id.clone(),
                name: name.clone(),
            });
            Ok(Some((next, format!("Added site {id} ({name})."))))
        })
        .await?;
    Ok(ok_json(
        if written.dry_run { 200 } else { 201 },
        products_json(&written.outcome),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewProduct {
    id: String,
    name: String,
    site_id: String,
    #[serde(default)]
    roles: Vec<String>,
}

/// POST /products {id, name, siteId, roles}
pub async fn add_product(call: &AdminCall<'_>) -> Result<Response<Body>, ScimError> {
    let body: NewProduct = call.body()?;
    let id = slug(&body.id)?;
    let name = required("name", &body.name)?;
    let site_id = required("siteId", &body.site_id)?;
    let roles = names("roles", &body.roles)?;
    if roles.is_empty() {
        return Err(ScimError::invalid_value(
            "a product needs at least one role",
        ));
    }
    let written = call
        .writer()
        .update_org(&call.caller(), &call.org, "POST /products", |org| {
            if !org.sites.iter().any(|s| s.id == site_id) {
                return Err(ScimError::invalid_value(format!(
                    "no site {site_id}; add it with POST /sites"
                )));
            }
            if org.products.iter().any(|p| p.id == id) {
                return Err(ScimError::uniqueness(format!(
                    "product {id} already exists"
                )));
            }
            let mut next = org.clone();
            next.products.push(Product {
                id: id.clone(),
                name: name.clone(),
                site_id: site_id.clone(),
                roles: roles.clone(),
                default_groups: Vec::new(),
            });
            Ok(Some((next, format!("Added product {id}."))))
        })
        .await?;
    Ok(ok_json(
        if written.dry_run { 200 } else { 201 },
        products_json(&written.outcome),
    ))
}

pub async fn list_products(call: &AdminCall<'_>) -> Result<Response<Body>, ScimError> {
    Ok(ok_json(200, products_json(&call.org)))
}
/// Roles must name a product and one of its roles: `jira/user`.
fn check_roles(org: &OrgRecord, roles: &[String]) -> Result<(), ScimError> {
    for r in roles {
        let ok = r
            .split_once('/')
            .and_then(|(p, role)| {
                org.products
                    .iter()
                    .find(|x| x.id == p)
                    .map(|x| x.roles.iter().any(|y| y == role))
            })
            .unwrap_or(false);
        if !ok {
            return Err(ScimError::invalid_value(format!(
                "'{r}' is not <product>/<role> of a product of this organization"
            )));
        }
    }
    Ok(())
}

async fn load_org_group(call: &AdminCall<'_>, id: &str) -> Result<OrgGroupRecord, ScimError> {
    crate::write::access::load_org_group(call.store, &call.org.id, id).await
}

#[derive(Deserialize)]
struct NewOrgGroup {
    name: String,
    #[serde(default)]
    roles: Vec<String>,
}

/// POST /org-groups {name, roles}: a group the admins manage.
pub async fn create_org_group(call: &AdminCall<'_>) -> Result<Response<Body>, ScimError> {
    let body: NewOrgGroup = call.body()?;
    let name = required("name", &body.name)?;
    let roles = names("roles", &body.roles)?;
    check_roles(&call.org, &roles)?;
    let written = call
        .writer()
        .create_org_group(&call.caller(), &call.org, &name, roles)
        .await?;
    Ok(ok_json(
        if written.dry_run { 200 } else { 201 },
        org_group_json(&call.org, &written.outcome),
    ))
}

#[derive(Deserialize)]
struct Roles {
    roles: Vec<String>,
}

/// PUT /org-groups/{id}/roles {roles}
pub async fn set_roles(call: &AdminCall<'_>, id: &str) -> Result<Response<Body>, ScimError> {
    let body: Roles = call.body()?;
    let roles = names("roles", &body.roles)?;
    check_roles(&call.org, &roles)?;
    let written = call.writer().set_roles(&call.caller(), id, roles).await?;
    Ok(ok_json(200, org_group_json(&call.org, &written.outcome)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountIds {
    account_ids: Vec<String>,
}

/// POST /org-groups/{id}/members {accountIds}: admin membership of an admin-managed group.
pub async fn add_members(call: &AdminCall<'_>, id: &str) -> Result<Response<Body>, ScimError> {
    let body: AccountIds = call.body()?;
    let ids = names("accountIds", &body.account_ids)?;
    let written = call
        .writer()
        .add_org_group_members(&call.caller(), id, &ids)
        .await?;
    if written.dry_run {
        return Ok(ok_json(
            200,
            json!({"dryRun": true, "writes": written.plan.len()}),
        ));
    }
    Ok(empty(204))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DefaultGroup {
    org_group_id: String,
}

/// POST /products/{p}/default-groups {orgGroupId} and DELETE .../{og} (G4).
pub async fn set_default(
    call: &AdminCall<'_>,
    product: &str,
    remove: Option<&str>,
) -> Result<Response<Body>, ScimError> {
    let og_id = match remove {
        Some(id) => id.to_string(),
        None => required("orgGroupId", &call.body::<DefaultGroup>()?.org_group_id)?,
    };
    let g = load_org_group(call, &og_id).await?;
    let operation = format!("{} /products/{product}/default-groups", call.req.method());
    let written = call
        .writer()
        .update_org(&call.caller(), &call.org, &operation, |org| {
            let mut next = org.clone();
            let p = next
                .products
                .iter_mut()
                .find(|p| p.id == product)
                .ok_or_else(|| ScimError::not_found(format!("product {product} not found")))?;
            let is_default = p.default_groups.contains(&og_id);
            let message = match remove {
                Some(_) if !is_default => {
                    return Err(ScimError::not_found(format!(
                        "group '{}' is not a default-access group of {product}",
                        g.name
                    )))
                }
                Some(_) => {
                    p.default_groups.retain(|x| *x != og_id);
                    format!(
                        "Group '{}' is no longer a default-access group of {product}.",
                        g.name
                    )
                }
                None if is_default => return Ok(None),
                None => {
                    p.default_groups.push(og_id.clone());
                    format!("Group '{}' is now a default-access group of {product}: every new account joins it.", g.name)
                }
            };
            Ok(Some((next, message)))
        })
        .await?;
    Ok(ok_json(200, products_json(&written.outcome)))
}

pub async fn account_access(call: &AdminCall<'_>, id: &str) -> Result<Response<Body>, ScimError> {
    let a = call
        .store
        .get_account(&call.org.id, id)
        .await?
        .ok_or_else(|| ScimError::not_found(format!("account {id} not found")))?;
    Ok(ok_json(200, access_json(call, &a).await?))
}
fn summary_json(call: &AdminCall<'_>, b: &Breakdown) -> Value {
    let base = format!(
        "/admin/v1/orgs/{}/conflicts/{}/{}",
        call.org.id, b.conflict.directory_id, b.conflict.group_id
    );
    json!({
        "directoryId": b.conflict.directory_id,
        "groupId": b.conflict.group_id,
        "name": b.conflict.name,
        "orgGroup": org_group_json(&call.org, &b.org_group),
        "roles": b.org_group.roles,
        "sites": b.sites,
        "added": b.to_add.len(),
        "removed": b.to_remove.len(),
        "unchanged": b.unchanged,
        "unlinkedMembers": b.unlinked_members.len(),
        "rejected": b.conflict.rejected,
        "since": b.conflict.since,
        "canSync": b.default_for.is_empty(),
        "defaultAccessFor": b.default_for,
        "blockedBecause": default_access_refusal(&call.org, b).map(|e| e.detail),
        "review": base,
    })
}
/// Per-account access change for a list of accounts joining or leaving the group: what
/// each gains or loses, and the group's roles it keeps from its other sources (G8: a direct
/// assignment keeps a role when the group goes).
async fn access_changes(
    call: &AdminCall<'_>,
    b: &Breakdown,
    ids: &[String],
    joining: bool,
) -> Result<Vec<Value>, ScimError> {
    let accounts = call.store.get_accounts(&call.org.id, ids).await?;
    let mut out = Vec::with_capacity(accounts.len());
    for a in &accounts {
        let (admin, synced) = call.store.account_groups(a).await?;
        let others: Vec<OrgGroupRecord> = effective_groups(admin, synced)
            .into_iter()
            .filter(|g| g.id != b.org_group.id)
            .collect();
        let delta = access_delta(a, &others, &b.org_group);
        out.push(json!({
            "accountId": a.id,
            "email": a.email,
            "status": a.status,
            if joining { "gains" } else { "loses" }: delta.changed,
            "keeps": delta.kept.iter().map(|(role, sources)| role_json(role, sources)).collect::<Vec<_>>(),
        }));
    }
    Ok(out)
}
fn page(params: &std::collections::HashMap<String, String>) -> (usize, usize) {
    let offset = params
        .get("offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    let limit = params
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(100usize)
        .clamp(1, 1000);
    (offset, limit)
}
/// GET /conflicts: every held group with its numbers.
pub async fn list_conflicts(call: &AdminCall<'_>) -> Result<Response<Body>, ScimError> {
    let conflicts = call.store.conflicts(&call.org.id).await?;
    let mut out = Vec::with_capacity(conflicts.len());
    for c in conflicts {
        out.push(summary_json(
            call,
            &load_review(call.store, &call.org, c).await?.breakdown,
        ));
    }
    Ok(ok_json(200, json!({"conflicts": out, "total": out.len()})))
}
/// GET /conflicts/{dir}/{gid}?offset=&limit=: the breakdown, with the accounts added and
/// removed paged, each with the access it would gain or lose.
pub async fn get_conflict(
    call: &AdminCall<'_>,
    dir: &str,
    gid: &str,
) -> Result<Response<Body>, ScimError> {
    let r = review(call, dir, gid).await?;
    let (offset, limit) = page(&call.params);
    let b = &r.breakdown;
    let add_page: Vec<String> = b.to_add.iter().skip(offset).take(limit).cloned().collect();
    let remove_page: Vec<String> = b
        .to_remove
        .iter()
        .skip(offset)
        .take(limit)
        .cloned()
        .collect();
    let mut body = summary_json(call, b);
    if let Some(o) = body.as_object_mut() {
        o.insert(
            "accountsAdded".into(),
            json!(access_changes(call, b, &add_page, true).await?),
        );
        o.insert(
            "accountsRemoved".into(),
            json!(access_changes(call, b, &remove_page, false).await?),
        );
        let more = offset + limit < b.to_add.len().max(b.to_remove.len());
        o.insert(
            "nextOffset".into(),
            if more {
                json!(offset + limit)
            } else {
                Value::Null
            },
        );
    }
    Ok(ok_json(200, body))
}

/// The review of a held conflict of this org.
async fn review(call: &AdminCall<'_>, dir: &str, gid: &str) -> Result<Review, ScimError> {
    let conflict = load_conflict(call.store, &call.org.id, dir, gid).await?;
    load_review(call.store, &call.org, conflict).await
}

/// Syncs one held group; on a dry run answers the exact changes, access included.
async fn sync_one(call: &AdminCall<'_>, conflict: ConflictRecord) -> Result<Value, ScimError> {
    let written = call
        .writer()
        .sync_conflict(&call.caller(), &call.org, conflict)
        .await?;
    let r = &written.outcome;
    let mut out = summary_json(call, &r.breakdown);
    if let Some(o) = out.as_object_mut() {
        if written.dry_run {
            o.insert(
                "accountsAdded".into(),
                json!(access_changes(call, &r.breakdown, &r.breakdown.to_add, true).await?),
            );
            o.insert(
                "accountsRemoved".into(),
                json!(access_changes(call, &r.breakdown, &r.breakdown.to_remove, false).await?),
            );
            o.insert("writes".into(), json!(written.plan.len()));
        } else {
            o.insert("synced".into(), json!(true));
            if r.later {
                // Nobody's account was read: the job's end in the log has the numbers.
                for k in ["added", "removed", "unchanged", "unlinkedMembers"] {
                    o.insert(k.into(), Value::Null);
                }
            }
        }
        // A big group's members are handled by a sync job (a dry run says it would be).
        o.insert("asynchronous".into(), json!(r.later));
    }
    Ok(out)
}

/// POST /conflicts/{dir}/{gid}/sync (G3, G4).
pub async fn sync(call: &AdminCall<'_>, dir: &str, gid: &str) -> Result<Response<Body>, ScimError> {
    let conflict = load_conflict(call.store, &call.org.id, dir, gid).await?;
    Ok(ok_json(200, sync_one(call, conflict).await?))
}

/// POST /conflicts/{dir}/{gid}/reject (G3): stays held.
pub async fn reject(
    call: &AdminCall<'_>,
    dir: &str,
    gid: &str,
) -> Result<Response<Body>, ScimError> {
    let written = call
        .writer()
        .reject_conflict(&call.caller(), dir, gid)
        .await?;
    Ok(ok_json(
        200,
        json!({"groupId": gid, "held": true, "rejected": true, "dryRun": written.dry_run}),
    ))
}

/// POST /conflicts/sync-all (G3): every held group that can be synced, in one call with no
/// batch limit. Each group syncs atomically; a call that runs past its time budget answers
/// 202 with progress, and calling again resumes with what is left (synced groups are no
/// longer held). Rejected groups are skipped unless `includeRejected=true`.
pub async fn sync_all(call: &AdminCall<'_>) -> Result<Response<Body>, ScimError> {
    let started = Instant::now();
    let include_rejected = call
        .params
        .get("includerejected")
        .map(|v| v == "true")
        .unwrap_or(false);
    let conflicts = call.store.conflicts(&call.org.id).await?;
    let total = conflicts.len();
    let mut synced = Vec::new();
    let mut refused = Vec::new();
    let mut skipped = Vec::new();
    let mut remaining = 0;
    // Each group syncs on its own (one write of its own, retried on a lost race), so several
    // go at once: the call is bound by DynamoDB's latency, not by its throughput.
    let mut outcomes = futures::stream::iter(conflicts.into_iter().map(|c| async move {
        if started.elapsed() > SYNC_ALL_BUDGET {
            return SyncAllOutcome::Remaining;
        }
        if c.rejected && !include_rejected {
            return SyncAllOutcome::Skipped(
                json!({"groupId": c.group_id, "name": c.name, "reason": "rejected by an admin"}),
            );
        }
        let summary = json!({"groupId": c.group_id, "name": c.name});
        match sync_one(call, c).await {
            Ok(v) if call.dry_run() => SyncAllOutcome::Synced(v),
            Ok(_) => SyncAllOutcome::Synced(summary),
            Err(e) if e.status == 409 => {
                let mut v = summary;
                v["reason"] = json!(e.detail);
                SyncAllOutcome::Refused(v)
            }
            Err(e) => SyncAllOutcome::Failed(e),
        }
    }))
    .buffer_unordered(SYNC_ALL_PARALLEL);
    while let Some(outcome) = outcomes.next().await {
        match outcome {
            SyncAllOutcome::Synced(v) => synced.push(v),
            SyncAllOutcome::Refused(v) => refused.push(v),
            SyncAllOutcome::Skipped(v) => skipped.push(v),
            SyncAllOutcome::Remaining => remaining += 1,
            // What synced stays synced; calling again resumes with what is left.
            SyncAllOutcome::Failed(e) => return Err(e),
        }
    }
    let status = if remaining > 0 { 202 } else { 200 };
    Ok(ok_json(
        status,
        json!({
            "total": total,
            "synced": synced.len(),
            "syncedGroups": synced,
            "refused": refused,
            "skipped": skipped,
            "remaining": remaining,
            "done": remaining == 0,
            "dryRun": call.dry_run(),
        }),
    ))
}
pub async fn list_org_groups(call: &AdminCall<'_>) -> Result<Response<Body>, ScimError> {
    let groups = call.store.org_groups(&call.org.id).await?;
    Ok(ok_json(
        200,
        json!({"groups": groups.iter().map(|g| org_group_json(&call.org, g)).collect::<Vec<_>>()}),
    ))
}
