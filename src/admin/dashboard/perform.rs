//! `POST /actions/{slug}`: carries out a confirmed dashboard action, then sends the operator
//! back to the record's page with the action's notice (post, redirect, get: a reload does not
//! repeat it).
//!
//! Invariants, checked in this order before anything changes:
//! - the post comes from this dashboard (`Origin`, else `Referer`; `session::same_origin`);
//! - it carries the session's CSRF token (`csrf`);
//! - the session's token holds the action's scope (checked again here, not only by hiding the
//!   button).
//!
//! The effect goes through the same function the admin API calls, so the dashboard cannot do
//! what the API would refuse; refusals are shown with the API's message.

use super::actions::{Action, Done};
use super::confirm::{problem, MAX_TARGET};
use super::html::{self, attr, text, url_segment};
use super::session::{same_origin, Viewer};
use crate::accounts::AccountState;
use crate::admin::api::actions::required_reason;
use crate::admin::error::ApiError;
use crate::admin::jobs::Decision;
use crate::admin::ops::DeadLetterFix;
use crate::admin::read::{dead_letters as admin_dead_letters, refunds as admin_refunds};
use crate::admin::{accounts, actions as admin_actions, jobs, ops, refund_evidence, AdminState};
use crate::domain::{Provider, RefundEvent, ReleaseOutcome};
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

/// The confirmation form's fields (all optional here, so a missing one gets this module's
/// answer rather than a bare rejection).
#[derive(Debug, Default, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    to: String,
    /// The status the payment had on the page the operator decided from.
    #[serde(default)]
    from: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    answer_id: String,
}

/// Where the operator lands after an action.
enum Landing {
    /// A page showing the record after the change.
    Redirect(String),
    /// A page of its own (the provider's answer, which a redirect would lose).
    Page(String),
}

