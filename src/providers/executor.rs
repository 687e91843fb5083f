//! The one place that talks HTTP to providers.
//!
//! One `reqwest::Client` is built once and shared (its connection pool serves every account).
//! Each call carries its account's total timeout (connect + send + whole body). The connect timeout
//! is a client setting in reqwest 0.12 (there is no per-request one), so it is given once, when
//! the executor is built.
//!
//! Invariant: a transport failure is classified by *whether the request may have been written*
//! (design §1): a failed connect (refused, DNS, TLS, connect timeout) means nothing was sent, so a
//! create call may be resent at once; anything later (timeout, reset, truncated body) means the
//! provider may have acted, so the caller must query status with the same id.

use std::time::Duration;

use serde_json::Value;
use url::Url;

use super::outcome::{CreateOutcome, StatusOutcome};
use super::{ProviderRequest, RawResponse};

/// Largest body we read from a provider; a larger one is treated as an unreadable answer.
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Whether a failed request may have reached the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Failed before any byte of the request was written.
    NotSent,
    /// Failed after the request may have been written.
    Unknown,
}

/// A transport failure, already classified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("provider transport error ({delivery:?}): {message}")]
pub struct TransportError {
    /// Whether the request may have arrived.
    pub delivery: Delivery,
    /// What went wrong, for logs (never contains the body).
    pub message: String,
}

impl TransportError {
    /// A call refused before anything was written (e.g. its account is paused).
    pub fn not_sent(message: String) -> Self {
        TransportError {
            delivery: Delivery::NotSent,
            message,
        }
    }

    /// The outcome of a create call that failed this way.
    pub fn for_create<T>(&self) -> CreateOutcome<T> {
        match self.delivery {
            Delivery::NotSent => CreateOutcome::NotSent {
                reason: self.message.clone(),
            },
            Delivery::Unknown => CreateOutcome::Uncertain {
                reason: self.message.clone(),
            },
        }
    }

    /// The outcome of a status query that failed this way: always retried.
    pub fn for_status(&self) -> StatusOutcome {
        StatusOutcome::Retryable {
            reason: self.message.clone(),
        }
    }
}

/// The shared HTTP client.
#[derive(Debug, Clone)]
pub struct Executor {
    client: reqwest::Client,
}

impl Executor {
    /// Builds the shared client. `connect_timeout` bounds TCP + TLS set-up for every provider.
    pub fn new(connect_timeout: Duration) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            // Providers answer directly; a redirect would be a misconfiguration, and following it
            // could replay a POST somewhere unexpected.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("bnpl-orchestrator/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Executor { client })
    }

    /// Sends a signed provider request as JSON.
    pub async fn send(
        &self,
        request: &ProviderRequest,
        total_timeout: Duration,
    ) -> Result<RawResponse, TransportError> {
        self.post_json(&request.url, &request.body, total_timeout).await
    }

    /// POSTs a JSON body and returns the raw status and body.
    pub async fn post_json(
        &self,
        url: &Url,
        body: &Value,
        total_timeout: Duration,
    ) -> Result<RawResponse, TransportError> {
        let builder = self
            .client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json;charset=UTF-8")
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body.to_string());
        self.execute(builder, url, total_timeout).await
    }

    /// POSTs form-encoded parameters and returns the raw status and body.
    pub async fn post_form(
        &self,
        url: &Url,
        params: &[(String, String)],
        total_timeout: Duration,
    ) -> Result<RawResponse, TransportError> {
        let encoded = serde_urlencoded::to_string(params).map_err(|e| TransportError {
            delivery: Delivery::NotSent,
            message: format!("cannot encode form: {e}"),
        })?;
        let builder = self
            .client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(encoded);
        self.execute(builder, url, total_timeout).await
    }

    async fn execute(
        &self,
        builder: reqwest::RequestBuilder,
        url: &Url,
        total_timeout: Duration,
    ) -> Result<RawResponse, TransportError> {
        let mut response = builder.timeout(total_timeout).send().await.map_err(|e| classify(&e))?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| classify(&e))? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(TransportError {
                    delivery: Delivery::Unknown,
                    message: format!("response body over {MAX_BODY_BYTES} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        tracing::debug!(
            host = url.host_str(),
            path = url.path(),
            status,
            bytes = body.len(),
            "provider answered"
        );
        Ok(RawResponse { status, body })
    }
}

/// Sorts a reqwest error by whether the request may have been written.
pub fn classify(error: &reqwest::Error) -> TransportError {
    // A connect error (refused, DNS, TLS, connect timeout) happens before the request is written;
    // a builder error before anything is attempted. Everything else may have reached the provider.
    let delivery = if error.is_connect() || error.is_builder() {
        Delivery::NotSent
    } else {
        Delivery::Unknown
    };
    let kind = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else if error.is_body() || error.is_decode() {
        "body"
    } else {
        "request"
    };
    let message = format!("{kind}: {}", DisplayChain(error));
    let sent = match delivery {
        Delivery::NotSent => "not_sent",
        Delivery::Unknown => "maybe_sent",
    };
    tracing::warn!(kind, sent, error = %message, "provider transport error");
    TransportError { delivery, message }
}

/// An error with its sources, without the URL (which may hold query parameters).
struct DisplayChain<'a>(&'a reqwest::Error);

impl std::fmt::Display for DisplayChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut source = std::error::Error::source(self.0);
        write!(
            f,
            "{}",
            self.0.status().map_or("transport".to_owned(), |s| s.to_string())
        )?;
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "executor_tests.rs"]
mod tests;
