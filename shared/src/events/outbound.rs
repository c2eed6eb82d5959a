//! The HTTP client that POSTs SETs (RFC 8935), held to X5: `https` to public addresses
//! only (loopback `http` only when the local stack allows it), no redirects, no proxies,
//! bounded connect and total times. A custom DNS resolver drops every address that is not
//! public, at every connection, so a name that resolves (or is re-pointed, "DNS
//! rebinding") to a private, loopback or metadata address is never reached.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use super::target::{is_loopback_ip, is_public_ip, loopback_allowed};

/// The media type of a SET body (RFC 8935 §2).
pub const SET_CONTENT_TYPE: &str = "application/secevent+jwt";

/// Why one POST did not deliver its SET. Only kinds and statuses: never a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostOutcome {
    /// 2xx (RFC 8935: 202 Accepted).
    Accepted,
    /// 400 with an RFC 8935 error body about this SET (`invalid_request`): dead-lettered,
    /// and the queue goes on.
    Rejected { err: String },
    /// Anything else: the subscription's delivery failed.
    Failed(FailureKind),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    /// An HTTP status that is not success (a 3xx is a redirect, never followed).
    Status(u16),
    /// A 400 whose RFC 8935 error is about the receiver's set-up (`invalid_key`,
    /// `invalid_audience`, `authentication_failed`, ...), not this SET.
    ReceiverError(String),
    Timeout,
    Connect,
    /// The target is not allowed (scheme, or an address that is not public).
    Refused,
    Other,
}

impl FailureKind {
    /// Worth retrying within the invocation: the receiver may answer differently in a
    /// second (5xx, 429, 408, a timeout, a connection error).
    pub fn is_transient(&self) -> bool {
        match self {
            FailureKind::Status(s) => *s >= 500 || *s == 429 || *s == 408,
            FailureKind::Timeout | FailureKind::Connect | FailureKind::Other => true,
            FailureKind::ReceiverError(_) | FailureKind::Refused => false,
        }
    }

    /// What the delivery state and the dead-letter notice say: a status or a kind.
    pub fn label(&self) -> String {
        match self {
            FailureKind::Status(s) if (300..400).contains(s) => format!("redirect {s}"),
            FailureKind::Status(s) => format!("status {s}"),
            FailureKind::ReceiverError(e) => format!("status 400 {e}"),
            FailureKind::Timeout => "timeout".into(),
            FailureKind::Connect => "connection failed".into(),
            FailureKind::Refused => "target refused (X5)".into(),
            FailureKind::Other => "request failed".into(),
        }
    }
}

/// RFC 8935 §2.3's error codes that reject one SET; the others are about the receiver's
/// keys or configuration and fail the subscription instead (so that a misconfigured
/// receiver does not empty its queue into the dead-letter queue).
pub fn rejects_the_set(err: &str) -> bool {
    matches!(err, "invalid_request")
}

/// What a 400 body says, if it is an RFC 8935 error (`{"err": "...", "description": ...}`).
pub fn rfc8935_error(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("err")?.as_str().map(str::to_string)
}

/// Whether a push may go to `url` at all, before any DNS: `https`, or loopback `http` when
/// the local stack allows it; an IP literal host (which skips the resolver) must be public
/// (or loopback, when allowed).
pub fn target_allowed(url: &str, allow_loopback: bool) -> bool {
    let Ok(u) = url::Url::parse(url) else {
        return false;
    };
    let literal = match u.host() {
        Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        Some(url::Host::Domain(_)) => None,
        None => return false,
    };
    match u.scheme() {
        "https" => literal.is_none_or(|ip| address_allowed(ip, allow_loopback)),
        "http" if allow_loopback => match literal {
            Some(ip) => is_loopback_ip(ip),
            None => u.host_str() == Some("localhost"),
        },
        _ => false,
    }
}

/// Whether a connection may go to `ip`.
pub fn address_allowed(ip: IpAddr, allow_loopback: bool) -> bool {
    is_public_ip(ip) || (allow_loopback && is_loopback_ip(ip))
}

/// The resolver: the system's, minus every address that may not be reached.
#[derive(Debug, Clone, Copy)]
pub struct PublicOnlyResolver {
    pub allow_loopback: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("{0} resolves to no address a push may reach")]
struct NoAllowedAddress(String);

