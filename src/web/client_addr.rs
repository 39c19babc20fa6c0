//! The one notion of the client's address, used by logs, audit, sessions, lockout and
//! admission: the TCP peer, unless the peer is a configured trusted proxy
//! (`OSTIARY_TRUSTED_PROXIES`), in which case `X-Forwarded-For` is read from the right, skipping
//! trusted hops, and the first address that is not a trusted proxy is the client. A header from
//! anyone else is ignored: a client cannot choose its own address.

use std::net::{IpAddr, SocketAddr};

use actix_web::dev::ServiceRequest;
use actix_web::http::header::HeaderMap;
use actix_web::HttpRequest;
use ipnet::IpNet;

use crate::state::AppState;

fn trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    proxies.iter().any(|n| n.contains(&ip))
}

/// One `X-Forwarded-For` element: an address, perhaps with a port or in brackets.
fn parse_hop(raw: &str) -> Option<IpAddr> {
    let s = raw.trim();
    s.parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            s.strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|r| r.parse().ok())
        })
}

/// The client's address given the TCP peer and the request's `X-Forwarded-For` values.
pub fn resolve<'a>(
    peer: Option<IpAddr>,
    forwarded_for: impl Iterator<Item = &'a str>,
    proxies: &[IpNet],
) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted(peer, proxies) {
        return Some(peer);
    }
    let hops: Vec<&str> = forwarded_for.flat_map(|v| v.split(',')).collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match parse_hop(hop) {
            Some(ip) if trusted(ip, proxies) => client = ip,
            Some(ip) => return Some(ip),
            // Garbage from beyond the last trusted hop: stop at what we can vouch for.
            None => break,
        }
    }
    Some(client)
}

fn from_parts(peer: Option<SocketAddr>, headers: &HeaderMap, proxies: &[IpNet]) -> Option<IpAddr> {
    let values = headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok());
    resolve(peer.map(|p| p.ip()), values, proxies)
}

fn proxies_of(state: Option<&actix_web::web::Data<AppState>>) -> &[IpNet] {
    state.map_or(&[], |s| s.settings.trusted_proxies.as_slice())
}

pub fn of(req: &HttpRequest) -> Option<IpAddr> {
    let state = req.app_data::<actix_web::web::Data<AppState>>();
    from_parts(req.peer_addr(), req.headers(), proxies_of(state))
}

pub fn of_service(req: &ServiceRequest) -> Option<IpAddr> {
    let state = req.app_data::<actix_web::web::Data<AppState>>();
    from_parts(req.peer_addr(), req.headers(), proxies_of(state))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let proxies = crate::config::parse_cidrs("10.0.0.0/8").expect("cidrs");
        let xff = ["203.0.113.9, 198.51.100.7"];
        // Not a proxy: the header is the client's own claim and is ignored.
        assert_eq!(
            resolve(Some(ip("192.0.2.1")), xff.into_iter(), &proxies),
            Some(ip("192.0.2.1"))
        );
        // Behind the proxy: the rightmost untrusted hop is the client (a client can prepend
        // anything it likes, but not what the proxy appends).
        assert_eq!(
            resolve(Some(ip("10.0.0.2")), xff.into_iter(), &proxies),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(
            resolve(
                Some(ip("10.0.0.2")),
                ["198.51.100.7, 10.1.1.1"].into_iter(),
                &proxies
            ),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(
            resolve(Some(ip("10.0.0.2")), ["garbage"].into_iter(), &proxies),
            Some(ip("10.0.0.2"))
        );
        assert_eq!(
            resolve(
                Some(ip("10.0.0.2")),
                ["[2001:db8::1]:443"].into_iter(),
                &proxies
            ),
            Some(ip("2001:db8::1"))
        );
        // No proxies configured: never trusted.
        assert_eq!(
            resolve(Some(ip("10.0.0.2")), xff.into_iter(), &[]),
            Some(ip("10.0.0.2"))
        );
    }
}
