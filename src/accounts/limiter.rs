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
use tracing::Instrument as _;

/// The bounds of one provider account; cheap to share. It also labels the account's call metrics.
#[derive(Clone)]
pub struct CallLimiter {
    concurrent: Arc<Semaphore>,
    rate: Arc<DefaultDirectRateLimiter>,
    provider: &'static str,
    account: Arc<str>,
    /// Whether the account may be called now (paused, or its circuit open).
    gate: super::Gate,
    /// How this process's calls to the account went; trips the circuit.
    breaker: super::Breaker,
}

impl std::fmt::Debug for CallLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallLimiter")
            .field("available", &self.concurrent.available_permits())
            .finish()
    }
}

impl CallLimiter {
    /// The limiter of `provider`'s (`humm` or `valu`) account `account`.
    pub fn new(limits: &CallLimits, provider: &'static str, account: &str, wake: &Arc<tokio::sync::Notify>) -> Self {
        let per_second = NonZeroU32::new(limits.calls_per_second).unwrap_or(NonZeroU32::MIN);
        let concurrent = usize::try_from(limits.max_concurrent_calls).unwrap_or(1).max(1);
        Self {
            concurrent: Arc::new(Semaphore::new(concurrent)),
            rate: Arc::new(RateLimiter::direct(Quota::per_second(per_second))),
            provider,
            account: Arc::from(account),
            gate: super::Gate::default(),
            breaker: super::Breaker::new(&limits.breaker, Arc::clone(wake)),
        }
    }

    /// The account's breaker (shared by every clone of this limiter).
    pub fn breaker(&self) -> &super::Breaker {
        &self.breaker
    }

    /// The half-open probe: sends `request` although the circuit is not closed, and tells whether
    /// the provider answered as a working provider does (issue 19: one status query per
    /// half-open, never a create call).
    pub async fn probe(&self, executor: &Executor, request: &ProviderRequest, timeout: Duration) -> bool {
        let operation = operation_of(request);
        let span = tracing::info_span!("provider_call", provider = self.provider, account = %self.account, operation, probe = true);
        let result = self
            .send_in_span(executor, request, timeout, operation)
            .instrument(span)
            .await;
        !self.is_provider_failure(&result)
    }

    /// Whether a call's result is the provider failing (what the breaker counts): no answer at
    /// all, a 5xx, or an answer the provider's table calls unavailability or a refused signature.
    fn is_provider_failure(&self, result: &Result<RawResponse, TransportError>) -> bool {
        match result {
            Err(_) => true,
            Ok(raw) if self.provider == "valu" => crate::providers::aps::response::is_provider_failure(raw),
            Ok(raw) => crate::providers::ecommpay::response::is_provider_failure(raw),
        }
    }

    /// The account's gate (shared by every clone of this limiter).
    pub fn gate(&self) -> super::Gate {
        self.gate.clone()
    }

    /// Sends `request` once a concurrency slot and a rate token are free. While the account is
    /// paused or its circuit open nothing is sent: the call fails at once as not sent, so its caller
    /// retries later and nothing can have reached the provider.
    pub async fn send(
        &self,
        executor: &Executor,
        request: &ProviderRequest,
        timeout: Duration,
    ) -> Result<RawResponse, TransportError> {
        if !self.gate.allows_calls() {
            return Err(TransportError::not_sent(format!(
                "account {}:{} is {}: no call goes out",
                self.provider,
                self.account,
                self.gate.state().as_str()
            )));
        }
        let operation = operation_of(request);
        let span = tracing::info_span!("provider_call", provider = self.provider, account = %self.account, operation);
        let result = self
            .send_in_span(executor, request, timeout, operation)
            .instrument(span)
            .await;
        // Only calls made while the circuit was closed count: one finishing after it opened says
        // nothing new, and the probe decides alone while it is half open.
        if self.gate.allows_calls() && self.breaker.record(self.is_provider_failure(&result)) {
            // The supervisor writes the open state first and only then closes the gates: a job
            // refused by a closed gate must find its account closed in the database, or its retry
            // would spend an attempt (`jobs::retry` gives it back only for a stored closed state).
            tracing::warn!(provider = self.provider, account = %self.account, summary = %self.breaker.summary(),
                "provider failing: circuit opens");
        }
        result
    }

    async fn send_in_span(
        &self,
        executor: &Executor,
        request: &ProviderRequest,
        timeout: Duration,
        operation: &'static str,
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
        let elapsed = started.elapsed();
        // A transport failure is logged by the executor, which knows what kind it was.
        if let Ok(raw) = &result {
            tracing::info!(
                status = raw.status,
                elapsed_ms = elapsed.as_millis() as u64,
                "provider answered"
            );
        }
        let (provider, account) = (self.provider, self.account.to_string());
        metrics::counter!("bnpl_provider_calls_total", "provider" => provider, "account" => account.clone(),
            "operation" => operation, "outcome" => outcome)
        .increment(1);
        metrics::histogram!("bnpl_provider_call_duration_seconds", "provider" => provider, "account" => account,
            "operation" => operation)
        .record(elapsed.as_secs_f64());
        result
    }
}

/// The operation a request performs, from a fixed set (bounded label values): ecommpay's by the
/// path's last segment (`…/sale`, `…/refund`, `…/status`), APS's by its `command` or
/// `service_command` or `query_command` (providers.md §2).
pub fn operation_of(request: &ProviderRequest) -> &'static str {
    let command = ["service_command", "query_command", "command"]
        .iter()
        .find_map(|key| request.body.get(*key).and_then(serde_json::Value::as_str));
    if let Some(command) = command {
        return match command {
            "CUSTOMER_VERIFY" => "customer_verify",
            "OTP_GENERATE" => "otp_generate",
            "OTP_VERIFY" => "otp_verify",
            "PURCHASE" => "purchase",
            "REFUND" => "refund",
            "CHECK_STATUS" => "status",
            _ => "other",
        };
    }
    match request.url.path().rsplit('/').next() {
        Some("sale") => "sale",
        Some("refund") => "refund",
        Some("status") => "status",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(url: &str, body: serde_json::Value) -> ProviderRequest {
        ProviderRequest {
            url: url::Url::parse(url).unwrap(),
            body,
        }
    }

    #[test]
    fn operations_come_from_a_fixed_set() {
        let ecommpay = |path: &str| operation_of(&request(&format!("https://api.ecommpay.com{path}"), json!({})));
        assert_eq!(ecommpay("/v2/payment/bnpl/humm/sale"), "sale");
        assert_eq!(ecommpay("/v2/payment/bnpl/humm/refund"), "refund");
        assert_eq!(ecommpay("/v2/payment/status"), "status");
        assert_eq!(ecommpay("/v2/anything/else"), "other");
        let aps = |key: &str, command: &str| {
            operation_of(&request(
                "https://paymentservices.amazon.com/FortAPI/paymentApi",
                json!({key: command}),
            ))
        };
        assert_eq!(aps("service_command", "OTP_GENERATE"), "otp_generate");
        assert_eq!(aps("command", "PURCHASE"), "purchase");
        assert_eq!(aps("query_command", "CHECK_STATUS"), "status");
        assert_eq!(aps("command", "SOMETHING_NEW"), "other");
    }
}
