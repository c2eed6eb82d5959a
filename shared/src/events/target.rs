//! Where a push may go (X5): `https` to a public address, never a redirect. Loopback
//! `http` is allowed only when the local stack says so (`SCIMLINK_ALLOW_LOOPBACK_PUSH=1`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether the local stack allows pushes to loopback `http` receivers.
pub fn loopback_allowed() -> bool {
    std::env::var("SCIMLINK_ALLOW_LOOPBACK_PUSH").is_ok_and(|v| v.trim() == "1")
}

/// Whether `ip` is a public unicast address: not private, loopback, link-local (the cloud
/// metadata service), shared (CGNAT), unique-local, multicast, documentation, benchmarking,
/// reserved or unspecified; IPv4-mapped IPv6 addresses are judged as their IPv4.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link local
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
        || first == 0x0064 && ip.segments()[1] == 0xff9b) // NAT64 may reach private IPv4
}

/// Whether `ip` is a loopback address (what the local stack may push to over `http`).
pub fn is_loopback_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v| v.is_loopback()),
    }
}

/// The longest push URL accepted (X4): what a receiver's URL reasonably needs, far below
/// the subscription item's size.
pub const MAX_PUSH_URL_BYTES: usize = 2048;

/// How long resolving a push host at creation may take before the URL is refused.
pub const PUSH_HOST_LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Why a push URL is refused (X5). Each says what to change, for a 400 an admin can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushUrlError {
    #[error("the push URL is longer than {MAX_PUSH_URL_BYTES} bytes")]
    TooLong,
    #[error("the push URL is not an absolute URL: {0}")]
    Unparsable(String),
    #[error("the push URL must use https (http is allowed only to a loopback receiver on the local stack)")]
    NotHttps,
    #[error("the push URL must not carry a user name or password; authenticate the receiver by the SET's signature")]
    Userinfo,
    #[error("the push URL must not have a fragment")]
    Fragment,
    #[error("the push URL has no host")]
    NoHost,
    #[error("the push URL's host {0} is not a public address (private, loopback, link-local and reserved addresses are refused)")]
    NotPublicAddress(String),
    #[error("the push URL's host {0} is a local name; use a public DNS name")]
    LocalName(String),
    #[error("the push URL's host {0} could not be resolved")]
    Unresolvable(String),
    #[error("the push URL's host {host} resolves to {address}, which is not a public address")]
    ResolvesToNonPublic { host: String, address: String },
}

/// Whether a host name is local by its form: `localhost` and `*.localhost` (RFC 6761),
/// and single-label names (`metadata`, `intranet`), which only a resolver's search list
/// can turn into an address, and then an internal one.
fn is_local_name(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    host == "localhost" || host.ends_with(".localhost") || !host.contains('.')
}

/// Whether a host names the loopback interface (by address or as `localhost`).
fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Ipv4(v4) => is_loopback_ip(IpAddr::V4(*v4)),
        url::Host::Ipv6(v6) => is_loopback_ip(IpAddr::V6(*v6)),
        url::Host::Domain(d) => {
            let d = d.trim_end_matches('.');
            d == "localhost" || d.ends_with(".localhost")
        }
    }
}

