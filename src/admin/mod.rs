//! The ops and finance surface (issue 8, contract §4): the admin JSON API under `/admin/v1`, the
//! dashboard at `/`, the `bnpl admin` command line, and the gauges `/metrics` refreshes.
//!
//! - [`auth`]: bearer tokens and scopes; [`error`]: error answers that never leak internals;
//!   [`filters`]: filter values checked against what exists.
//! - [`api`]: the handlers and the OpenAPI document generated from them (utoipa).
//! - [`dashboard`]: server-rendered pages behind a sign-in with the same tokens.
//! - [`actions`]: an operator's actions on a payment (resolve, force a status check, replay).
//! - [`ops`]: actions shared by the API and the CLI that need the broker.
//! - [`read`]: the read models behind the API, the dashboard and the CLI.
//! - [`metrics`]: database-derived gauges, refreshed at scrape time.
//! - [`cli`]: `bnpl admin …`.
//!
//! Invariant: every admin route has a request body limit ([`BODY_LIMIT`]), and every admin and
//! dashboard route needs a live token (only the sign-in page and the OpenAPI document do not).

pub mod accounts;
pub mod actions;
pub mod api;
pub mod auth;
pub mod cli;
pub mod dashboard;
pub mod error;
pub mod filters;
pub mod jobs;
pub mod metrics;
pub mod ops;
pub mod personal;
pub mod read;
pub mod refund_evidence;
pub mod refund_record;

use crate::messaging::{Broker, Publisher};
use axum::extract::DefaultBodyLimit;
use axum::Router;
use sqlx::PgPool;
use std::sync::Arc;

/// The largest request body an admin or dashboard route reads (a fixed dead letter is the
/// biggest thing anyone sends here).
pub const BODY_LIMIT: usize = 256 * 1024;

/// What admin handlers need.
#[derive(Clone)]
pub struct AdminState {
    pub pool: PgPool,
    pub broker: Broker,
    /// Confirmed publishing, for replaying dead letters to the command exchange.
    pub publisher: Arc<Publisher>,
    pub web: WebSettings,
    /// Provider accounts and calls, for the status queries an operator asks for.
    pub services: Arc<crate::flows::Services>,
    /// How the providers' settlement reports read.
    pub settlements: Arc<crate::settlement::Mappings>,
}

/// How the dashboard meets browsers.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// `BNPL_PUBLIC_URL`: its origin is accepted on sign-in and sign-out beside the request's own.
    pub public_url: url::Url,
    /// The session cookie is `Secure` (see [`crate::config::HttpConfig::secure_cookie`]).
    pub secure_cookie: bool,
}

impl WebSettings {
    /// From the configuration: `Secure` when asked, or else when the public URL is `https`.
    pub fn from_config(config: &crate::config::Config) -> Self {
        WebSettings {
            public_url: config.public_url.clone(),
            secure_cookie: config
                .http
                .secure_cookie
                .unwrap_or(config.public_url.scheme() == "https"),
        }
    }
}

impl AdminState {
    /// Admin state over the application's pool and broker connection (its own confirm channel).
    pub fn new(
        pool: PgPool,
        broker: Broker,
        web: WebSettings,
        services: Arc<crate::flows::Services>,
        settlements: Arc<crate::settlement::Mappings>,
    ) -> Self {
        let publisher = Arc::new(Publisher::new(broker.clone()));
        Self {
            pool,
            broker,
            publisher,
            web,
            services,
            settlements,
        }
    }
}

/// The admin API (`/admin/v1/…`, with `/admin/v1/openapi.json`) and the dashboard (`/…`).
pub fn router(state: AdminState) -> Router {
    api::router(state.clone())
        .merge(dashboard::router(state))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}
