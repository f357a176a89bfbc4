//! Which client a request comes from, for per-client limits such as the sign-in throttle.
//!
//! Without trusted proxies the client is the TCP peer. A peer listed in
//! `portal.trusted_proxies` forwards for someone else, and each proxy appends the address it
//! received the request from to `X-Forwarded-For`. The client is then the rightmost address
//! there that is not itself a trusted proxy. Addresses further left were written by the
//! client, which can name any address it likes, and are never believed. A hop that is not an
//! address (`unknown`, an obfuscated name) ends the walk: the last trusted hop speaks for it.

use actix_web::HttpRequest;
use actix_web::http::header::{HeaderMap, X_FORWARDED_FOR};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};

/// The proxies whose `X-Forwarded-For` is believed: addresses and networks
/// (`10.0.0.0/8`). Configured as a list or as one comma-separated string.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ProxyList", into = "Vec<String>")]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// The client behind `request`, when its peer address is known.
    pub fn client_of(&self, request: &HttpRequest) -> Option<IpAddr> {
        let peer = request.peer_addr()?.ip();
        Some(self.client(peer, request.headers()))
    }

    /// The client of a request that `peer` delivered with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer;
        if !self.trusts(client) {
            return client;
        }
        let hops: Vec<&str> = headers
            .get_all(X_FORWARDED_FOR)
            .flat_map(|value| value.to_str().unwrap_or("unknown").split(','))
            .map(str::trim)
            .collect();
        for hop in hops.into_iter().rev() {
            let Some(address) = parse_hop(hop) else { break };
            client = address;
            if !self.trusts(address) {
                break;
            }
        }
        client
    }

    fn trusts(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|network| network.contains(&address))
    }
}

/// A hop as proxies write it: an address, with or without a port.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let address = hop.parse::<IpAddr>().or_else(|_| hop.parse::<SocketAddr>().map(|socket| socket.ip()));
    address.ok().map(|address| address.to_canonical())
}

/// A configured address or network that is neither.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` in trusted_proxies is neither an IP address nor a network such as 10.0.0.0/8")]
pub struct InvalidProxy(String);

/// Trusted proxies as configured: a TOML list, or one string (`"10.0.0.0/8, 127.0.0.1"`),
/// as an environment variable gives it.
#[derive(Deserialize)]
#[serde(untagged)]
enum ProxyList {
    Joined(String),
    Each(Vec<String>),
}

impl TryFrom<ProxyList> for TrustedProxies {
    type Error = InvalidProxy;

    fn try_from(list: ProxyList) -> Result<Self, Self::Error> {
        let entries: Vec<String> = match list {
            ProxyList::Joined(joined) => joined.split(',').map(str::to_owned).collect(),
            ProxyList::Each(entries) => entries,
        };
        let networks = entries
            .iter()
            .map(|entry| entry.trim())
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(|address| IpNet::from(address.to_canonical())))
                    .map_err(|_| InvalidProxy(entry.to_owned()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self(networks))
    }
}

impl From<TrustedProxies> for Vec<String> {
    fn from(proxies: TrustedProxies) -> Self {
        proxies.0.iter().map(IpNet::to_string).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn address(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|error| panic!("{text}: {error}"))
    }

    fn proxies(entries: &str) -> TrustedProxies {
        TrustedProxies::try_from(ProxyList::Joined(entries.to_owned())).expect("valid proxies")
    }

    fn forwarded(hops: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for hop in hops {
            headers.append(X_FORWARDED_FOR, HeaderValue::from_str(hop).expect("header value"));
        }
        headers
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let headers = forwarded(&["203.0.113.9"]);

        assert_eq!(
            TrustedProxies::default().client(address("198.51.100.1"), &headers),
            address("198.51.100.1")
        );
        assert_eq!(proxies("10.0.0.0/8").client(address("198.51.100.1"), &headers), address("198.51.100.1"));
    }

    #[test]
    fn behind_trusted_proxies_the_client_is_the_rightmost_untrusted_hop() {
        let trusted = proxies("10.0.0.0/8, 127.0.0.1");
        let peer = address("127.0.0.1");

        assert_eq!(trusted.client(peer, &forwarded(&["203.0.113.9"])), address("203.0.113.9"));
        assert_eq!(
            trusted.client(peer, &forwarded(&["192.0.2.66, 203.0.113.9, 10.1.2.3"])),
            address("203.0.113.9"),
            "the spoofed leftmost hop is ignored and the trusted one skipped"
        );
        assert_eq!(
            trusted.client(peer, &forwarded(&["192.0.2.66", "203.0.113.9:4711"])),
            address("203.0.113.9"),
            "hops in several header lines, one with a port"
        );
        assert_eq!(trusted.client(peer, &forwarded(&["[2001:db8::7]:443"])), address("2001:db8::7"));
    }

    #[test]
    fn a_hop_that_is_no_address_leaves_the_last_trusted_one_as_client() {
        let trusted = proxies("10.0.0.0/8, 127.0.0.1");
        let peer = address("127.0.0.1");

        assert_eq!(trusted.client(peer, &forwarded(&["unknown, 10.1.2.3"])), address("10.1.2.3"));
        assert_eq!(trusted.client(peer, &forwarded(&[])), peer, "no header: the proxy itself");
        assert_eq!(trusted.client(peer, &forwarded(&["10.9.9.9, 10.1.2.3"])), address("10.9.9.9"));
    }

    #[test]
    fn proxies_are_configured_as_a_list_or_one_string_and_refused_when_wrong() {
        let listed: TrustedProxies =
            serde_json::from_str(r#"["10.0.0.0/8", "::1"]"#).expect("a list of networks");
        assert_eq!(listed, proxies("10.0.0.0/8,::1"));
        assert_eq!(Vec::<String>::from(listed), ["10.0.0.0/8", "::1/128"]);
        assert!(proxies(" ").0.is_empty(), "a blank string trusts no proxy");

        let wrong = serde_json::from_str::<TrustedProxies>(r#""10.0.0.0/8, proxy.internal""#);
        let message = wrong.expect_err("a host name is refused").to_string();
        assert!(message.contains("`proxy.internal`"), "{message}");
    }
}