/// X5: the form of a push URL, without any network look-up. `https` to a public address or
/// a DNS name of more than one label; no user name or password (they would end up in
/// logs and proxies), no fragment, at most [`MAX_PUSH_URL_BYTES`]. With `allow_loopback`
/// (the local stack, `SCIMLINK_ALLOW_LOOPBACK_PUSH=1`, read once at start-up), a loopback
/// receiver (`127.0.0.1`, `::1`, `localhost`) is accepted over `http` or `https`.
///
/// A DNS name passes this check; [`check_push_host_resolves`] then refuses it if it
/// resolves to any non-public address, and the push path checks the address it connects
/// to again (DNS can change after creation).
pub fn check_push_url(raw: &str, allow_loopback: bool) -> Result<url::Url, PushUrlError> {
    if raw.len() > MAX_PUSH_URL_BYTES {
        return Err(PushUrlError::TooLong);
    }
    let url = url::Url::parse(raw.trim()).map_err(|e| PushUrlError::Unparsable(e.to_string()))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(PushUrlError::Userinfo);
    }
    if url.fragment().is_some() {
        return Err(PushUrlError::Fragment);
    }
    let host = url.host().ok_or(PushUrlError::NoHost)?;
    let loopback = is_loopback_host(&host);
    match url.scheme() {
        "https" => {}
        "http" if allow_loopback && loopback => {}
        _ => return Err(PushUrlError::NotHttps),
    }
    if allow_loopback && loopback {
        return Ok(url);
    }
    match host {
        url::Host::Ipv4(v4) if !is_public_ip(IpAddr::V4(v4)) => {
            Err(PushUrlError::NotPublicAddress(v4.to_string()))
        }
        url::Host::Ipv6(v6) if !is_public_ip(IpAddr::V6(v6)) => {
            Err(PushUrlError::NotPublicAddress(v6.to_string()))
        }
        url::Host::Domain(d) if is_local_name(d) => Err(PushUrlError::LocalName(d.to_string())),
        _ => Ok(url),
    }
}