impl PublicOnlyResolver {
    /// Keeps the allowed addresses of `addrs`.
    pub fn filter(&self, addrs: impl IntoIterator<Item = SocketAddr>) -> Vec<SocketAddr> {
        addrs
            .into_iter()
            .filter(|a| address_allowed(a.ip(), self.allow_loopback))
            .collect()
    }
}

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = *self;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let allowed = this.filter(found);
            if allowed.is_empty() {
                return Err(Box::new(NoAllowedAddress(host)) as Box<_>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Connect and total timeouts of one POST.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub total: Duration,
}

/// The push client: built once per cold start.
#[derive(Debug, Clone)]
pub struct PushClient {
    http: reqwest::Client,
    allow_loopback: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("could not build the push HTTP client: {0}")]
pub struct ClientError(String);

impl PushClient {
    /// Loopback is allowed when `SCIMLINK_ALLOW_LOOPBACK_PUSH=1` (the local stack).
    pub fn new(timeouts: Timeouts) -> Result<Self, ClientError> {
        Self::with_loopback(timeouts, loopback_allowed())
    }

    pub fn with_loopback(timeouts: Timeouts, allow_loopback: bool) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.total)
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent("scimlink-events/1")
            .dns_resolver(Arc::new(PublicOnlyResolver { allow_loopback }))
            .build()
            .map_err(|e| ClientError(e.to_string()))?;
        Ok(PushClient {
            http,
            allow_loopback,
        })
    }

    /// One POST of one SET (RFC 8935 §2): no retry here.
    pub async fn post(&self, url: &str, set: &str) -> PostOutcome {
        if !target_allowed(url, self.allow_loopback) {
            return PostOutcome::Failed(FailureKind::Refused);
        }
        let sent = self
            .http
            .post(url)
            .header(http::header::CONTENT_TYPE, SET_CONTENT_TYPE)
            .header(http::header::ACCEPT, "application/json")
            .body(set.to_string())
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return PostOutcome::Failed(classify_error(&e)),
        };
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return PostOutcome::Accepted;
        }
        if status == 400 {
            // A bounded read: an error body is a few hundred bytes.
            let body = read_bounded(response, 16 * 1024).await;
            return match body.as_deref().and_then(rfc8935_error) {
                Some(err) if rejects_the_set(&err) => PostOutcome::Rejected { err },
                Some(err) => PostOutcome::Failed(FailureKind::ReceiverError(err)),
                None => PostOutcome::Failed(FailureKind::Status(400)),
            };
        }
        PostOutcome::Failed(FailureKind::Status(status))
    }
}

async fn read_bounded(mut response: reqwest::Response, limit: usize) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        out.extend_from_slice(&chunk);
        if out.len() > limit {
            return None;
        }
    }
    Some(out)
}

fn classify_error(e: &reqwest::Error) -> FailureKind {
    if e.is_timeout() {
        FailureKind::Timeout
    } else if is_refused_resolution(e) {
        FailureKind::Refused
    } else if e.is_connect() {
        FailureKind::Connect
    } else {
        FailureKind::Other
    }
}

fn is_refused_resolution(e: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<NoAllowedAddress>() {
            return true;
        }
        source = s.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x5_targets_must_be_https_to_public_hosts() {
        for url in [
            "https://10.0.0.1/events",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/x",
            "https://127.0.0.1/x",
            "http://example.com/x",
            "ftp://example.com/x",
            "http://127.0.0.1:8080/x",
            "not a url",
        ] {
            assert!(!target_allowed(url, false), "{url}");
        }
        assert!(target_allowed("https://receiver.example.com/events", false));
        assert!(target_allowed("https://93.184.216.34/events", false));
        // The local stack: loopback http, and still no private address.
        assert!(target_allowed("http://127.0.0.1:8080/x", true));
        assert!(target_allowed("http://localhost:8080/x", true));
        assert!(target_allowed("http://[::1]:8080/x", true));
        assert!(!target_allowed("http://10.0.0.1/x", true));
        assert!(!target_allowed("http://example.com/x", true));
    }

    #[test]
    fn x5_the_resolver_drops_every_address_that_is_not_public() {
        let strict = PublicOnlyResolver {
            allow_loopback: false,
        };
        let addrs: Vec<SocketAddr> = [
            "10.0.0.1:0",
            "169.254.169.254:0",
            "127.0.0.1:0",
            "192.168.0.10:0",
            "[fd00::1]:0",
            "[::ffff:10.0.0.1]:0",
            "93.184.216.34:0",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        assert_eq!(
            strict.filter(addrs.clone()),
            vec!["93.184.216.34:0".parse::<SocketAddr>().unwrap()]
        );
        let local = PublicOnlyResolver {
            allow_loopback: true,
        };
        assert_eq!(local.filter(addrs).len(), 2);
    }

    #[tokio::test]
    async fn x5_a_name_that_resolves_to_loopback_is_refused_outside_the_local_stack() {
        use reqwest::dns::Resolve;
        let strict = PublicOnlyResolver {
            allow_loopback: false,
        };
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        assert!(strict.resolve(name).await.is_err());
        // And the client says so as a refusal, without sending anything.
        let client = PushClient::with_loopback(
            Timeouts {
                connect: Duration::from_millis(500),
                total: Duration::from_secs(1),
            },
            false,
        )
        .unwrap();
        assert_eq!(
            client.post("https://localhost:1/x", "a.b.c").await,
            PostOutcome::Failed(FailureKind::Refused)
        );
        assert_eq!(
            client.post("https://10.0.0.1/x", "a.b.c").await,
            PostOutcome::Failed(FailureKind::Refused)
        );
    }

    #[test]
    fn rfc8935_errors_tell_a_bad_set_from_a_bad_receiver() {
        assert_eq!(
            rfc8935_error(br#"{"err":"invalid_request","description":"x"}"#).as_deref(),
            Some("invalid_request")
        );
        assert!(rejects_the_set("invalid_request"));
        assert!(!rejects_the_set("invalid_key"));
        assert!(!rejects_the_set("authentication_failed"));
        assert_eq!(rfc8935_error(b"<html>"), None);
        assert!(FailureKind::Status(503).is_transient());
        assert!(FailureKind::Timeout.is_transient());
        assert!(!FailureKind::Status(302).is_transient());
        assert!(!FailureKind::Refused.is_transient());
        assert_eq!(FailureKind::Status(302).label(), "redirect 302");
    }
}
