//! Outbound HTTP: the one way Ostiary reaches other servers (Client ID Metadata Documents today;
//! `jwks_uri` and back-channel logout later). Every request to an address somebody else chose
//! goes through here, so server-side request forgery is refused in one place:
//!
//! - https only; plain http only to addresses in `outbound_allow` (`OSTIARY_OUTBOUND_ALLOW`).
//! - The host is resolved here, before connecting. If ANY resolved address is not a public
//!   (globally reachable) unicast address — private, loopback, link-local, CGNAT, documentation,
//!   multicast, reserved, or an IPv4-mapped/NAT64 form of one — the request is refused, unless
//!   that address is in `outbound_allow`. The connection is then pinned to exactly the checked
//!   addresses (no second lookup that a rebinding DNS server could answer differently).
//! - Environment proxies are ignored (a proxy would connect on our behalf, unchecked), no cookies,
//!   no compression (no decompression bombs), HTTP/1.1, a clear User-Agent.
//! - Limits: total time (DNS included), connect time, response size; redirects only to the same
//!   scheme, host and port, at most `Limits::max_redirects` of them, each re-checked.
//!
//! TLS is rustls over the aws-lc-rs provider the rest of the binary uses (no second crypto
//! backend), with Mozilla's root certificates built in (webpki-roots), so a fresh container needs
//! no CA bundle.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ipnet::IpNet;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE, LOCATION};
use url::{Host, Url};

/// What every outbound request says it is.
pub const USER_AGENT: &str = concat!(
    "Ostiary/",
    env!("CARGO_PKG_VERSION"),
    " (OAuth/OpenID Connect provider; outbound fetch)"
);

/// At most this many outbound requests run at once in a process, so a burst of requests naming
/// slow hosts cannot tie up every connection and file descriptor.
const MAX_CONCURRENT: usize = 32;

/// How far one request may go.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Everything: waiting for a slot, DNS, connecting, TLS, redirects, reading the body.
    pub total: Duration,
    /// One TCP connect (per address tried).
    pub connect: Duration,
    /// The body's size; a larger response is refused, not truncated.
    pub max_bytes: usize,
    /// Same-host redirects followed; 0 refuses any redirect.
    pub max_redirects: u8,
}

impl Limits {
    /// Client ID Metadata Documents: no redirects (the draft forbids following them), 64 KiB.
    pub const DOCUMENT: Limits = Limits {
        total: Duration::from_secs(5),
        connect: Duration::from_secs(3),
        max_bytes: 64 * 1024,
        max_redirects: 0,
    };

    /// A client's `jwks_uri`: same-host redirects allowed, 64 KiB.
    pub const JWKS: Limits = Limits {
        total: Duration::from_secs(5),
        connect: Duration::from_secs(3),
        max_bytes: 64 * 1024,
        max_redirects: 2,
    };

    /// A pairwise client's `sector_identifier_uri` (OIDC Core §8.1): same-host redirects, 64 KiB.
    pub const SECTOR: Limits = Limits {
        total: Duration::from_secs(5),
        connect: Duration::from_secs(3),
        max_bytes: 64 * 1024,
        max_redirects: 2,
    };

    /// An upstream identity provider's discovery, JWKS, token and userinfo endpoints: a person
    /// waits on them, so 5 s at most (then a page says the provider did not answer).
    pub const UPSTREAM: Limits = Limits {
        total: Duration::from_secs(5),
        connect: Duration::from_secs(3),
        max_bytes: 256 * 1024,
        max_redirects: 0,
    };

    /// Back-channel logout deliveries: the answer's body is not needed, redirects refused.
    pub const LOGOUT: Limits = Limits {
        total: Duration::from_secs(5),
        connect: Duration::from_secs(3),
        max_bytes: 16 * 1024,
        max_redirects: 0,
    };
}

