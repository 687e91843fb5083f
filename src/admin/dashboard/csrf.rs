//! The dashboard's CSRF token: every action form carries it, and an action is carried out only
//! when the posted token is the session's (issue 21).
//!
//! The token is an HMAC of a fixed label keyed by the session id. The session id is 256 random
//! bits that only the browser's `HttpOnly` cookie holds (the database keeps its hash), so no
//! other site and no page script can compute the token, and no extra secret or table is needed:
//! the token lives and dies with its session. It is compared in constant time.
//!
//! This is a second lock, not the only one: the session cookie is `SameSite=Strict` and action
//! posts must come from this dashboard's `Origin` too (`session::same_origin`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What the HMAC signs: a version, so a future scheme cannot collide with this one.
const LABEL: &[u8] = b"bnpl dashboard action v1";

/// A session's CSRF token. Not `Debug`-printed in full: it is a credential for the session.
#[derive(Clone)]
pub struct CsrfToken(String);

impl std::fmt::Debug for CsrfToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfToken(…)")
    }
}

impl CsrfToken {
    /// The token of the session whose id (the cookie's value) is `session_id`.
    pub fn of_session(session_id: &str) -> Self {
        CsrfToken(URL_SAFE_NO_PAD.encode(mac(session_id).finalize().into_bytes()))
    }

    /// The token as it goes into a form's hidden field.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `posted` is this session's token (constant time; anything malformed is not).
    pub fn accepts(session_id: &str, posted: &str) -> bool {
        match URL_SAFE_NO_PAD.decode(posted.trim()) {
            Ok(bytes) => mac(session_id).verify_slice(&bytes).is_ok(),
            Err(_) => false,
        }
    }
}

#[expect(clippy::expect_used, reason = "HMAC accepts keys of any length")]
fn mac(session_id: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(session_id.as_bytes()).expect("HMAC takes any key length");
    mac.update(LABEL);
    mac
}

#[cfg(test)]
mod tests {
    use super::CsrfToken;

    #[test]
    fn only_the_sessions_own_token_is_accepted() {
        let token = CsrfToken::of_session("session-a");
        assert!(CsrfToken::accepts("session-a", token.as_str()));
        assert!(
            !CsrfToken::accepts("session-b", token.as_str()),
            "another session's token"
        );
        assert!(!CsrfToken::accepts("session-a", ""), "no token");
        assert!(!CsrfToken::accepts("session-a", "not base64 !"), "garbage");
        let mut truncated = token.as_str().to_owned();
        truncated.pop();
        assert!(!CsrfToken::accepts("session-a", &truncated), "a shortened token");
        assert_eq!(format!("{token:?}"), "CsrfToken(…)", "never printed");
    }
}
