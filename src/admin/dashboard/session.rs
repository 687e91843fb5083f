//! Dashboard sign-in: the operator posts a token once; the server opens a session and the
//! browser keeps only a random session id in an `HttpOnly; SameSite=Strict` cookie, `Secure`
//! when the dashboard is served over HTTPS (`BNPL_PUBLIC_URL`, or `[http] secure_cookie`).
//!
//! Invariants: the raw token never goes into a cookie (scripts cannot read the session id, and
//! the server stores only its hash); every page needs a live session whose token is still live
//! and holds at least `read`; signing out deletes the session server-side. `SameSite=Strict`
//! keeps other sites from posting to the dashboard with the cookie, and sign-in and sign-out
//! themselves (which need no cookie) accept only posts whose `Origin` (or `Referer`) is this
//! dashboard: another site cannot sign a browser in or out (login CSRF). A browser that drops the
//! cookie (a `Secure` one over plain HTTP) is told so, instead of looping back to the sign-in.

use super::csrf::CsrfToken;
use super::html;
use crate::admin::auth::{grants, Scope};
use crate::admin::{AdminState, WebSettings};
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
/// The query a successful sign-in redirects with, so the next page can tell "the browser did not
/// keep the cookie" from "not signed in".
const SIGNED_IN: &str = "signed-in=1";

/// A signed-in operator: the token behind the session, and the session id (kept to check the
/// CSRF token of the forms it posts; never printed).
#[derive(Clone)]
pub struct Viewer(pub TokenInfo, SessionId);

#[derive(Clone)]
struct SessionId(String);

impl std::fmt::Debug for Viewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Viewer").field(&self.0).finish_non_exhaustive()
    }
}

impl Viewer {
    /// Whether this operator's token holds `scope`.
    pub fn may(&self, scope: Scope) -> bool {
        grants(&self.0.scopes, scope)
    }

    /// The CSRF token this session's action forms carry.
    pub fn csrf(&self) -> CsrfToken {
        CsrfToken::of_session(&self.1 .0)
    }

    /// Whether `posted` is this session's CSRF token.
    pub fn accepts_csrf(&self, posted: &str) -> bool {
        CsrfToken::accepts(&self.1 .0, posted)
    }
}