/// Why an outbound request did not produce a response. Never a panic.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("the URL is not usable: {0}")]
    InvalidUrl(String),
    #[error("only https URLs may be fetched")]
    NotHttps,
    #[error("{host} resolves to {addr}, an address this server does not connect to (private, loopback, link-local or otherwise not public)")]
    ForbiddenAddress { host: String, addr: IpAddr },
    #[error("plain http may reach only allow-listed addresses, and {host} resolves to {addr}")]
    PlainHttpNotAllowed { host: String, addr: IpAddr },
    #[error("{host} could not be resolved")]
    Unresolvable {
        host: String,
        #[source]
        source: Option<std::io::Error>,
    },
    #[error("could not connect to {host}")]
    Connect {
        host: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("no complete answer within {} seconds", .0.as_secs_f32())]
    Timeout(Duration),
    #[error("the response is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the server answered with HTTP status {0}")]
    Status(u16),
    #[error("the server redirected the request{}", if *.to_other_host { " to another host" } else { "" })]
    Redirect { to_other_host: bool },
    #[error("the exchange with the server failed")]
    Transport(#[source] reqwest::Error),
    #[error("TLS could not be set up: {0}")]
    Tls(String),
    #[error("too many outbound requests at once")]
    Busy,
    #[error("the answer is not a JSON {0}")]
    NotJson(&'static str),
}

/// A successful (2xx) response, body read in full within the size limit.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The URL that answered (differs from the one asked only after a same-host redirect).
    pub url: Url,
}

impl Response {
    /// A header's value, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The media type without parameters, lower-cased (`application/json`).
    pub fn media_type(&self) -> Option<String> {
        self.header(CONTENT_TYPE.as_str())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
    }
}

/// The outbound client of one deployment: its allow-list (from `Settings::outbound_allow`).
#[derive(Clone, Debug, Default)]
pub struct Outbound {
    allow: Arc<[IpNet]>,
}

impl Outbound {
    pub fn new(allow: &[IpNet]) -> Self {
        Outbound {
            allow: allow.into(),
        }
    }

    /// GETs `url`, asking for `accept`.
    pub async fn get(
        &self,
        url: &str,
        accept: &str,
        limits: Limits,
    ) -> Result<Response, FetchError> {
        self.send(url, accept, None, &[], limits).await
    }

    /// GETs `url` with a bearer token (RFC 6750 §2.1): an upstream's userinfo endpoint.
    pub async fn get_bearer(
        &self,
        url: &str,
        accept: &str,
        token: &str,
        limits: Limits,
    ) -> Result<Response, FetchError> {
        let auth = format!("Bearer {token}");
        self.send(url, accept, None, &[("authorization", auth)], limits)
            .await
    }

