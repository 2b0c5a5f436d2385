//! Who a public request comes from: the client address and user agent. The address is the
//! connection's peer, or the first `X-Forwarded-For` entry when the peer is a proxy on the
//! same machine or a private network (referd behind nginx, Caddy or a load balancer). A
//! client on the internet cannot make itself look like another by sending that header.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap, header};
use sha2::{Digest, Sha256};

fn is_proxy(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_proxy(IpAddr::V4(v4)))
        }
    }
}

/// The client's address. Requests without a connection (in-process tests) count as local.
pub fn ip(extensions: &Extensions, headers: &HeaderMap) -> IpAddr {
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |c| c.0.ip());
    if !is_proxy(peer) {
        return peer;
    }
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .and_then(|first| first.trim().parse().ok())
        .unwrap_or(peer)
}

pub fn user_agent(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
}

/// A short, unsalted-but-process-keyed digest of an address for in-memory rate limits (never
/// stored or logged).
pub fn limit_key(ip: IpAddr, secret: &[u8; 32]) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(secret);
    match ip {
        IpAddr::V4(v4) => h.update(v4.to_ipv6_mapped().octets()),
        IpAddr::V6(v6) => h.update(v6.octets()),
    }
    let mut out = [0; 16];
    out.copy_from_slice(&h.finalize()[..16]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_peer(peer: &str) -> Extensions {
        let mut e = Extensions::new();
        e.insert(ConnectInfo::<SocketAddr>(peer.parse().unwrap()));
        e
    }

    #[test]
    fn forwarded_for_is_trusted_only_from_a_proxy() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "198.51.100.9, 10.0.0.2".parse().unwrap());
        assert_eq!(
            ip(&with_peer("127.0.0.1:5000"), &h),
            "198.51.100.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            ip(&with_peer("10.1.2.3:5000"), &h),
            "198.51.100.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            ip(&with_peer("203.0.113.5:5000"), &h),
            "203.0.113.5".parse::<IpAddr>().unwrap(),
            "a public peer cannot claim another address"
        );
        assert_eq!(
            ip(&with_peer("127.0.0.1:5000"), &HeaderMap::new()),
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
    }
}