/// X5 at creation: every address the URL's host resolves to must be public (or loopback
/// when `allow_loopback`). An IP literal was judged by [`check_push_url`] already. A name
/// that does not resolve within [`PUSH_HOST_LOOKUP_TIMEOUT`] is refused: a receiver must
/// exist before it is subscribed.
pub async fn check_push_host_resolves(
    url: &url::Url,
    allow_loopback: bool,
) -> Result<(), PushUrlError> {
    let Some(url::Host::Domain(host)) = url.host() else {
        return Ok(());
    };
    if allow_loopback && is_loopback_host(&url::Host::Domain(host)) {
        return Ok(());
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let lookup = tokio::net::lookup_host((host, port));
    let addresses: Vec<std::net::SocketAddr> =
        match tokio::time::timeout(PUSH_HOST_LOOKUP_TIMEOUT, lookup).await {
            Ok(Ok(found)) => found.collect(),
            _ => return Err(PushUrlError::Unresolvable(host.to_string())),
        };
    if addresses.is_empty() {
        return Err(PushUrlError::Unresolvable(host.to_string()));
    }
    check_resolved(host, addresses.iter().map(|a| a.ip()), allow_loopback)
}

/// The decision over resolved addresses, apart from the look-up (so it can be tested).
fn check_resolved(
    host: &str,
    addresses: impl IntoIterator<Item = IpAddr>,
    allow_loopback: bool,
) -> Result<(), PushUrlError> {
    for ip in addresses {
        if !(is_public_ip(ip) || allow_loopback && is_loopback_ip(ip)) {
            return Err(PushUrlError::ResolvesToNonPublic {
                host: host.to_string(),
                address: ip.to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x5_private_and_metadata_addresses_are_not_public() {
        for bad in [
            "10.0.0.1",
            "169.254.169.254",
            "127.0.0.1",
            "192.168.1.1",
            "172.16.0.1",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public_ip(bad.parse().unwrap()), "{bad}");
        }
        for good in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            assert!(is_public_ip(good.parse().unwrap()), "{good}");
        }
    }

    fn refused(url: &str) -> PushUrlError {
        match check_push_url(url, false) {
            Err(e) => e,
            Ok(u) => panic!("{url} was accepted as {u}"),
        }
    }

    #[test]
    fn x5_push_urls_to_private_metadata_and_local_hosts_are_refused() {
        assert_eq!(
            refused("https://10.0.0.1/hook"),
            PushUrlError::NotPublicAddress("10.0.0.1".into())
        );
        assert_eq!(
            refused("https://169.254.169.254/latest/meta-data/"),
            PushUrlError::NotPublicAddress("169.254.169.254".into())
        );
        assert_eq!(
            refused("https://localhost/hook"),
            PushUrlError::LocalName("localhost".into())
        );
        assert_eq!(
            refused("https://api.localhost/hook"),
            PushUrlError::LocalName("api.localhost".into())
        );
        assert_eq!(
            refused("https://metadata/computeMetadata"),
            PushUrlError::LocalName("metadata".into())
        );
        // WHATWG parsing turns these spellings into the addresses they mean.
        assert_eq!(
            refused("https://0x7f.1/"),
            PushUrlError::NotPublicAddress("127.0.0.1".into())
        );
        assert_eq!(
            refused("https://[::ffff:a00:1]/"),
            PushUrlError::NotPublicAddress("::ffff:10.0.0.1".into())
        );
        assert_eq!(
            refused("https://[::1]:8443/"),
            PushUrlError::NotPublicAddress("::1".into())
        );
        assert_eq!(
            refused("https://user:pw@example.com/"),
            PushUrlError::Userinfo
        );
        assert_eq!(refused("https://example.com/#x"), PushUrlError::Fragment);
        assert!(matches!(refused("not a url"), PushUrlError::Unparsable(_)));
        assert_eq!(refused("ftp://example.com/"), PushUrlError::NotHttps);
        let long = format!("https://example.com/{}", "a".repeat(MAX_PUSH_URL_BYTES));
        assert_eq!(refused(&long), PushUrlError::TooLong);
    }

    #[test]
    fn x5_http_is_refused_outside_the_local_mode() {
        assert_eq!(refused("http://example.com/hook"), PushUrlError::NotHttps);
        assert_eq!(
            refused("http://127.0.0.1:9000/hook"),
            PushUrlError::NotHttps
        );
        // Local mode allows http to loopback only, never to anything else.
        assert_eq!(
            check_push_url("http://example.com/hook", true),
            Err(PushUrlError::NotHttps)
        );
        assert_eq!(
            check_push_url("http://10.0.0.1/hook", true),
            Err(PushUrlError::NotHttps)
        );
    }

    #[test]
    fn x5_loopback_is_allowed_in_the_local_mode() {
        for url in [
            "http://127.0.0.1:9000/hook",
            "http://localhost:9000/hook",
            "http://[::1]:9000/hook",
            "https://localhost/hook",
        ] {
            assert!(check_push_url(url, true).is_ok(), "{url}");
        }
        assert!(check_resolved("localhost", ["127.0.0.1".parse().unwrap()], true).is_ok());
    }

    #[test]
    fn x5_public_https_urls_pass_and_names_are_judged_by_their_addresses() {
        for url in [
            "https://93.184.216.34/hook",
            "https://receiver.example.com:8443/scim/events?x=1",
            "https://[2606:4700::1111]/hook",
        ] {
            assert!(check_push_url(url, false).is_ok(), "{url}");
        }
        let public: IpAddr = "93.184.216.34".parse().unwrap();
        let private: IpAddr = "10.1.2.3".parse().unwrap();
        assert!(check_resolved("r.example.com", [public], false).is_ok());
        assert_eq!(
            check_resolved("r.example.com", [public, private], false),
            Err(PushUrlError::ResolvesToNonPublic {
                host: "r.example.com".into(),
                address: "10.1.2.3".into()
            })
        );
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(check_resolved("r.example.com", [loopback], false).is_err());
    }

    #[tokio::test]
    async fn x5_ip_literals_need_no_lookup_and_loopback_names_none_in_local_mode() {
        let url = check_push_url("https://93.184.216.34/hook", false).unwrap();
        assert_eq!(check_push_host_resolves(&url, false).await, Ok(()));
        let url = check_push_url("http://localhost:9/hook", true).unwrap();
        assert_eq!(check_push_host_resolves(&url, true).await, Ok(()));
    }
}
