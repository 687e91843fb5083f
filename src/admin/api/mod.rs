//! The admin JSON API under `/admin/v1` (contract §4) and its OpenAPI document.
//!
//! Routes are registered through `utoipa_axum::OpenApiRouter` from the handlers' own
//! `#[utoipa::path]` attributes, so the document served at `/admin/v1/openapi.json` lists
//! exactly the routes the router serves: a handler cannot be routed without being documented.
//!
//! - [`payments`]: search, one payment with its history, payments to review.
//! - [`actions`]: force a status check, resolve, replay events.
//! - [`refunds`]: refunds, refund queues, releasing a head, cancelling a queued refund.
//! - [`dead_letters`]: list, replay (optionally fixed), purge; exhausted jobs; broker queues.
//! - [`reports`]: the reconciliation CSV.

pub mod accounts;
pub mod actions;
pub mod dead_letters;
pub mod jobs;
pub mod path_ids;
pub mod payments;
pub mod refunds;
pub mod reports;
pub mod settlements;

use super::AdminState;
use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as OpenApiDocument;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Where the admin API lives.
pub const BASE: &str = "/admin/v1";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "bnpl-orchestrator admin API",
        description = "Ops and finance: payments and their history, manual resolutions, refund \
            queues, dead letters, reconciliation. Bearer tokens with scopes `read`, `operate` \
            (implies read), `finance` (implies read); created with `bnpl admin token create`."
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "payments", description = "Payments and their history"),
        (name = "refunds", description = "Refunds and the sequential refund queues"),
        (name = "operations", description = "Dead letters, jobs, broker queues"),
        (name = "reports", description = "Finance reports (scope finance)")
    )
)]
struct ApiDoc;

/// Adds the bearer token security scheme every operation refers to.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApiDocument) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API routes and the document describing them.
pub fn routes() -> (Router<AdminState>, OpenApiDocument) {
    let api = OpenApiRouter::new()
        .routes(routes!(payments::list_payments))
        .routes(routes!(payments::get_payment))
        .routes(routes!(payments::list_reviews))
        .routes(routes!(actions::force_status_check))
        .routes(routes!(actions::resolve_payment))
        .routes(routes!(actions::replay_events))
        .routes(routes!(refunds::list_refunds))
        .routes(routes!(refunds::list_queues))
        .routes(routes!(refunds::release_refund))
        .routes(routes!(refunds::refund_status_check))
        .routes(routes!(refunds::cancel_refund))
        .routes(routes!(refunds::record_refund))
        .routes(routes!(dead_letters::list_dead_letters))
        .routes(routes!(dead_letters::replay_dead_letter))
        .routes(routes!(dead_letters::purge_dead_letter))
        .routes(routes!(dead_letters::exhausted_jobs))
        .routes(routes!(accounts::list_accounts))
        .routes(routes!(accounts::pause_account))
        .routes(routes!(accounts::resume_account))
        .routes(routes!(accounts::reload_secrets))
        .routes(routes!(jobs::retry_job))
        .routes(routes!(jobs::discard_job))
        .routes(routes!(dead_letters::broker_queues))
        .routes(routes!(reports::reconciliation))
        .routes(routes!(settlements::settlement_mismatches))
        // A month's report is far larger than any other admin body.
        .merge(
            OpenApiRouter::new()
                .routes(routes!(settlements::import_settlement))
                .layer(axum::extract::DefaultBodyLimit::max(settlements::BODY_LIMIT)),
        );
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest(BASE, api)
        .split_for_parts()
}

/// The OpenAPI document of the admin API.
pub fn openapi() -> OpenApiDocument {
    routes().1
}

/// The admin API router with its state, plus the document at `/admin/v1/openapi.json` (open:
/// it describes the API and holds no data).
pub fn router(state: AdminState) -> Router {
    let (api, document) = routes();
    api.route(
        &format!("{BASE}/openapi.json"),
        get(move || {
            let document = document.clone();
            async move { Json(document) }
        }),
    )
    .with_state(state)
}
