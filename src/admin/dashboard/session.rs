//! Dashboard sign-in: the operator posts a token once; the server opens a session and the
//! browser keeps only a random session id in a `Secure; HttpOnly; SameSite=Strict` cookie.
//!
//! Invariants: the raw token never goes into a cookie (scripts cannot read the session id, and
//! the server stores only its hash); every page needs a live session whose token is still live
//! and holds at least `read`; signing out deletes the session server-side. `SameSite=Strict`
//! keeps other sites from posting to the dashboard with the cookie (CSRF).

use super::html;
use crate::admin::auth::{grants, Scope};
use crate::admin::AdminState;
use crate::store::tokens::{self, TokenInfo};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use std::time::Duration;

/// The session cookie's name.
pub const COOKIE: &str = "bnpl_session";
/// How long a sign-in lasts.
const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);

/// A signed-in operator.
#[derive(Debug, Clone)]
pub struct Viewer(pub TokenInfo);

impl FromRequestParts<AdminState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AdminState) -> Result<Self, Response> {
        let to_sign_in = || Redirect::to("/signin").into_response();
        let session = session_id(&parts.headers).ok_or_else(to_sign_in)?;
        match tokens::session_token(&state.pool, &session).await {
            Ok(Some(token)) if grants(&token.scopes, Scope::Read) => Ok(Viewer(token)),
            Ok(_) => Err(to_sign_in()),
            Err(error) => {
                tracing::error!(%error, "dashboard session look-up failed");
                Err(html::page("Unavailable", None, "<p>The database is not reachable right now.</p>").into_response())
            }
        }
    }
}

/// The session id from the request's cookies.
fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|value| !value.is_empty())
}

/// `GET /signin`: the sign-in form.
pub async fn sign_in_page() -> Response {
    sign_in_form(StatusCode::OK, None)
}

fn sign_in_form(status: StatusCode, problem: Option<&str>) -> Response {
    let problem = problem
        .map(|text| format!("<p class=\"error\" id=\"signin-error\">{}</p>", html::text(text)))
        .unwrap_or_default();
    let body = format!(
        "<section class=\"signin\"><h2>Sign in</h2>{problem}\
         <form method=\"post\" action=\"/signin\">\
         <label for=\"token\">Admin token</label>\
         <input type=\"password\" id=\"token\" name=\"token\" autocomplete=\"off\" required>\
         <button type=\"submit\" id=\"signin\">Sign in</button></form>\
         <p class=\"hint\">Create one with <code>bnpl admin token create --name NAME --scope read</code>.</p>\
         </section>"
    );
    let mut response = html::page("Sign in", None, &body);
    *response.status_mut() = status;
    response
}

/// The sign-in form's field.
#[derive(Debug, Deserialize)]
pub struct SignIn {
    token: String,
}

/// `POST /signin`: checks the token and opens a session.
pub async fn sign_in(State(state): State<AdminState>, Form(form): Form<SignIn>) -> Response {
    let token = match tokens::authenticate(&state.pool, form.token.trim()).await {
        Ok(Some(token)) if grants(&token.scopes, Scope::Read) => token,
        Ok(_) => return sign_in_form(StatusCode::UNAUTHORIZED, Some("That token is not valid.")),
        Err(error) => {
            tracing::error!(%error, "dashboard sign-in failed");
            return sign_in_form(
                StatusCode::SERVICE_UNAVAILABLE,
                Some("The database is not reachable right now; try again."),
            );
        }
    };
    match tokens::open_session(&state.pool, token.id, SESSION_LIFETIME).await {
        Ok(session) => {
            tracing::info!(token = %token.name, "dashboard sign-in");
            let cookie = format!(
                "{COOKIE}={session}; Path=/; Max-Age={}; Secure; HttpOnly; SameSite=Strict",
                SESSION_LIFETIME.as_secs()
            );
            with_cookie(Redirect::to("/").into_response(), &cookie)
        }
        Err(error) => {
            tracing::error!(%error, "opening a dashboard session failed");
            sign_in_form(
                StatusCode::SERVICE_UNAVAILABLE,
                Some("The database is not reachable right now; try again."),
            )
        }
    }
}

/// `POST /signout`: ends the session and clears the cookie.
pub async fn sign_out(State(state): State<AdminState>, headers: HeaderMap) -> Response {
    if let Some(session) = session_id(&headers) {
        if let Err(error) = tokens::close_session(&state.pool, &session).await {
            tracing::warn!(%error, "closing a dashboard session failed");
        }
    }
    let cookie = format!("{COOKIE}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict");
    with_cookie(Redirect::to("/signin").into_response(), &cookie)
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    html::with_security_headers(response)
}
