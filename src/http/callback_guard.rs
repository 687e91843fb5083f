//! Rate limiting of unverified callback senders (issue 8): the callback endpoints stay open to the
//! providers, but a sender whose callbacks keep failing verification is told to slow down.
//!
//! Each refused callback (bad signature, not the provider's format) costs its sender's IP one
//! token of a per-IP quota; when the quota is spent, every request from that IP is answered 429
//! until the block expires. Verified callbacks cost nothing, so a provider is never throttled by
//! someone else's forgeries, and a provider whose key was mis-configured recovers by itself.

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Refused callbacks an IP may send per minute (with the same burst) before it is blocked.
const FAILURES_PER_MINUTE: u32 = 30;
const BLOCK: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct CallbackGuard {
    failures: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    blocked: Arc<Mutex<HashMap<IpAddr, Instant>>>,
}

impl Default for CallbackGuard {
    fn default() -> Self {
        let per_minute = NonZeroU32::new(FAILURES_PER_MINUTE).unwrap_or(NonZeroU32::MIN);
        Self {
            failures: Arc::new(RateLimiter::keyed(Quota::per_minute(per_minute))),
            blocked: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

impl CallbackGuard {
    /// True while `ip` is blocked.
    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        let Ok(mut blocked) = self.blocked.lock() else {
            return false;
        };
        match blocked.get(&ip) {
            Some(until) if *until > Instant::now() => true,
            Some(_) => {
                blocked.remove(&ip);
                false
            }
            None => false,
        }
    }

    /// Charges a refused callback to `ip`; blocks it when its quota is spent.
    pub fn refused(&self, ip: IpAddr) {
        if self.failures.check_key(&ip).is_err() {
            if let Ok(mut blocked) = self.blocked.lock() {
                blocked.retain(|_, until| *until > Instant::now());
                blocked.insert(ip, Instant::now() + BLOCK);
            }
            metrics::counter!("bnpl_callback_senders_blocked_total").increment(1);
            tracing::warn!(%ip, "too many refused callbacks from this sender: blocked for a minute");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_is_blocked_after_its_quota_of_refusals_and_others_are_not() {
        let guard = CallbackGuard::default();
        let forger: IpAddr = "198.51.100.7".parse().unwrap();
        let provider: IpAddr = "203.0.113.9".parse().unwrap();
        for _ in 0..FAILURES_PER_MINUTE {
            guard.refused(forger);
        }
        assert!(!guard.is_blocked(forger), "the quota itself is allowed");
        guard.refused(forger);
        assert!(guard.is_blocked(forger));
        assert!(!guard.is_blocked(provider));
    }
}
