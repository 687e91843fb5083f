//! Per-account bounds on provider calls (design §1: "Provider calls are bounded per account"):
//! at most `max_concurrent_calls` at once and `calls_per_second` on average, so 100,000 payments
//! reaching their base time together queue here instead of hammering the provider.

use crate::config::CallLimits;
use crate::providers::executor::{Executor, TransportError};
use crate::providers::{ProviderRequest, RawResponse};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// The bounds of one provider account; cheap to share.
#[derive(Clone)]
pub struct CallLimiter {
    concurrent: Arc<Semaphore>,
    rate: Arc<DefaultDirectRateLimiter>,
}

impl std::fmt::Debug for CallLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallLimiter")
            .field("available", &self.concurrent.available_permits())
            .finish()
    }
}

impl CallLimiter {
    pub fn new(limits: &CallLimits) -> Self {
        let per_second = NonZeroU32::new(limits.calls_per_second).unwrap_or(NonZeroU32::MIN);
        let concurrent = usize::try_from(limits.max_concurrent_calls).unwrap_or(1).max(1);
        Self {
            concurrent: Arc::new(Semaphore::new(concurrent)),
            rate: Arc::new(RateLimiter::direct(Quota::per_second(per_second))),
        }
    }

    /// Sends `request` once a concurrency slot and a rate token are free.
    pub async fn send(
        &self,
        executor: &Executor,
        request: &ProviderRequest,
        timeout: Duration,
    ) -> Result<RawResponse, TransportError> {
        // The semaphore is never closed, so acquiring can only wait, not fail.
        let _slot = self.concurrent.acquire().await;
        self.rate.until_ready().await;
        let started = std::time::Instant::now();
        let result = executor.send(request, timeout).await;
        let outcome = match &result {
            Ok(raw) if raw.is_server_error() => "server_error",
            Ok(_) => "answered",
            Err(_) => "transport_error",
        };
        metrics::counter!("bnpl_provider_calls_total", "outcome" => outcome).increment(1);
        metrics::histogram!("bnpl_provider_call_duration_seconds").record(started.elapsed().as_secs_f64());
        result
    }
}
