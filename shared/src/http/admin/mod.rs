//! `/admin/v1/...`: the `admin` function. A router over one module per area:
//!
//! - `call`: the call's context (who calls, the org, typed bodies, the write service);
//! - `render`: JSON views shared by the areas;
//! - `orgs`: organizations, directories, credentials, domains;
//! - `accounts`: invites, JIT sign-ins, accounts, links, unlink and relink (L9, L10);
//! - `access`: sites, products, org groups, access, held conflicts (G2-G4, G7);
//! - `log`: the troubleshooting log and diagnose (E1, E2);
//! - `safeguard`: a directory's mass-deprovisioning safeguard and its holds (E4);
//! - `subscriptions`: receivers of the org's events, their state, redelivery (E5, X5);
//! - `poll`: SET delivery by poll (RFC 8936), authenticated by a receiver's own token;
//! - `contract`: the OpenAPI document (`GET /admin/v1/openapi.json`) and the route table
//!   that it and this router are tested against.
//!
//! Areas import `call` and `render`, never each other.

mod access;
mod accounts;
mod call;
mod contract;
mod log;
mod orgs;
mod poll;
mod render;
mod safeguard;
mod subscriptions;

use lambda_http::{Body, Request, RequestExt, Response};

use super::request::body_bytes;
use super::{finish, request_id, AppState};
use crate::directory::safeguard::HoldDecision;
use crate::directory::subscriptions::SubscriptionChange;
use crate::scim::error::ScimError;
use crate::scim::limits::check_admin_request;
use call::{authorize_org, require_operator, Actor, AdminCall};

pub use call::new_secret;
pub use contract::{ADMIN_ROUTES, OPENAPI_JSON};

const JSON: &str = "application/json";

/// Entry point of the `admin` function.
pub async fn handle_admin(
    state: &AppState,
    req: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let rid = request_id(&req);
    let store = &state.store;
    let before = store.metrics().snapshot();
    let result = serve(state, &req).await;
    let response = match result {
        Ok(r) => r,
        Err(e) => {
            let mut r = finish(Err(e));
            if let Ok(v) = http::HeaderValue::from_str(JSON) {
                r.headers_mut().insert(http::header::CONTENT_TYPE, v);
            }
            r
        }
    };
    let cost = store.metrics().snapshot() - before;
    tracing::info!(
        request_id = %rid,
        method = %req.method(),
        path = %req.uri().path(),
        status = response.status().as_u16(),
        dynamodb_requests = cost.requests,
        "admin request"
    );
    Ok(response)
}

