//! Sign-in attempts per client address. The per-member lockout (`service::members`) stops
//! guessing one member's password; this stops one client from trying password after
//! password across many members, and from making the server hash passwords (argon2id,
//! slow on purpose) as fast as it can send forms.
//!
//! A client is its address as [`TrustedProxies`] finds it: the TCP peer, or behind a
//! proxy listed in `portal.trusted_proxies` the address that proxy forwarded for. An IPv6
//! client is its /64 network (one host usually holds a whole /64).

use super::client_address::TrustedProxies;
use actix_web::HttpRequest;
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;

/// At most a number of sign-in attempts per minute from one client, all of them at once
/// if it likes.
#[derive(Debug)]
pub struct SignInThrottle {
    /// Keyed with SipHash: clients choose their addresses.
    limiter: DefaultKeyedRateLimiter<u128>,
    proxies: TrustedProxies,
}

impl SignInThrottle {
    /// `attempts` a minute from one client, refilled evenly over the minute; clients
    /// behind `proxies` are told apart by the address those forwarded for.
    pub fn per_minute(attempts: NonZeroU32, proxies: TrustedProxies) -> Self {
        let quota = Quota::per_minute(attempts).allow_burst(attempts);
        Self { limiter: RateLimiter::keyed(quota), proxies }
    }

    /// The client that sent `request`, when its peer address is known.
    pub fn client_of(&self, request: &HttpRequest) -> Option<IpAddr> {
        self.proxies.client_of(request)
    }

    /// Counts one attempt of `client`: `Err` with the seconds to wait when it has none left.
    pub fn attempt(&self, client: IpAddr) -> Result<(), u64> {
        self.limiter.check_key(&client_key(client)).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.limiter.clock().now());
            (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
        })
    }

    /// Forgets clients whose attempts are whole again; how many clients remain.
    pub fn purge(&self) -> usize {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
        self.limiter.len()
    }
}

/// An IPv4 address as an IPv4-mapped IPv6 one, an IPv6 address as its /64 network.
fn client_key(client: IpAddr) -> u128 {
    match client {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => u128::from(v4.to_ipv6_mapped()),
            None => u128::from(v6) & !u128::from(u64::MAX),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|error| panic!("{text}: {error}"))
    }

    #[test]
    fn a_client_gets_its_attempts_then_waits_while_others_go_on() {
        let throttle =
            SignInThrottle::per_minute(NonZeroU32::MIN.saturating_add(1), TrustedProxies::default());

        assert_eq!(throttle.attempt(address("192.0.2.7")), Ok(()));
        assert_eq!(throttle.attempt(address("192.0.2.7")), Ok(()));
        let refused = throttle.attempt(address("192.0.2.7"));

        assert!(matches!(refused, Err(wait) if (1..=30).contains(&wait)), "{refused:?}");
        assert_eq!(throttle.attempt(address("192.0.2.8")), Ok(()), "another client");
    }

    #[test]
    fn an_ipv6_client_is_its_64_network_and_a_mapped_ipv4_one_its_address() {
        assert_eq!(client_key(address("2001:db8::1")), client_key(address("2001:db8::ffff:1")));
        assert_ne!(client_key(address("2001:db8::1")), client_key(address("2001:db8:0:1::1")));
        assert_eq!(client_key(address("::ffff:192.0.2.7")), client_key(address("192.0.2.7")));
        assert_ne!(client_key(address("192.0.2.7")), client_key(address("192.0.2.8")));
    }
}
