//! A provider secret that can be rotated without a gap (issue 20): the current secret, and the
//! previous one, still accepted on what the provider sends until it expires.
//!
//! Invariants:
//! - what we send is always signed with the current secret;
//! - what we receive verifies against the current secret first, then against the previous one
//!   only while it has not expired, and the caller learns which one verified (a metric counts
//!   them, so ops see when the previous secret is no longer used and can drop it);
//! - a ring is shared by every clone of its account, so a reload (`replace_with`) reaches every
//!   holder at once; secrets never appear in `Debug`.

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use std::sync::{Arc, RwLock};

/// Which secret verified a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    Current,
    Previous,
}

impl Verified {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Verified::Current => "current",
            Verified::Previous => "previous",
        }
    }
}

/// A secret no longer in use for signing, still accepted until `until`.
#[derive(Clone)]
pub struct PreviousSecret {
    pub secret: SecretString,
    pub until: DateTime<Utc>,
}

#[derive(Clone)]
struct Secrets {
    current: SecretString,
    previous: Option<PreviousSecret>,
}

/// The current secret and, during a rotation, the previous one.
#[derive(Clone)]
pub struct KeyRing(Arc<RwLock<Secrets>>);

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let previous = self.read().previous.as_ref().map(|p| p.until);
        f.debug_struct("KeyRing")
            .field("current", &"[redacted]")
            .field("previous_until", &previous)
            .finish()
    }
}

impl From<SecretString> for KeyRing {
    fn from(current: SecretString) -> Self {
        KeyRing::new(current, None)
    }
}

impl KeyRing {
    pub fn new(current: SecretString, previous: Option<PreviousSecret>) -> Self {
        KeyRing(Arc::new(RwLock::new(Secrets { current, previous })))
    }

    /// The secret to sign with.
    pub fn current(&self) -> SecretString {
        self.read().current.clone()
    }

    /// Runs `verify` with the current secret, then, if that fails and the previous secret has
    /// not expired at `now`, with the previous one. Which one verified, or None.
    pub fn verify(&self, now: DateTime<Utc>, verify: impl Fn(&SecretString) -> bool) -> Option<Verified> {
        let secrets = self.read();
        if verify(&secrets.current) {
            return Some(Verified::Current);
        }
        match &secrets.previous {
            Some(previous) if now < previous.until && verify(&previous.secret) => Some(Verified::Previous),
            _ => None,
        }
    }

    /// Takes `other`'s secrets (a configuration reload). Returns whether anything changed.
    pub fn replace_with(&self, other: &KeyRing) -> bool {
        use secrecy::ExposeSecret as _;
        let new = other.read().clone();
        let mut secrets = self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let same_previous = match (&secrets.previous, &new.previous) {
            (None, None) => true,
            (Some(a), Some(b)) => a.until == b.until && a.secret.expose_secret() == b.secret.expose_secret(),
            _ => false,
        };
        let changed = secrets.current.expose_secret() != new.current.expose_secret() || !same_previous;
        *secrets = new;
        changed
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Secrets> {
        // A panic while holding the lock cannot leave the secrets half-written (they are replaced
        // whole), so a poisoned lock is still good to read.
        self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret as _;

    fn secret(text: &str) -> SecretString {
        SecretString::from(text.to_owned())
    }

    fn signed_with(expected: &'static str) -> impl Fn(&SecretString) -> bool {
        move |secret| secret.expose_secret() == expected
    }

    #[test]
    fn the_previous_secret_verifies_until_it_expires_and_never_signs() {
        let now = Utc::now();
        let ring = KeyRing::new(
            secret("new"),
            Some(PreviousSecret {
                secret: secret("old"),
                until: now + chrono::Duration::hours(1),
            }),
        );
        assert_eq!(ring.current().expose_secret(), "new");
        assert_eq!(ring.verify(now, signed_with("new")), Some(Verified::Current));
        assert_eq!(ring.verify(now, signed_with("old")), Some(Verified::Previous));
        assert_eq!(ring.verify(now, signed_with("forged")), None);
        let later = now + chrono::Duration::hours(2);
        assert_eq!(ring.verify(later, signed_with("old")), None, "expired");
        assert_eq!(ring.verify(later, signed_with("new")), Some(Verified::Current));
    }

    #[test]
    fn a_reload_reaches_every_clone_and_says_whether_it_changed_anything() {
        let ring = KeyRing::from(secret("key-alpha"));
        let holder = ring.clone();
        assert!(!ring.replace_with(&KeyRing::from(secret("key-alpha"))));
        let rotated = KeyRing::new(
            secret("key-beta"),
            Some(PreviousSecret {
                secret: secret("key-alpha"),
                until: Utc::now() + chrono::Duration::hours(1),
            }),
        );
        assert!(ring.replace_with(&rotated));
        assert_eq!(holder.current().expose_secret(), "key-beta");
        assert_eq!(
            holder.verify(Utc::now(), signed_with("key-alpha")),
            Some(Verified::Previous)
        );
        assert!(!format!("{holder:?}").contains("key-"), "secrets never in Debug");
    }
}