/// The path below `/admin/v1/`, as segments: the router's `proxy` parameter where it gives
/// one (API Gateway's `{proxy+}`, `cargo lambda watch`'s `{*proxy}`), else the raw path.
fn segments(req: &Request) -> Vec<String> {
    let params = req.path_parameters();
    let rest = match params.first("proxy") {
        Some(p) => p.to_string(),
        None => {
            let path = req.uri().path();
            path.find("/admin/v1/")
                .map(|i| path[i + "/admin/v1/".len()..].to_string())
                .unwrap_or_default()
        }
    };
    rest.split('/')
        .filter(|p| !p.is_empty())
        .map(|p| {
            percent_encoding::percent_decode_str(p)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

async fn serve(state: &AppState, req: &Request) -> Result<Response<Body>, ScimError> {
    let store = &state.store;
    let parts = segments(req);
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let method = req.method().as_str();
    // The contract: public, like the document of any API (it holds no tenant data).
    if parts[..] == ["openapi.json"] {
        return match method {
            "GET" => Ok(contract::openapi_response()),
            _ => Err(ScimError::method_not_allowed(
                "the OpenAPI document is read with GET",
                "GET",
            )),
        };
    }
    if parts.first() != Some(&"orgs") {
        return Err(ScimError::not_found("no such endpoint"));
    }
    let params = super::query_params(req);
    if parts.len() == 1 {
        require_operator(state, req)?;
        check_admin_request(&parts, &params, body_bytes(req))?;
        return match method {
            "POST" => orgs::create_org(store, req).await,
            _ => Err(ScimError::method_not_allowed(
                "only POST creates an organization",
                "POST",
            )),
        };
    }
    let org_id = parts[1];
    // A receiver polls with its own token, which no other admin route accepts.
    if let [_, _, "subscriptions", subscription_id, "poll"] = parts[..] {
        check_admin_request(&parts, &params, body_bytes(req))?;
        if method != "POST" {
            return Err(ScimError::method_not_allowed(
                "a poll is a POST (RFC 8936)",
                "POST",
            ));
        }
        return poll::poll(state, req, org_id, subscription_id).await;
    }
    let actor = authorize_org(state, req, org_id).await?;
    check_admin_request(&parts, &params, body_bytes(req))?;
    let org = store
        .get_org(org_id)
        .await?
        .ok_or_else(|| ScimError::not_found(format!("organization {org_id} not found")))?;
    let call = AdminCall {
        store,
        req,
        org,
        actor,
        rid: request_id(req),
        params,
        cursor_key: &state.cursor_key,
        events_key: state.events_key.as_ref(),
        allow_loopback_push: state.allow_loopback_push,
        tokens: &state.tokens,
    };
    let call = &call;
    match (method, &parts[2..]) {
        ("GET", []) => Ok(call::ok_json(200, render::org_json(&call.org))),
        ("POST", ["domains"]) => orgs::set_domain(call, None).await,
        ("DELETE", ["domains", domain]) => orgs::set_domain(call, Some(domain)).await,
        ("POST", ["admin-keys"]) => {
            if call.actor != Actor::Operator {
                return Err(ScimError::new(
                    403,
                    None,
                    "only the operator creates admin keys",
                ));
            }
            orgs::create_credential(call, None).await
        }
        ("GET", ["admin-keys"]) => orgs::list_credentials(call, None).await,
        ("DELETE", ["admin-keys", id]) => orgs::revoke_credential(call, None, id).await,
        ("POST", ["directories"]) => orgs::create_directory(call).await,
        ("GET", ["directories"]) => orgs::list_directories(call).await,
        ("POST", ["directories", dir, "tokens"]) => orgs::create_credential(call, Some(dir)).await,
        ("GET", ["directories", dir, "tokens"]) => orgs::list_credentials(call, Some(dir)).await,
        ("DELETE", ["directories", dir, "tokens", id]) => {
            orgs::revoke_credential(call, Some(dir), id).await
        }
        ("GET", ["directories", dir, "events"]) => {
            call.directory(dir).await?;
            log::events(call, Some(dir)).await
        }
        ("GET", ["directories", dir, "unlinked-users"]) => {
            accounts::unlinked_users(call, dir).await
        }
        ("POST", ["directories", dir, "users", user, "unlink"]) => {
            accounts::unlink(call, dir, user).await
        }
        ("POST", ["directories", dir, "users", user, "relink"]) => {
            accounts::relink(call, dir, user).await
        }
        ("GET", ["directories", dir, "safeguard"]) => safeguard::get(call, dir).await,
        ("PUT", ["directories", dir, "safeguard"]) => safeguard::put(call, dir).await,
        ("GET", ["directories", dir, "safeguard", "holds"]) => safeguard::holds(call, dir).await,
        ("POST", ["directories", dir, "safeguard", "holds", "approve"]) => {
            safeguard::decide(call, dir, HoldDecision::Approve).await
        }
        ("POST", ["directories", dir, "safeguard", "holds", "release"]) => {
            safeguard::decide(call, dir, HoldDecision::Release).await
        }
        ("GET", ["events"]) => log::events(call, None).await,
        ("GET", ["diagnose"]) => log::diagnose(call).await,
        ("POST", ["invites"]) => accounts::invite(call).await,
        ("POST", ["jit-sign-ins"]) => accounts::jit_sign_in(call).await,
        ("GET", ["accounts"]) => accounts::list_accounts(call).await,
        ("GET", ["accounts", id]) => accounts::get_account(call, id).await,
        ("GET", ["links"]) => accounts::links(call).await,
        ("GET", ["accounts", id, "access"]) => access::account_access(call, id).await,
        ("POST", ["sites"]) => access::add_site(call).await,
        ("POST", ["products"]) => access::add_product(call).await,
        ("GET", ["products"]) => access::list_products(call).await,
        ("POST", ["products", p, "default-groups"]) => access::set_default(call, p, None).await,
        ("DELETE", ["products", p, "default-groups", g]) => {
            access::set_default(call, p, Some(g)).await
        }
        ("POST", ["org-groups"]) => access::create_org_group(call).await,
        ("GET", ["org-groups"]) => access::list_org_groups(call).await,
        ("PUT", ["org-groups", id, "roles"]) => access::set_roles(call, id).await,
        ("POST", ["org-groups", id, "members"]) => access::add_members(call, id).await,
        ("GET", ["conflicts"]) => access::list_conflicts(call).await,
        ("POST", ["conflicts", "sync-all"]) => access::sync_all(call).await,
        ("GET", ["conflicts", dir, gid]) => access::get_conflict(call, dir, gid).await,
        ("POST", ["conflicts", dir, gid, "sync"]) => access::sync(call, dir, gid).await,
        ("POST", ["conflicts", dir, gid, "reject"]) => access::reject(call, dir, gid).await,
        ("POST", ["subscriptions"]) => subscriptions::create(call).await,
        ("GET", ["subscriptions"]) => subscriptions::list(call).await,
        ("GET", ["subscriptions", id]) => subscriptions::get(call, id).await,
        ("DELETE", ["subscriptions", id]) => subscriptions::delete(call, id).await,
        ("POST", ["subscriptions", id, "pause"]) => {
            subscriptions::change(call, id, SubscriptionChange::Pause).await
        }
        ("POST", ["subscriptions", id, "resume"]) => {
            subscriptions::change(call, id, SubscriptionChange::Resume).await
        }
        ("POST", ["subscriptions", id, "rotate-secret"]) => {
            subscriptions::change(call, id, SubscriptionChange::RotateSecret).await
        }
        ("POST", ["subscriptions", id, "redeliver"]) => subscriptions::redeliver(call, id).await,
        _ => Err(ScimError::not_found("no such endpoint")),
    }
}
