//! The console's routing and headers, and the rules its assets keep (docs/CONSOLE.md).

use super::*;

fn get(path: &str) -> Response<Body> {
    console_response(&Method::GET, path)
}

fn header<'a>(r: &'a Response<Body>, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

fn body(r: &Response<Body>) -> &str {
    match r.body() {
        Body::Text(t) => t,
        Body::Empty => "",
        _ => "<binary>",
    }
}

/// The security headers every answer carries, errors and redirects included.
fn assert_security_headers(r: &Response<Body>) {
    assert_eq!(
        header(r, "content-security-policy"),
        Some(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
             img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        )
    );
    assert_eq!(header(r, "x-content-type-options"), Some("nosniff"));
    assert_eq!(header(r, "referrer-policy"), Some("no-referrer"));
    assert_eq!(header(r, "cache-control"), Some("no-cache"));
}

#[test]
fn serves_the_three_assets_with_their_types() {
    for (path, ty, needle) in [
        (
            "/console/index.html",
            "text/html; charset=utf-8",
            "<!doctype html>",
        ),
        ("/console/", "text/html; charset=utf-8", "<!doctype html>"),
        (
            "/console/app.js",
            "text/javascript; charset=utf-8",
            "'use strict'",
        ),
        ("/console/app.css", "text/css; charset=utf-8", "body {"),
    ] {
        let r = get(path);
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&r, "content-type"), Some(ty), "{path}");
        assert!(body(&r).contains(needle), "{path}");
        assert_security_headers(&r);
    }
}

#[test]
fn the_bare_path_redirects_to_the_page() {
    let r = get("/console");
    assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(header(&r, "location"), Some("/console/index.html"));
    assert_security_headers(&r);
}

#[test]
fn unknown_paths_are_404() {
    for path in [
        "/console/nope",
        "/console/app.js/",
        "/console/../admin/v1/orgs",
        "/console/index.htm",
        "/consolex",
        "/",
        "/admin/v1/openapi.json",
    ] {
        let r = get(path);
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            header(&r, "content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert_security_headers(&r);
    }
}

#[test]
fn other_methods_are_405() {
    for m in [
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
    ] {
        for path in ["/console/index.html", "/console", "/console/nope"] {
            let r = console_response(&m, path);
            assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{m} {path}");
            assert_eq!(header(&r, "allow"), Some("GET, HEAD"));
            assert_security_headers(&r);
        }
    }
}

#[test]
fn head_has_the_headers_and_no_body() {
    let r = console_response(&Method::HEAD, "/console/app.js");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        header(&r, "content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_security_headers(&r);
    assert_eq!(body(&r), "");
}

#[tokio::test]
async fn the_handler_routes_on_the_request_path() -> Result<(), Error> {
    let req = http::Request::builder()
        .method(Method::GET)
        .uri("https://example.test/console/app.css?v=1")
        .body(Body::Empty)?;
    let r = handle_console(req).await?;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-type"), Some("text/css; charset=utf-8"));
    Ok(())
}

/// The page loads only same-origin files, with no inline script, style or handler (the CSP
/// would refuse them).
#[test]
fn the_page_has_nothing_inline_and_nothing_from_elsewhere() {
    let html = INDEX_HTML.to_ascii_lowercase();
    assert!(html.contains(r#"<script src="/console/app.js" defer></script>"#));
    assert!(html.contains(r#"<link rel="stylesheet" href="/console/app.css">"#));
    assert_eq!(
        html.matches("<script").count(),
        1,
        "one script, from a file"
    );
    for banned in [
        "<style",
        " style=",
        " onclick",
        " onload",
        " onerror",
        " onsubmit",
        "javascript:",
        "http://",
        "https://",
        "//cdn",
    ] {
        assert!(!html.contains(banned), "index.html contains {banned:?}");
    }
    // Forms post (never GET): a key typed in with the script blocked stays out of URLs.
    assert_eq!(
        html.matches("<form").count(),
        html.matches(r#"method="post""#).count()
    );
}

/// The script never builds markup from strings and loads nothing from elsewhere.
#[test]
fn the_script_inserts_text_never_markup() {
    for banned in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "setTimeout('",
        "http://",
        "https://",
        "localStorage",
        "document.cookie",
    ] {
        assert!(!APP_JS.contains(banned), "app.js contains {banned:?}");
    }
    assert!(APP_JS.contains("createTextNode"));
    assert!(APP_JS.contains("sessionStorage"));
}

/// Every element the script looks up by a literal id is in the page, and every page the
/// navigation names has its section and is one the script shows (a typo would leave a
/// page blank, which no header test would notice).
#[test]
fn the_script_and_the_page_agree_on_ids_and_pages() {
    let ids: Vec<&str> = APP_JS
        .split("$('")
        .skip(1)
        .filter_map(|rest| rest.split_once("')").map(|(id, _)| id))
        .filter(|id| id.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        .collect();
    assert!(ids.len() > 20, "the script's lookups: {ids:?}");
    for id in ids {
        assert!(
            INDEX_HTML.contains(&format!(r#"id="{id}""#)),
            "app.js looks up #{id}, which index.html does not have"
        );
    }
    let pages: Vec<&str> = INDEX_HTML
        .split(r#"data-page=""#)
        .skip(1)
        .filter_map(|rest| rest.split_once('"').map(|(p, _)| p))
        .collect();
    assert_eq!(pages.len(), 7, "{pages:?}");
    for page in pages {
        assert!(
            INDEX_HTML.contains(&format!(r#"<section id="page-{page}""#)),
            "no section for page {page}"
        );
        assert!(
            APP_JS.contains(&format!("'{page}'")),
            "app.js does not know page {page}"
        );
    }
}