pub async fn perform(
    viewer: Viewer,
    State(state): State<AdminState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Response {
    let name = viewer.0.name.clone();
    let Some(action) = Action::from_slug(&slug) else {
        return problem(&name, StatusCode::NOT_FOUND, "There is no such action.");
    };
    if let Err(origin) = same_origin(&headers, &state.web) {
        tracing::warn!(action = action.slug(), origin = %origin, actor = %name,
            "dashboard action refused: posted from another origin");
        return problem(
            &name,
            StatusCode::FORBIDDEN,
            "Refused: the action was not posted from this dashboard.",
        );
    }
    let Ok(Form(form)) = form else {
        return problem(&name, StatusCode::BAD_REQUEST, "The action's form could not be read.");
    };
    if !viewer.accepts_csrf(&form.csrf) {
        tracing::warn!(action = action.slug(), actor = %name, "dashboard action refused: missing or wrong CSRF token");
        return problem(
            &name,
            StatusCode::FORBIDDEN,
            "Refused: the form's security token is missing or stale. Open the page again and confirm there.",
        );
    }
    if !viewer.may(action.scope()) {
        return problem(
            &name,
            StatusCode::FORBIDDEN,
            &format!("This needs a token with the {} scope.", action.scope().as_str()),
        );
    }
    let target = form.target.trim();
    if target.is_empty() || target.len() > MAX_TARGET {
        return problem(&name, StatusCode::BAD_REQUEST, "The action names no record.");
    }
    match carry_out(&state, action, target, &form, &name).await {
        Ok(Landing::Redirect(to)) => {
            tracing::info!(action = action.slug(), target, actor = %name, "dashboard action");
            html::with_security_headers(Redirect::to(&to).into_response())
        }
        Ok(Landing::Page(body)) => {
            tracing::info!(action = action.slug(), target, actor = %name, "dashboard action");
            html::page(action.done(), Some(&name), &html::answer_to_post(&body))
        }
        Err(error) => {
            let (status, code, message) = error.parts();
            tracing::info!(action = action.slug(), target, actor = %name, code, "dashboard action refused");
            problem(&name, status, &format!("Not done: {message}"))
        }
    }
}

async fn carry_out(
    state: &AdminState,
    action: Action,
    target: &str,
    form: &ActionForm,
    actor: &str,
) -> Result<Landing, ApiError> {
    let pool = &state.pool;
    let done = |page: String| Landing::Redirect(with_notice(&page, action));
    // A payment or refund id that could never be ours (a NUL fails the query) is no such one,
    // as on the API's routes.
    match action.target_kind() {
        super::actions::TargetKind::Payment => {
            crate::admin::api::path_ids::payment(target.to_owned())?;
        }
        super::actions::TargetKind::Refund => {
            crate::admin::api::path_ids::refund(target.to_owned())?;
        }
        _ => {}
    }
    match action {
        Action::StatusCheck => {
            admin_actions::force_status_check(pool, target, actor).await?;
            Ok(done(payment_page(target)))
        }
        Action::Resolve => {
            // A form without `from` (an old page) is decided from what the payment is now.
            let from = Some(form.from.trim()).filter(|from| !from.is_empty());
            let decision = admin_actions::Decision::parse(&form.to, from).map_err(ApiError::BadRequest)?;
            let reason = required_reason(&form.reason)?;
            admin_actions::resolve(pool, target, decision, reason, actor).await?;
            Ok(done(payment_page(target)))
        }
        Action::ReplayEvents => {
            admin_actions::replay_events(pool, target, actor).await?;
            Ok(done(payment_page(target)))
        }
        Action::AskRefund => {
            let answer = refund_evidence::status_check(&state.services, target, actor).await?;
            Ok(Landing::Page(answer_page(&answer)))
        }
        Action::ReleaseRefund => {
            let outcome = match form.outcome.as_str() {
                "succeeded" => ReleaseOutcome::Succeeded,
                "declined" => ReleaseOutcome::Declined,
                other => return Err(ApiError::BadRequest(format!("unknown outcome {other:?}"))),
            };
            let answer_id = match form.answer_id.trim() {
                "" => None,
                id => Some(
                    id.parse::<i64>()
                        .map_err(|_| ApiError::BadRequest(format!("the provider answer id {id:?} is not a number")))?,
                ),
            };
            let reason = required_reason(&form.reason)?;
            let change = refund_evidence::release(pool, target, outcome, answer_id, reason, actor).await?;
            Ok(done(refund_page(&change.payment_id, target)))
        }
        Action::CancelRefund => {
            let reason = required_reason(&form.reason)?;
            let change = admin_refunds::apply(pool, target, RefundEvent::Cancel, reason, actor).await?;
            Ok(done(refund_page(&change.payment_id, target)))
        }
        Action::ReplayDeadLetter => {
            let id = record_id(target, "dead letter")?;
            ops::replay_dead_letter(pool, &state.publisher, id, &DeadLetterFix::default(), actor).await?;
            Ok(done(format!("/dead-letters/{id}")))
        }
        Action::PurgeDeadLetter => {
            let id = record_id(target, "dead letter")?;
            if !admin_dead_letters::purge(pool, id, actor).await? {
                return Err(ApiError::NotFound("dead letter, or it was already purged"));
            }
            Ok(done(format!("/dead-letters/{id}")))
        }
        Action::RetryJob | Action::DiscardJob => {
            let id = record_id(target, "job")?;
            let decision = match action {
                Action::RetryJob => Decision::Retry,
                _ => Decision::Discard,
            };
            let reason = required_reason(&form.reason)?;
            let job = jobs::decide(pool, id, decision, reason, actor).await?;
            Ok(done(match job.payment_id {
                Some(payment_id) => payment_page(&payment_id),
                None => "/".to_owned(),
            }))
        }
        Action::PauseAccount | Action::ResumeAccount => {
            let (provider, account) = target.split_once('/').ok_or(ApiError::NotFound("account"))?;
            let provider: Provider = provider.parse().map_err(|_| ApiError::NotFound("account"))?;
            let to = match action {
                Action::PauseAccount => AccountState::Paused,
                _ => AccountState::Active,
            };
            let reason = required_reason(&form.reason)?;
            accounts::set(pool, &state.services.accounts, provider, account, to, reason, actor).await?;
            Ok(done("/".to_owned()))
        }
    }
}

fn record_id(target: &str, what: &'static str) -> Result<i64, ApiError> {
    target.parse().map_err(|_| ApiError::NotFound(what))
}

fn payment_page(payment_id: &str) -> String {
    format!("/payments/{}", url_segment(payment_id))
}

fn refund_page(payment_id: &str, refund_id: &str) -> String {
    format!("{}#refund-{}", payment_page(payment_id), url_segment(refund_id))
}

/// `page` with `?done=slug` inserted before its fragment.
fn with_notice(page: &str, action: Action) -> String {
    let (path, fragment) = match page.split_once('#') {
        Some((path, fragment)) => (path, format!("#{fragment}")),
        None => (page, String::new()),
    };
    format!("{path}?done={}{fragment}", action.slug())
}

/// The provider's answer about a refund, with a release prefilled on its evidence when it
/// supports an outcome.
fn answer_page(answer: &crate::store::provider_answers::ProviderAnswer) -> String {
    let release = match answer.supports.as_str() {
        outcome @ ("succeeded" | "declined") => format!(
            "<form class=\"action\" method=\"get\" action=\"/actions/{slug}\">\
             <input type=\"hidden\" name=\"target\" value=\"{target}\">\
             <input type=\"hidden\" name=\"outcome\" value=\"{outcome}\">\
             <input type=\"hidden\" name=\"answer_id\" value=\"{id}\">\
             <button type=\"submit\" id=\"release-on-answer\">Release as {outcome} on this answer</button></form>",
            slug = Action::ReleaseRefund.slug(),
            target = attr(&answer.refund_id),
            id = answer.id,
        ),
        _ => "<p>This answer supports no release yet: ask again later.</p>".to_owned(),
    };
    format!(
        "{notice}<section><h2>Provider answer {id} about refund {refund}</h2>\
         <dl class=\"facts\"><dt>Supports</dt><dd id=\"answer-supports\">{supports}</dd>\
         <dt>What the provider said</dt><dd>{said}</dd></dl>{release}\
         <p><a href=\"{back}\">← Payment {payment}</a></p></section>",
        notice = Done {
            done: Some(Action::AskRefund.slug().to_owned())
        }
        .notice(),
        id = answer.id,
        refund = text(&answer.refund_id),
        supports = text(&answer.supports),
        said = text(&html::words(&answer.answer)),
        back = attr(&refund_page(&answer.payment_id, &answer.refund_id)),
        payment = text(&answer.payment_id),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notice_goes_before_the_fragment() {
        assert_eq!(
            with_notice("/payments/p-1#refund-r-1", Action::CancelRefund),
            "/payments/p-1?done=refund-cancel#refund-r-1"
        );
        assert_eq!(with_notice("/", Action::PauseAccount), "/?done=account-pause");
    }
}