    /// POSTs `form` (application/x-www-form-urlencoded) to `url`; redirects are refused.
    pub async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        limits: Limits,
    ) -> Result<Response, FetchError> {
        self.post(url, "*/*", form, &[], limits).await
    }

    /// As `post_form`, authenticated with HTTP Basic as `(user, password)` when given, each
    /// form-urlencoded first as RFC 6749 §2.3.1 asks of client credentials.
    pub async fn post_form_as(
        &self,
        url: &str,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
        limits: Limits,
    ) -> Result<Response, FetchError> {
        use base64::Engine;
        let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
        let headers: Vec<(&'static str, String)> = basic
            .map(|(u, p)| {
                let pair = format!("{}:{}", enc(u), enc(p));
                let b64 = base64::engine::general_purpose::STANDARD.encode(pair);
                ("authorization", format!("Basic {b64}"))
            })
            .into_iter()
            .collect();
        self.post(url, "application/json", form, &headers, limits)
            .await
    }

    async fn post(
        &self,
        url: &str,
        accept: &str,
        form: &[(&str, &str)],
        headers: &[(&'static str, String)],
        limits: Limits,
    ) -> Result<Response, FetchError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let limits = Limits {
            max_redirects: 0,
            ..limits
        };
        self.send(url, accept, Some(body), headers, limits).await
    }

    async fn send(
        &self,
        url: &str,
        accept: &str,
        form: Option<String>,
        headers: &[(&'static str, String)],
        limits: Limits,
    ) -> Result<Response, FetchError> {
        let url = Url::parse(url).map_err(|e| FetchError::InvalidUrl(e.to_string()))?;
        let within = self.send_within(url, accept, form, headers, limits);
        match tokio::time::timeout(limits.total, within).await {
            Ok(r) => r,
            Err(_) => Err(FetchError::Timeout(limits.total)),
        }
    }

    async fn send_within(
        &self,
        mut url: Url,
        accept: &str,
        form: Option<String>,
        headers: &[(&'static str, String)],
        limits: Limits,
    ) -> Result<Response, FetchError> {
        let _slot = slots().acquire().await.map_err(|_| FetchError::Busy)?;
        let accept = HeaderValue::from_str(accept)
            .map_err(|_| FetchError::InvalidUrl("unusable Accept header".into()))?;
        let mut redirects = 0u8;
        loop {
            let target = self.target(&url).await?;
            let client = client_for(&target, limits)?;
            let request = match &form {
                None => client.get(url.clone()),
                Some(body) => client
                    .post(url.clone())
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(body.clone()),
            };
            let request = headers
                .iter()
                .fold(request, |r, (name, value)| r.header(*name, value.as_str()));
            let response = request
                .header(ACCEPT, accept.clone())
                .send()
                .await
                .map_err(|e| transport_error(e, &target.host, limits))?;
            let status = response.status();
            if status.is_redirection() {
                let next = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| url.join(l).ok());
                let same_origin = next.as_ref().is_some_and(|n| {
                    n.scheme() == url.scheme()
                        && n.host() == url.host()
                        && n.port_or_known_default() == url.port_or_known_default()
                });
                match next {
                    Some(n) if same_origin && redirects < limits.max_redirects => {
                        redirects += 1;
                        url = n;
                        continue;
                    }
                    _ => {
                        return Err(FetchError::Redirect {
                            to_other_host: !same_origin,
                        })
                    }
                }
            }
            if !status.is_success() {
                return Err(FetchError::Status(status.as_u16()));
            }
            return read_body(response, url, limits).await;
        }
    }

    /// Checks the URL's scheme and resolves its host to the addresses it may connect to.
    async fn target(&self, url: &Url) -> Result<Target, FetchError> {
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            _ => return Err(FetchError::NotHttps),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(FetchError::InvalidUrl(
                "user information in URLs is not sent".into(),
            ));
        }
        let port = url
            .port_or_known_default()
            .ok_or_else(|| FetchError::InvalidUrl("no port".into()))?;
        let (host, domain, addrs) = match url.host() {
            Some(Host::Ipv4(ip)) => (ip.to_string(), None, vec![IpAddr::V4(ip)]),
            Some(Host::Ipv6(ip)) => (ip.to_string(), None, vec![IpAddr::V6(ip)]),
            Some(Host::Domain(d)) => {
                let found: Vec<IpAddr> = tokio::net::lookup_host((d, port))
                    .await
                    .map_err(|e| FetchError::Unresolvable {
                        host: d.to_owned(),
                        source: Some(e),
                    })?
                    .map(|a| a.ip())
                    .collect();
                (d.to_owned(), Some(d.to_owned()), found)
            }
            None => return Err(FetchError::InvalidUrl("no host".into())),
        };
        if addrs.is_empty() {
            return Err(FetchError::Unresolvable { host, source: None });
        }
        for &addr in &addrs {
            match permission(addr, &self.allow) {
                Permission::Refused => return Err(FetchError::ForbiddenAddress { host, addr }),
                Permission::HttpsOnly if !https => {
                    return Err(FetchError::PlainHttpNotAllowed { host, addr })
                }
                Permission::HttpsOnly | Permission::AllowListed => {}
            }
        }
        let mut addrs: Vec<SocketAddr> = addrs
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect();
        addrs.dedup();
        Ok(Target {
            host,
            domain,
            addrs,
        })
    }
}

/// Where one request may connect: the host as named, and its checked addresses.
struct Target {
    host: String,
    /// `None` for an IP-address host (nothing to resolve).
    domain: Option<String>,
    addrs: Vec<SocketAddr>,
}

/// What may be done with one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// Not a public address, not allow-listed.
    Refused,
    /// A public address: https only.
    HttpsOnly,
    /// In `outbound_allow`: http or https, whatever kind of address it is.
    AllowListed,
}

/// The rule for one resolved address.
pub fn permission(addr: IpAddr, allow: &[IpNet]) -> Permission {
    let canonical = addr.to_canonical();
    if allow
        .iter()
        .any(|net| net.contains(&addr) || net.contains(&canonical))
    {
        Permission::AllowListed
    } else if is_public(addr) {
        Permission::HttpsOnly
    } else {
        Permission::Refused
    }
}

/// Whether `addr` is a globally reachable unicast address (IANA special-purpose registries;
/// when in doubt, not).
pub fn is_public(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn in_v4(addr: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    (u32::from(addr) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn is_public_v4(a: Ipv4Addr) -> bool {
    const NOT_GLOBAL: [([u8; 4], u32); 16] = [
        ([0, 0, 0, 0], 8),       // "this network", unspecified
        ([10, 0, 0, 0], 8),      // private
        ([100, 64, 0, 0], 10),   // shared address space (CGNAT)
        ([127, 0, 0, 0], 8),     // loopback
        ([169, 254, 0, 0], 16),  // link-local (cloud metadata services live here)
        ([172, 16, 0, 0], 12),   // private
        ([192, 0, 0, 0], 24),    // IETF protocol assignments
        ([192, 0, 2, 0], 24),    // TEST-NET-1
        ([192, 88, 99, 0], 24),  // 6to4 relay anycast (deprecated)
        ([192, 168, 0, 0], 16),  // private
        ([198, 18, 0, 0], 15),   // benchmarking
        ([198, 51, 100, 0], 24), // TEST-NET-2
        ([203, 0, 113, 0], 24),  // TEST-NET-3
        ([224, 0, 0, 0], 4),     // multicast
        ([240, 0, 0, 0], 4),     // reserved, and the broadcast address
        ([255, 255, 255, 255], 32),
    ];
    !NOT_GLOBAL
        .iter()
        .any(|&(net, prefix)| in_v4(a, net, prefix))
}

fn in_v6(addr: Ipv6Addr, net: [u16; 8], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    (u128::from(addr) & mask) == (u128::from(Ipv6Addr::from(net)) & mask)
}

fn is_public_v6(a: Ipv6Addr) -> bool {
    // IPv4-mapped (::ffff:a.b.c.d) and the NAT64 well-known prefix (64:ff9b::/96) reach an IPv4
    // address: judge that one.
    if let Some(v4) = a.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    if in_v6(a, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96) {
        let [.., a0, a1, a2, a3] = a.octets();
        return is_public_v4(Ipv4Addr::new(a0, a1, a2, a3));
    }
    // Only global unicast (2000::/3) is public; within it, these are not.
    const NOT_GLOBAL: [([u16; 8], u32); 5] = [
        ([0x2001, 0, 0, 0, 0, 0, 0, 0], 23), // IETF protocol assignments (Teredo, ORCHID…)
        ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), // documentation
        ([0x2002, 0, 0, 0, 0, 0, 0, 0], 16), // 6to4 (embeds any IPv4 address)
        ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), // documentation (RFC 9637)
        ([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16), // SRv6 SIDs
    ];
    in_v6(a, [0x2000, 0, 0, 0, 0, 0, 0, 0], 3)
        && !NOT_GLOBAL
            .iter()
            .any(|&(net, prefix)| in_v6(a, net, prefix))
}

fn slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| tokio::sync::Semaphore::new(MAX_CONCURRENT))
}

/// The TLS configuration: aws-lc-rs, safe default protocol versions, Mozilla's roots.
fn tls_config() -> Result<rustls::ClientConfig, FetchError> {
    static CONFIG: OnceLock<Result<rustls::ClientConfig, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots =
                rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map(|b| b.with_root_certificates(roots).with_no_client_auth())
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(FetchError::Tls)
}

/// Lookups other than the pinned host's are refused: a request can only reach what was checked.
struct NoLookups;

impl reqwest::dns::Resolve for NoLookups {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let message = format!("{} was not checked for outbound use", name.as_str());
        Box::pin(std::future::ready(Err(
            Box::new(std::io::Error::other(message)) as Box<dyn std::error::Error + Send + Sync>,
        )))
    }
}

/// A client for one request, whose only reachable host is the checked target. Cheap: no pool
/// outlives the request, the TLS configuration is shared.
fn client_for(target: &Target, limits: Limits) -> Result<reqwest::Client, FetchError> {
    let mut builder = reqwest::Client::builder()
        .use_preconfigured_tls(tls_config()?)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(limits.connect)
        .timeout(limits.total)
        .pool_max_idle_per_host(0)
        .user_agent(USER_AGENT)
        .dns_resolver(Arc::new(NoLookups));
    if let Some(domain) = &target.domain {
        builder = builder.resolve_to_addrs(domain, &target.addrs);
    }
    builder.build().map_err(|e| FetchError::Tls(e.to_string()))
}

fn transport_error(e: reqwest::Error, host: &str, limits: Limits) -> FetchError {
    if e.is_timeout() {
        FetchError::Timeout(limits.total)
    } else if e.is_connect() {
        FetchError::Connect {
            host: host.to_owned(),
            source: e,
        }
    } else {
        FetchError::Transport(e)
    }
}

async fn read_body(
    mut response: reqwest::Response,
    url: Url,
    limits: Limits,
) -> Result<Response, FetchError> {
    let too_large = FetchError::TooLarge {
        limit: limits.max_bytes,
    };
    if response
        .content_length()
        .is_some_and(|n| n > limits.max_bytes as u64)
    {
        return Err(too_large);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(e, url.host_str().unwrap_or(""), limits))?
    {
        if body.len() + chunk.len() > limits.max_bytes {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Response {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body,
        url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn addresses_are_classified() {
        use Permission::*;
        let loopback: Vec<IpNet> = vec!["127.0.0.0/8".parse().expect("net")];
        let private: Vec<IpNet> = vec![
            "10.1.0.0/16".parse().expect("net"),
            "fd00::/8".parse().expect("net"),
        ];
        // (address, no allow-list, 127.0.0.0/8 allowed, 10.1/16 and fd00::/8 allowed)
        let table: &[(&str, Permission, Permission, Permission)] = &[
            ("93.184.215.14", HttpsOnly, HttpsOnly, HttpsOnly),
            ("8.8.8.8", HttpsOnly, HttpsOnly, HttpsOnly),
            ("2606:4700::1111", HttpsOnly, HttpsOnly, HttpsOnly),
            ("127.0.0.1", Refused, AllowListed, Refused),
            ("127.255.1.2", Refused, AllowListed, Refused),
            ("::1", Refused, Refused, Refused),
            ("::ffff:127.0.0.1", Refused, AllowListed, Refused),
            ("0.0.0.0", Refused, Refused, Refused),
            ("::", Refused, Refused, Refused),
            ("10.0.0.1", Refused, Refused, Refused),
            ("10.1.2.3", Refused, Refused, AllowListed),
            ("::ffff:10.1.2.3", Refused, Refused, AllowListed),
            ("172.16.0.1", Refused, Refused, Refused),
            ("172.31.255.255", Refused, Refused, Refused),
            ("172.32.0.1", HttpsOnly, HttpsOnly, HttpsOnly),
            ("192.168.1.1", Refused, Refused, Refused),
            ("169.254.169.254", Refused, Refused, Refused),
            ("::ffff:169.254.169.254", Refused, Refused, Refused),
            ("100.64.0.1", Refused, Refused, Refused),
            ("100.127.255.254", Refused, Refused, Refused),
            ("100.128.0.1", HttpsOnly, HttpsOnly, HttpsOnly),
            ("192.0.2.10", Refused, Refused, Refused),
            ("198.51.100.7", Refused, Refused, Refused),
            ("203.0.113.9", Refused, Refused, Refused),
            ("198.18.0.1", Refused, Refused, Refused),
            ("224.0.0.251", Refused, Refused, Refused),
            ("239.255.255.250", Refused, Refused, Refused),
            ("240.0.0.1", Refused, Refused, Refused),
            ("255.255.255.255", Refused, Refused, Refused),
            ("fc00::1", Refused, Refused, Refused),
            ("fd12:3456::1", Refused, Refused, AllowListed),
            ("fe80::1", Refused, Refused, Refused),
            ("fec0::1", Refused, Refused, Refused),
            ("ff02::1", Refused, Refused, Refused),
            ("2001:db8::1", Refused, Refused, Refused),
            ("2002:a00:1::1", Refused, Refused, Refused),
            ("64:ff9b::a00:1", Refused, Refused, Refused),
            ("64:ff9b::808:808", HttpsOnly, HttpsOnly, HttpsOnly),
            ("::ffff:8.8.8.8", HttpsOnly, HttpsOnly, HttpsOnly),
            ("::127.0.0.1", Refused, Refused, Refused),
            ("100::1", Refused, Refused, Refused),
        ];
        for &(addr, none, lo, priv_) in table {
            assert_eq!(
                permission(ip(addr), &[]),
                none,
                "{addr} without an allow-list"
            );
            assert_eq!(
                permission(ip(addr), &loopback),
                lo,
                "{addr} with 127.0.0.0/8 allowed"
            );
            assert_eq!(
                permission(ip(addr), &private),
                priv_,
                "{addr} with 10.1/16, fd00::/8 allowed"
            );
        }
    }

    #[tokio::test]
    async fn urls_are_checked_before_anything_is_sent() {
        let out = Outbound::new(&[]);
        let l = Limits::DOCUMENT;
        let r = out.get("ftp://example.com/x", "*/*", l).await;
        assert!(matches!(r, Err(FetchError::NotHttps)), "{r:?}");
        for url in [
            "https://127.0.0.1/doc",
            "https://[::ffff:192.168.0.1]/doc",
            "https://localhost/doc",
        ] {
            let r = out.get(url, "*/*", l).await;
            assert!(
                matches!(r, Err(FetchError::ForbiddenAddress { .. })),
                "{url}: {r:?}"
            );
        }
        let r = out.get("http://8.8.8.8/doc", "*/*", l).await;
        assert!(
            matches!(r, Err(FetchError::PlainHttpNotAllowed { .. })),
            "{r:?}"
        );
        let r = out.get("https://user:pw@8.8.8.8/doc", "*/*", l).await;
        assert!(matches!(r, Err(FetchError::InvalidUrl(_))), "{r:?}");
    }

    /// One canned answer per connection on loopback; returns the port.
    async fn canned(answer: &'static str) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let mut buf = [0u8; 2048];
                let _ = sock.read(&mut buf).await;
                let _ = sock.write_all(answer.as_bytes()).await;
                let _ = sock.shutdown().await;
            }
        });
        port
    }

    /// What `out` makes of `scheme`://127.0.0.1:`port`/doc.
    async fn get_local(
        out: &Outbound,
        scheme: &str,
        port: u16,
        accept: &str,
        limits: Limits,
    ) -> Result<Response, FetchError> {
        let url = format!("{scheme}://127.0.0.1:{port}/doc");
        out.get(&url, accept, limits).await
    }

    /// No process-wide rustls provider is installed in this test binary (the server installs
    /// none either): the client must bring its own, for http and for https.
    #[tokio::test]
    async fn fetches_from_allow_listed_addresses_without_a_global_tls_provider() {
        let allow: Vec<IpNet> = vec!["127.0.0.0/8".parse().expect("net")];
        let out = Outbound::new(&allow);
        let port = canned(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
        )
        .await;
        let json = "application/json";
        let r = get_local(&out, "http", port, json, Limits::DOCUMENT)
            .await
            .expect("fetched");
        assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
        assert_eq!(r.media_type().as_deref(), Some("application/json"));
        // https to a server that does not speak TLS: an error, not a panic.
        let r = get_local(&out, "https", port, json, Limits::DOCUMENT).await;
        assert!(r.is_err(), "{r:?}");
        // Redirects: never to another host; same host only within the limit.
        let follow = Limits {
            max_redirects: 2,
            ..Limits::DOCUMENT
        };
        for (answer, other_host) in [
            (
                "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.2/x\r\nContent-Length: 0\r\n\r\n",
                true,
            ),
            (
                "HTTP/1.1 301 Moved\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n",
                false,
            ),
        ] {
            let port = canned(answer).await;
            let r = get_local(&out, "http", port, "*/*", follow).await;
            assert!(
                matches!(r, Err(FetchError::Redirect { to_other_host }) if to_other_host == other_host),
                "{r:?}"
            );
        }
        let port = canned("HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n").await;
        let r = get_local(&out, "http", port, "*/*", Limits::DOCUMENT).await;
        assert!(matches!(r, Err(FetchError::Status(503))), "{r:?}");
    }

    /// Run by hand (`cargo test --lib outbound -- --ignored`): needs the internet.
    #[tokio::test]
    #[ignore]
    async fn fetches_a_public_https_page() {
        let out = Outbound::new(&[]);
        let limits = Limits {
            max_bytes: 1024 * 1024,
            ..Limits::DOCUMENT
        };
        let r = out
            .get("https://www.example.com/", "text/html", limits)
            .await
            .expect("fetched over TLS");
        assert_eq!(r.status, 200);
        assert!(!r.body.is_empty());
        let r = out
            .get(
                "https://www.example.com/",
                "text/html",
                Limits {
                    max_bytes: 10,
                    ..limits
                },
            )
            .await;
        assert!(matches!(r, Err(FetchError::TooLarge { .. })), "{r:?}");
    }

    #[test]
    fn tls_uses_aws_lc() {
        let config = tls_config().expect("TLS config");
        assert!(!config.crypto_provider().cipher_suites.is_empty());
    }
}
