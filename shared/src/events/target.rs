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
}
