//! Throttling of senders whose callbacks fail verification (contract §7): the callback endpoints
//! stay open to the providers, but a sender whose callbacks keep failing is told to slow down.
//!
//! Invariants:
//! - verification comes first and only failures are charged, so a provider's genuine callbacks
//!   are applied even from an address that also sent forgeries (behind a load balancer every
//!   sender may share one address), and `account_mismatch` (signed by a real provider) is never
//!   charged;
//! - the sender is the TCP peer, or the client `X-Forwarded-For` names when the peer is one of
//!   the configured `trusted_proxies` (anyone else can write that header);
//! - memory is bounded: at most [`MAX_TRACKED`] senders are tracked, and expired entries go first.

use axum::http::HeaderMap;
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Refused callbacks a sender may send per window before it is blocked.
pub const FAILURES_PER_WINDOW: u32 = 30;
const WINDOW: Duration = Duration::from_secs(60);
const BLOCK: Duration = Duration::from_secs(60);
/// Senders tracked at most; beyond it new senders are not tracked until old entries expire.
pub const MAX_TRACKED: usize = 10_000;

/// One sender's refused callbacks in the current window, and its block.
#[derive(Debug, Clone, Copy)]
struct Sender {
    window_start: Instant,
    failures: u32,
    blocked_until: Option<Instant>,
}

impl Sender {
    fn expired(&self, now: Instant) -> bool {
        let window_over = now.duration_since(self.window_start) >= WINDOW;
        let unblocked = self.blocked_until.is_none_or(|until| until <= now);
        window_over && unblocked
    }
}

#[derive(Clone, Default)]
pub struct CallbackGuard {
    senders: Arc<Mutex<HashMap<IpAddr, Sender>>>,
    trusted_proxies: Arc<Vec<IpNet>>,
}

impl CallbackGuard {
    pub fn new(trusted_proxies: Vec<IpNet>) -> Self {
        CallbackGuard {
            senders: Arc::default(),
            trusted_proxies: Arc::new(trusted_proxies),
        }
    }

    /// The sender of a request: the peer, or, when the peer is a trusted proxy, the right-most
    /// address of `X-Forwarded-For` that is not itself a trusted proxy.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusted(peer) {
            return peer;
        }
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(|part| part.trim().parse().ok())
            .collect();
        forwarded
            .iter()
            .rev()
            .find(|address| !self.trusted(**address))
            .or(forwarded.first())
            .copied()
            .unwrap_or(peer)
    }

    fn trusted(&self, address: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&address))
    }

    /// True while `sender` is blocked.
    pub fn is_blocked(&self, sender: IpAddr) -> bool {
        let Ok(senders) = self.senders.lock() else {
            return false;
        };
        let now = Instant::now();
        senders
            .get(&sender)
            .and_then(|entry| entry.blocked_until)
            .is_some_and(|until| until > now)
    }

    /// Charges a refused callback to `sender`; blocks it when its quota is spent.
    pub fn refused(&self, sender: IpAddr) {
        let Ok(mut senders) = self.senders.lock() else {
            return;
        };
        let now = Instant::now();
        if !senders.contains_key(&sender) && senders.len() >= MAX_TRACKED {
            senders.retain(|_, entry| !entry.expired(now));
            if senders.len() >= MAX_TRACKED {
                metrics::counter!("bnpl_callback_senders_untracked_total").increment(1);
                return;
            }
        }
        let entry = senders.entry(sender).or_insert(Sender {
            window_start: now,
            failures: 0,
            blocked_until: None,
        });
        if now.duration_since(entry.window_start) >= WINDOW {
            entry.window_start = now;
            entry.failures = 0;
        }
        entry.failures += 1;
        if entry.failures > FAILURES_PER_WINDOW && entry.blocked_until.is_none_or(|until| until <= now) {
            entry.blocked_until = Some(now + BLOCK);
            metrics::counter!("bnpl_callback_senders_blocked_total").increment(1);
            tracing::warn!(%sender, "too many refused callbacks from this sender: its unverified callbacks are refused for a minute");
        }
    }

    /// Senders tracked now (for tests of the bound).
    pub fn tracked(&self) -> usize {
        self.senders.lock().map(|senders| senders.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_sender_is_blocked_after_its_quota_of_refusals_and_others_are_not() {
        let guard = CallbackGuard::default();
        let forger = ip("198.51.100.7");
        for _ in 0..FAILURES_PER_WINDOW {
            guard.refused(forger);
        }
        assert!(!guard.is_blocked(forger), "the quota itself is allowed");
        guard.refused(forger);
        assert!(guard.is_blocked(forger));
        assert!(!guard.is_blocked(ip("203.0.113.9")));
    }

    #[test]
    fn memory_is_bounded_whatever_the_number_of_senders() {
        let guard = CallbackGuard::default();
        for n in 0..(MAX_TRACKED as u32 + 5_000) {
            guard.refused(IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n)));
        }
        assert_eq!(guard.tracked(), MAX_TRACKED);
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let guard = CallbackGuard::new(vec!["10.0.0.0/8".parse().unwrap()]);
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("192.0.2.1, 203.0.113.5, 10.1.2.3"),
        );
        // From the balancer: the right-most untrusted hop is the client.
        assert_eq!(guard.client(ip("10.0.0.1"), &headers), ip("203.0.113.5"));
        // From anyone else the header is the sender's own claim: ignored.
        assert_eq!(guard.client(ip("198.51.100.7"), &headers), ip("198.51.100.7"));
        // No header behind the balancer: the balancer itself.
        assert_eq!(guard.client(ip("10.0.0.1"), &HeaderMap::new()), ip("10.0.0.1"));
        let untrusting = CallbackGuard::default();
        assert_eq!(untrusting.client(ip("10.0.0.1"), &headers), ip("10.0.0.1"));
    }
}
