//! What a change carries from outside (a provider's ids, a note quoting a provider), made
//! storable before the ledger writes it, whichever path built the change: PostgreSQL refuses a
//! NUL in text and `jsonb`, and a write that fails on every retry turns a genuine answer into an
//! outage. Both writers (`payment::Change`, `refund::RefundChange`) share this one rule.
//!
//! Invariant: texts that are already storable are not copied (the usual case costs one scan).

use crate::domain::limits;

/// Longest note kept in the audit log.
pub const NOTE_MAX: usize = 2_000;

/// A change's outside texts.
pub struct Texts<'a> {
    pub note: &'a Option<String>,
    pub provider_reference: &'a Option<String>,
    pub provider_request_id: &'a Option<String>,
}

/// The same texts as they can be stored.
pub struct Bounded {
    pub note: Option<String>,
    pub provider_reference: Option<String>,
    pub provider_request_id: Option<String>,
}

/// None when `texts` can be stored as they are; else the storable ones: a provider id that is
/// not clean dropped (it can match nothing), a note made printable and bounded.
pub fn bounded(texts: Texts<'_>) -> Option<Bounded> {
    let clean = |id: &Option<String>| id.as_deref().is_none_or(limits::storable_reference);
    let note_fits = texts
        .note
        .as_deref()
        .is_none_or(|note| note.len() <= NOTE_MAX && !note.chars().any(char::is_control));
    if clean(texts.provider_reference) && clean(texts.provider_request_id) && note_fits {
        return None;
    }
    let keep = |id: &Option<String>| id.clone().filter(|id| limits::storable_reference(id));
    Some(Bounded {
        note: texts.note.as_deref().map(|note| limits::printable(note, NOTE_MAX)),
        provider_reference: keep(texts.provider_reference),
        provider_request_id: keep(texts.provider_request_id),
    })
}
