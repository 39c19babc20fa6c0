//! Host checks shared by settings validation and the client policy.

use url::Host;

/// `localhost`, `127.0.0.0/8` or `::1`: where plain http is allowed (RFC 8252 §7.3).
pub fn is_loopback_host(host: Option<Host<&str>>) -> bool {
    match host {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}
