//! The provider sandbox: a real HTTP server that plays ecommpay Gate / Payment Page (humm) and
//! Amazon Payment Services (valU) closely enough that orchestrator bugs show up against it
//! (`../shared/spec/providers.md`; issue 5). `bnpl sandbox` runs it alone; `bnpl serve --sandbox`
//! starts it in-process with `SandboxConfig::demo()` (never without the flag: contract §6).
//!
//! It plays the *other party*: its provider-side logic (request rules, ledger, callbacks) is
//! written here, separately from the orchestrator's connectors; only the vector-tested signature
//! modules (`providers::ecommpay::signature`, `providers::aps::signature`) are shared.
//!
//! Module map:
//! - `config`: `SandboxConfig`, demo accounts, time scale.
//! - `faults`: magic markers and fault rates.
//! - `state`: the shared store and background task ownership.
//! - `ledger`: what `GET /sandbox/ledger` reports.
//! - `delivery`: callbacks with the providers' retry schedules.
//! - `respond`: stalls, 500s and slowness after a request is registered.
//! - `ecommpay`, `aps`: the two providers' endpoints.
//! - `control`: `/sandbox/…` customer and test endpoints.
//!
//! Invariant: everything lives in memory, bounded by `max_records` and `ledger_capacity`, and
//! every task stops when the shutdown token is cancelled.

mod aps;
pub mod config;
mod control;
mod delivery;
mod ecommpay;
pub mod faults;
mod ledger;
mod requests;
mod respond;
mod state;

use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::{ApsMerchant, AutoCustomer, EcommpayProject, HummSettings, SandboxConfig, ValuSettings};
pub use faults::{Fault, FaultRates};
pub use ledger::CallbackCounters;

use state::Shared;

/// Serves the sandbox on `listener` until `shutdown` is cancelled, then waits for its background
/// tasks (callback retries, timers) to stop.
pub async fn serve(config: SandboxConfig, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    let address = listener.local_addr()?;
    // Never advertise `0.0.0.0` (a container's bind address): no browser reaches it.
    let mut reachable = address;
    if reachable.ip().is_unspecified() {
        reachable.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let base_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{reachable}"))
        .trim_end_matches('/')
        .to_owned();
    let shared = Shared::new(config, base_url, shutdown.clone())?;
    shared.spawn(ecommpay::flow::threshold_sweeper(Arc::clone(&shared)));
    let app = router(Arc::clone(&shared));
    tracing::info!(%address, base_url = %shared.base_url, "provider sandbox listening");
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .await;
    shutdown.cancel();
    shared.tasks.close();
    shared.tasks.wait().await;
    served?;
    Ok(())
}

fn router(shared: Arc<Shared>) -> Router {
    let provider_api = Router::new()
        .merge(ecommpay::routes())
        .merge(aps::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&shared),
            requests::gate,
        ));
    provider_api.merge(control::routes()).with_state(shared)
}

/// A sandbox running in the background on `127.0.0.1:<random port>`; stops on drop.
pub struct SandboxHandle {
    base_url: String,
    shutdown: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl SandboxHandle {
    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `base_url` + `path` (`path` starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Stops the sandbox and waits until it has stopped.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        match self.task.take() {
            Some(task) => task.await?,
            None => Ok(()),
        }
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Starts a sandbox on `127.0.0.1:0` (for tests and the in-process demo). `config.public_url`,
/// when unset, becomes the bound address.
pub async fn spawn(config: SandboxConfig) -> anyhow::Result<SandboxHandle> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let base_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| {
            format!(
                "http://{}",
                listener
                    .local_addr()
                    .map_or_else(|_| "127.0.0.1".into(), |a| a.to_string())
            )
        })
        .trim_end_matches('/')
        .to_owned();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve(config, listener, shutdown.clone()));
    Ok(SandboxHandle {
        base_url,
        shutdown,
        task: Some(task),
    })
}