impl FromRequestParts<AdminState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AdminState) -> Result<Self, Response> {
        // Straight from a successful sign-in, yet no live session cookie (none, or an old one
        // the new one should have replaced): the browser did not keep it. Say so, not loop.
        let just_signed_in = parts.uri.query().is_some_and(|query| query.contains(SIGNED_IN));
        let to_sign_in = || match just_signed_in {
            true => cookie_dropped(&state.web),
            false => Redirect::to("/signin").into_response(),
        };
        let session = session_id(&parts.headers).ok_or_else(to_sign_in)?;
        match tokens::session_token(&state.pool, &session).await {
            Ok(Some(token)) if grants(&token.scopes, Scope::Read) => Ok(Viewer(token, SessionId(session))),
            Ok(_) => Err(to_sign_in()),
            Err(error) => {
                tracing::error!(%error, "dashboard session look-up failed");
                Err(html::unavailable(None).into_response())
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
pub async fn sign_in(State(state): State<AdminState>, headers: HeaderMap, Form(form): Form<SignIn>) -> Response {
    if let Err(origin) = same_origin(&headers, &state.web) {
        tracing::warn!(origin = %origin, "dashboard sign-in refused: posted from another origin");
        return sign_in_form(
            StatusCode::FORBIDDEN,
            Some("Sign-in refused: the form was not posted from this dashboard."),
        );
    }
    let token = match tokens::authenticate(&state.pool, form.token.trim()).await {
        Ok(Some(token)) if grants(&token.scopes, Scope::Read) => token,
        Ok(_) => {
            tracing::warn!("dashboard sign-in failed: unknown, revoked or scope-less token");
            return sign_in_form(StatusCode::UNAUTHORIZED, Some("That token is not valid."));
        }
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
                "{COOKIE}={session}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{}",
                SESSION_LIFETIME.as_secs(),
                secure(&state.web)
            );
            with_cookie(Redirect::to(&format!("/?{SIGNED_IN}")).into_response(), &cookie)
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
    if let Err(origin) = same_origin(&headers, &state.web) {
        tracing::warn!(origin = %origin, "dashboard sign-out refused: posted from another origin");
        let mut response = html::page(
            "Sign-out refused",
            None,
            "<p class=\"error\" id=\"signout-error\">Sign-out refused: it was not posted from this dashboard.</p>",
        );
        *response.status_mut() = StatusCode::FORBIDDEN;
        return response;
    }
    if let Some(session) = session_id(&headers) {
        if let Err(error) = tokens::close_session(&state.pool, &session).await {
            tracing::warn!(%error, "closing a dashboard session failed");
        }
    }
    let cookie = format!(
        "{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{}",
        secure(&state.web)
    );
    with_cookie(Redirect::to("/signin").into_response(), &cookie)
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    html::with_security_headers(response)
}

/// The cookie attribute that keeps it to HTTPS, when the dashboard is served over HTTPS.
fn secure(web: &WebSettings) -> &'static str {
    if web.secure_cookie {
        "; Secure"
    } else {
        ""
    }
}

/// The page shown instead of a sign-in loop when the browser did not keep the session cookie.
fn cookie_dropped(web: &WebSettings) -> Response {
    let advice = if web.secure_cookie {
        "The session cookie is Secure, and browsers keep Secure cookies only over HTTPS. Serve the \
         dashboard over HTTPS (BNPL_PUBLIC_URL https://…), or set [http] secure_cookie = false \
         on a trusted network."
    } else {
        "Check that this browser accepts cookies from this address."
    };
    sign_in_form(
        StatusCode::UNAUTHORIZED,
        Some(&format!(
            "Signed in, but the browser did not keep the session cookie. {advice}"
        )),
    )
}

/// Ok when the form was posted from this dashboard: its `Origin` (or, without one, its
/// `Referer`) is the request's own host or `BNPL_PUBLIC_URL`'s origin. Browsers send `Origin` on
/// every cross-site POST, so a post without either is refused too. Err names what was seen.
pub(super) fn same_origin(headers: &HeaderMap, web: &WebSettings) -> Result<(), String> {
    let claimed = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| "no Origin or Referer".to_owned())?;
    let url = url::Url::parse(claimed).map_err(|_| crate::domain::limits::quote(claimed))?;
    let authority = match (url.host_str(), url.port_or_known_default()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        _ => return Err(crate::domain::limits::quote(claimed)),
    };
    let default_port = if url.scheme() == "https" { 443 } else { 80 };
    let request_host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .map(|host| match host.rsplit_once(':') {
            Some((_, port)) if port.chars().all(|c| c.is_ascii_digit()) && !host.ends_with(']') => host.to_owned(),
            _ => format!("{host}:{default_port}"),
        });
    let public = web.public_url.origin();
    if request_host.as_deref() == Some(authority.as_str()) || url.origin() == public {
        Ok(())
    } else {
        Err(crate::domain::limits::quote(&url.origin().ascii_serialization()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web(public: &str) -> WebSettings {
        WebSettings {
            public_url: url::Url::parse(public).unwrap(),
            secure_cookie: false,
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn only_posts_from_this_dashboard_sign_in() {
        let web = web("https://pay.example.com");
        let own = headers(&[("host", "10.0.0.5:8080"), ("origin", "http://10.0.0.5:8080")]);
        assert!(same_origin(&own, &web).is_ok());
        let public = headers(&[("host", "internal:8080"), ("origin", "https://pay.example.com")]);
        assert!(same_origin(&public, &web).is_ok());
        let referer = headers(&[("host", "10.0.0.5:8080"), ("referer", "http://10.0.0.5:8080/signin")]);
        assert!(same_origin(&referer, &web).is_ok());
        let default_port = headers(&[("host", "dash.example"), ("origin", "http://dash.example")]);
        assert!(same_origin(&default_port, &web).is_ok());
        let other = headers(&[("host", "10.0.0.5:8080"), ("origin", "https://evil.example")]);
        assert!(same_origin(&other, &web).is_err());
        let other_port = headers(&[("host", "10.0.0.5:8080"), ("origin", "http://10.0.0.5:9999")]);
        assert!(same_origin(&other_port, &web).is_err());
        assert!(same_origin(&headers(&[("host", "10.0.0.5:8080")]), &web).is_err());
        let opaque = headers(&[("host", "10.0.0.5:8080"), ("origin", "null")]);
        assert!(same_origin(&opaque, &web).is_err());
    }
}
