//! The client's address behind reverse proxies.
//!
//! Behind a TLS proxy every connection comes from the proxy, so every
//! per-address control — lookup limits, sign-in limits, the audit's source —
//! would see one address. The proxy names the client in `Forwarded`
//! (RFC 7239) or `X-Forwarded-For`; those headers are believed only when the
//! connection comes from a proxy the operator listed (`trusted_proxies`),
//! since anyone else can write them. The list is walked from the right (the
//! hop nearest to us) past trusted proxies; the first address that is not
//! one is the client.

use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;

/// An address block: an address and how many leading bits must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Block {
    net: IpAddr,
    bits: u8,
}

impl Block {
    fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(
                u128::from(u32::from(n)),
                u128::from(u32::from(a)),
                32,
                self.bits,
            ),
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                prefix_eq(u128::from(n), u128::from(a), 128, self.bits)
            }
            _ => false,
        }
    }
}

fn prefix_eq(net: u128, addr: u128, width: u8, bits: u8) -> bool {
    if bits == 0 {
        return true;
    }
    let shift = u32::from(width.saturating_sub(bits));
    net.checked_shr(shift) == addr.checked_shr(shift)
}

/// An IPv4 address mapped into IPv6 (`::ffff:a.b.c.d`) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The reverse proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Block>);

/// A `trusted_proxies` entry that is not an address or a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IP address or a CIDR block (e.g. 127.0.0.1, 10.0.0.0/8, ::1, fd00::/8)")]
pub struct BadProxy(pub String);

impl TrustedProxies {
    /// Reads entries like `127.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`.
    pub fn parse(entries: &[String]) -> Result<Self, BadProxy> {
        let mut blocks = Vec::new();
        for e in entries {
            let e = e.trim();
            let bad = || BadProxy(e.to_owned());
            let (addr, bits) = match e.split_once('/') {
                Some((a, b)) => (a, Some(b.parse::<u8>().map_err(|_| bad())?)),
                None => (e, None),
            };
            let net = canonical(addr.parse::<IpAddr>().map_err(|_| bad())?);
            let width = if net.is_ipv4() { 32 } else { 128 };
            let bits = bits.unwrap_or(width);
            if bits > width {
                return Err(bad());
            }
            blocks.push(Block { net, bits });
        }
        Ok(Self(blocks))
    }

    /// No proxy is trusted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|b| b.contains(ip))
    }

    /// The client's address for a connection from `peer` with `headers`.
    #[must_use]
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let hops = forwarded_for(headers);
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = hop else {
                // An address we cannot read ends the walk: the hop before
                // it (trusted) is the last we know.
                return client;
            };
            client = canonical(*ip);
            if !self.trusts(client) {
                return client;
            }
        }
        client
    }
}

/// The `for=` hops of `Forwarded`, or else the `X-Forwarded-For` list,
/// leftmost first; `None` for an entry that is not an address (`unknown`,
/// an obfuscated name).
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|v| v.split(','))
            .filter_map(|element| {
                element.split(';').find_map(|pair| {
                    let (k, v) = pair.trim().split_once('=')?;
                    k.trim().eq_ignore_ascii_case("for").then(|| node(v))
                })
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(node)
        .collect()
}

/// An address from a `for=` node or a list entry: quotes, brackets and a
/// port removed.
fn node(v: &str) -> Option<IpAddr> {
    let v = v.trim().trim_matches('"');
    if let Some(rest) = v.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    if let Ok(ip) = v.parse() {
        return Some(ip);
    }
    // `a.b.c.d:port`
    v.parse::<SocketAddr>().ok().map(|s| s.ip())
}

/// The client address of a request, put in its extensions by
/// [`with_client_addr`] (read it with [`crate::source_of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    /// The address [`with_client_addr`] worked out, else the peer's, else
    /// the unspecified address (no connection info, as in unit tests).
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        if let Some(c) = parts.extensions.get::<Self>() {
            return Ok(*c);
        }
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |c| c.0.ip()),
        ))
    }
}

/// Works out each request's client address (see [`TrustedProxies`]) before
/// any handler runs.
pub fn with_client_addr(app: Router, proxies: TrustedProxies) -> Router {
    app.layer(axum::middleware::from_fn(
        move |mut req: Request, next: Next| {
            let proxies = proxies.clone();
            async move {
                if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
                    let client = proxies.client(peer.ip(), req.headers());
                    req.extensions_mut().insert(ClientAddr(client));
                }
                let res: Response = next.run(req).await;
                res
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn forwarding_headers_count_only_from_a_trusted_proxy() {
        let proxies =
            TrustedProxies::parse(&["127.0.0.1".into(), "10.0.0.0/8".into()]).unwrap_or_default();
        let forged = headers(&[("x-forwarded-for", "198.51.100.7")]);
        // From an untrusted peer the header is ignored.
        assert_eq!(
            proxies.client(ip("203.0.113.9"), &forged),
            ip("203.0.113.9")
        );
        // From a trusted proxy it names the client.
        assert_eq!(proxies.client(ip("127.0.0.1"), &forged), ip("198.51.100.7"));
        // A client cannot hide behind a forged entry: the walk stops at the
        // first address the trusted proxies did not add.
        let chain = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.7, 10.1.2.3")]);
        assert_eq!(proxies.client(ip("127.0.0.1"), &chain), ip("198.51.100.7"));
        // Forwarded wins over X-Forwarded-For; brackets, quotes and ports go.
        let both = headers(&[
            (
                "forwarded",
                "for=192.0.2.60;proto=https, for=\"[2001:db8::1]:4711\"",
            ),
            ("x-forwarded-for", "9.9.9.9"),
        ]);
        assert_eq!(proxies.client(ip("127.0.0.1"), &both), ip("2001:db8::1"));
        // No proxy trusted: the peer, whatever the headers say.
        assert_eq!(
            TrustedProxies::default().client(ip("127.0.0.1"), &forged),
            ip("127.0.0.1")
        );
        // IPv4-mapped peers match IPv4 blocks.
        assert_eq!(
            proxies.client(ip("::ffff:10.9.9.9"), &forged),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn entries_are_checked() {
        assert!(TrustedProxies::parse(&["fd00::/8".into(), "::1".into()]).is_ok());
        assert_eq!(
            TrustedProxies::parse(&["10.0.0.0/33".into()]),
            Err(BadProxy("10.0.0.0/33".into()))
        );
        assert!(TrustedProxies::parse(&["proxy.example".into()]).is_err());
    }
}
