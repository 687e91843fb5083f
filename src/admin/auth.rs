//! Who is calling the admin API, and what they may do (contract §4).
//!
//! Scopes: `read` (every GET except reports), `operate` (read, plus status checks, resolutions,
//! event replays, dead letters, releasing refund queue heads), `finance` (read, plus reports and
//! cancelling queued refunds). `operate` and `finance` imply `read`.
//!
//! Invariants: no token or a bad one is 401; a live token without the scope is 403; every
//! handler names its scope with [`Caller::require`] before touching data.

use super::error::ApiError;
use super::AdminState;
use crate::store::tokens::{self, TokenInfo};
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

/// A permission of the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Read,
    Operate,
    Finance,
}

impl Scope {
    /// The scope names tokens are created with.
    pub const NAMES: [&'static str; 3] = ["read", "operate", "finance"];

    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Operate => "operate",
            Scope::Finance => "finance",
        }
    }
}

/// Whether a token holding `scopes` may act with `needed`.
pub fn grants(scopes: &[String], needed: Scope) -> bool {
    let has = |name: &str| scopes.iter().any(|scope| scope == name);
    match needed {
        // Every scope implies read.
        Scope::Read => Scope::NAMES.iter().any(|name| has(name)),
        Scope::Operate | Scope::Finance => has(needed.as_str()),
    }
}

/// An authenticated caller: the live token that signed the request.
#[derive(Debug, Clone)]
pub struct Caller(pub TokenInfo);

impl Caller {
    /// Ok when the caller's token grants `scope`, else 403.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if grants(&self.0.scopes, scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(scope.as_str()))
        }
    }

    /// The token's name: the actor recorded in the audit log.
    pub fn name(&self) -> &str {
        &self.0.name
    }
}

impl FromRequestParts<AdminState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AdminState) -> Result<Self, ApiError> {
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(ApiError::Unauthenticated)?;
        tokens::authenticate(&state.pool, presented)
            .await?
            .map(Caller)
            .ok_or(ApiError::Unauthenticated)
    }
}
