//! The web console (docs/CONSOLE.md): one HTML page, one script and one style sheet,
//! embedded at build time and served under `/console/` with a strict Content-Security-Policy.
//! The console function reads no table and no secret: the page calls the admin API itself,
//! from the same origin, with the admin key it keeps in `sessionStorage`.

use http::{header, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};

/// The policy of every answer: scripts, styles and calls from this origin only, nothing
/// inline, no plug-ins, no framing, forms posted nowhere else.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Where `GET /console` sends the browser: a path every router gives this function.
pub const ENTRY: &str = "/console/index.html";

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// An embedded asset: its body and its exact content type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Asset {
    pub body: &'static str,
    pub content_type: &'static str,
}

/// The asset served at `path`, if any.
pub fn asset(path: &str) -> Option<Asset> {
    let (body, content_type) = match path {
        "/console/" | "/console/index.html" => (INDEX_HTML, "text/html; charset=utf-8"),
        "/console/app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "/console/app.css" => (APP_CSS, "text/css; charset=utf-8"),
        _ => return None,
    };
    Some(Asset { body, content_type })
}

/// The `console` function: wiring calls this with each request. The body is never read.
pub async fn handle_console(req: Request) -> Result<Response<Body>, Error> {
    Ok(console_response(req.method(), req.uri().path()))
}

/// The answer to `method` on `path`: the asset with its headers, a redirect from
/// `/console`, `405` for any method but GET and HEAD, `404` for any other path.
pub fn console_response(method: &Method, path: &str) -> Response<Body> {
    if method != Method::GET && method != Method::HEAD {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "405 method not allowed\n");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let mut response = if path == "/console" {
        let mut r = plain(StatusCode::PERMANENT_REDIRECT, "");
        r.headers_mut()
            .insert(header::LOCATION, HeaderValue::from_static(ENTRY));
        r
    } else if let Some(a) = asset(path) {
        with_type(StatusCode::OK, a.body, a.content_type)
    } else {
        plain(StatusCode::NOT_FOUND, "404 not found\n")
    };
    if method == Method::HEAD {
        *response.body_mut() = Body::Empty;
    }
    response
}

fn plain(status: StatusCode, body: &'static str) -> Response<Body> {
    with_type(status, body, "text/plain; charset=utf-8")
}

fn with_type(status: StatusCode, body: &'static str, content_type: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::Text(body.to_owned()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

#[cfg(test)]
mod tests;
