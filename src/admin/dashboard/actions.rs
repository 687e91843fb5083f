//! The dashboard's actions (issue 21): what an operator can do from the pages, who may, and the
//! buttons that start them. The dashboard offers what the admin API offers, through the same
//! functions (`admin::actions`, `refund_evidence`, `read::refunds::apply`, `ops`, `jobs`,
//! `accounts`), so a rule holds whichever door the operator uses.
//!
//! Invariants:
//! - a button is only a link to the action's confirmation page (`GET /actions/{slug}`, which
//!   changes nothing); only the confirmation page's form posts, carrying the session's CSRF token
//!   (`confirm`, `perform`);
//! - a button is shown only to a viewer whose token holds the action's scope, and the scope is
//!   checked again when the action is carried out;
//! - the message shown after an action comes from this fixed catalogue by its slug, never from
//!   the query string's text.

use super::html::{attr, text};
use super::session::Viewer;
use crate::admin::auth::Scope;

/// Everything an operator can do from the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Ask the provider about a payment now.
    StatusCheck,
    /// Set a payment's final status by hand.
    Resolve,
    /// Publish a payment's stored events again, with their original ids.
    ReplayEvents,
    /// Ask the provider about a refund in flight or in review; the answer is stored as evidence.
    AskRefund,
    /// Record the outcome of a stuck refund at the head of its queue, on stored evidence.
    ReleaseRefund,
    /// Cancel a refund still queued.
    CancelRefund,
    ReplayDeadLetter,
    PurgeDeadLetter,
    RetryJob,
    DiscardJob,
    PauseAccount,
    ResumeAccount,
}

/// The kind of record an action works on; its id is the form's `target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    Payment,
    Refund,
    DeadLetter,
    Job,
    /// `provider/account`.
    Account,
}

impl Action {
    pub const ALL: [Action; 12] = [
        Action::StatusCheck,
        Action::Resolve,
        Action::ReplayEvents,
        Action::AskRefund,
        Action::ReleaseRefund,
        Action::CancelRefund,
        Action::ReplayDeadLetter,
        Action::PurgeDeadLetter,
        Action::RetryJob,
        Action::DiscardJob,
        Action::PauseAccount,
        Action::ResumeAccount,
    ];

    /// The action's name in URLs and in the `done` notice.
    pub fn slug(self) -> &'static str {
        match self {
            Action::StatusCheck => "status-check",
            Action::Resolve => "resolve",
            Action::ReplayEvents => "replay-events",
            Action::AskRefund => "refund-ask",
            Action::ReleaseRefund => "refund-release",
            Action::CancelRefund => "refund-cancel",
            Action::ReplayDeadLetter => "dead-letter-replay",
            Action::PurgeDeadLetter => "dead-letter-purge",
            Action::RetryJob => "job-retry",
            Action::DiscardJob => "job-discard",
            Action::PauseAccount => "account-pause",
            Action::ResumeAccount => "account-resume",
        }
    }

    pub fn from_slug(slug: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|action| action.slug() == slug)
    }

    /// The scope the API asks for the same action: cancelling a refund is finance's, the rest is
    /// operate's.
    pub fn scope(self) -> Scope {
        match self {
            Action::CancelRefund => Scope::Finance,
            _ => Scope::Operate,
        }
    }

    pub fn target_kind(self) -> TargetKind {
        match self {
            Action::StatusCheck | Action::Resolve | Action::ReplayEvents => TargetKind::Payment,
            Action::AskRefund | Action::ReleaseRefund | Action::CancelRefund => TargetKind::Refund,
            Action::ReplayDeadLetter | Action::PurgeDeadLetter => TargetKind::DeadLetter,
            Action::RetryJob | Action::DiscardJob => TargetKind::Job,
            Action::PauseAccount | Action::ResumeAccount => TargetKind::Account,
        }
    }

    /// Whether the operator must give a reason (the API asks for one for the same actions).
    pub fn needs_reason(self) -> bool {
        !matches!(
            self,
            Action::StatusCheck
                | Action::ReplayEvents
                | Action::AskRefund
                | Action::ReplayDeadLetter
                | Action::PurgeDeadLetter
        )
    }

    /// The button's label.
    pub fn label(self) -> &'static str {
        match self {
            Action::StatusCheck => "Force status check",
            Action::Resolve => "Resolve",
            Action::ReplayEvents => "Replay events",
            Action::AskRefund => "Ask the provider",
            Action::ReleaseRefund => "Release",
            Action::CancelRefund => "Cancel refund",
            Action::ReplayDeadLetter => "Replay",
            Action::PurgeDeadLetter => "Purge",
            Action::RetryJob => "Retry",
            Action::DiscardJob => "Discard",
            Action::PauseAccount => "Pause",
            Action::ResumeAccount => "Resume",
        }
    }

    /// What confirming does, for the confirmation page (`target` goes in escaped).
    pub fn consequence(self, target: &str) -> String {
        let target = text(target);
        match self {
            Action::StatusCheck => format!(
                "Payment <b>{target}</b>: the provider is asked for its status now (a scheduled check is brought forward)."
            ),
            Action::Resolve => format!(
                "Payment <b>{target}</b> gets the final status you choose, by hand: its scheduled jobs are \
                 cancelled and <code>payment.resolved</code> is announced to the order system."
            ),
            Action::ReplayEvents => format!(
                "Every stored event of payment <b>{target}</b> is published again, with its original \
                 <code>event_id</code> and sequence (consumers drop what they already have)."
            ),
            Action::AskRefund => format!(
                "Refund <b>{target}</b>: the provider is asked about it now. Its answer is stored, and a \
                 release must cite a stored answer that supports the outcome."
            ),
            Action::ReleaseRefund => format!(
                "Refund <b>{target}</b> is ended with the outcome you choose, on the evidence of a stored \
                 provider answer, and the next refund of its queue may be sent."
            ),
            Action::CancelRefund => format!(
                "Refund <b>{target}</b>, still queued, is cancelled: it is never sent, and \
                 <code>refund.cancelled</code> is announced."
            ),
            Action::ReplayDeadLetter => format!(
                "Dead letter <b>{target}</b> is published again, unchanged, to its original routing key, \
                 and checked as a fresh command. (To fix its body or routing key first, use \
                 <code>POST /admin/v1/dead-letters/{{id}}/replay</code> or <code>bnpl admin</code>.)"
            ),
            Action::PurgeDeadLetter => format!(
                "Dead letter <b>{target}</b> leaves the lists (it is kept, marked purged)."
            ),
            Action::RetryJob => format!("Job <b>{target}</b> runs again now, with a fresh attempt budget."),
            Action::DiscardJob => format!("Job <b>{target}</b> is discarded for good."),
            Action::PauseAccount => format!(
                "Account <b>{target}</b> is paused: nothing goes to its provider until it is resumed \
                 (commands and callbacks are still taken)."
            ),
            Action::ResumeAccount => format!(
                "Account <b>{target}</b> is resumed (an open circuit is closed too)."
            ),
        }
    }

    /// The notice shown on the page the operator lands on after the action.
    pub fn done(self) -> &'static str {
        match self {
            Action::StatusCheck => "Status check scheduled now.",
            Action::Resolve => "Payment resolved.",
            Action::ReplayEvents => "Events queued for publishing again.",
            Action::AskRefund => "The provider's answer is stored.",
            Action::ReleaseRefund => "Refund released.",
            Action::CancelRefund => "Refund cancelled.",
            Action::ReplayDeadLetter => "Dead letter replayed.",
            Action::PurgeDeadLetter => "Dead letter purged.",
            Action::RetryJob => "Job scheduled again.",
            Action::DiscardJob => "Job discarded.",
            Action::PauseAccount => "Account paused.",
            Action::ResumeAccount => "Account resumed.",
        }
    }

    /// The button that opens this action's confirmation page for `target`, or nothing when the
    /// viewer's token lacks the scope.
    pub fn button(self, viewer: &Viewer, target: &str) -> String {
        self.button_with(viewer, target, &[])
    }

    /// [`Action::button`] carrying `prefill` (name, value) pairs to the confirmation page.
    pub fn button_with(self, viewer: &Viewer, target: &str, prefill: &[(&str, &str)]) -> String {
        if !viewer.may(self.scope()) {
            return String::new();
        }
        let carried: String = prefill
            .iter()
            .map(|(name, value)| {
                format!(
                    "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                    attr(name),
                    attr(value)
                )
            })
            .collect();
        format!(
            "<form class=\"action\" method=\"get\" action=\"/actions/{slug}\">\
             <input type=\"hidden\" name=\"target\" value=\"{target}\">{carried}\
             <button type=\"submit\" class=\"action-{slug}\" data-target=\"{target}\">{label}</button></form>",
            slug = self.slug(),
            target = attr(target),
            label = text(self.label()),
        )
    }
}

/// `?done=slug` on a page: the notice of the action just carried out.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Done {
    #[serde(default)]
    pub done: Option<String>,
}

impl Done {
    /// The notice, or nothing for no or an unknown slug.
    pub fn notice(&self) -> String {
        match self.done.as_deref().and_then(Action::from_slug) {
            Some(action) => format!("<p class=\"notice\" id=\"action-done\">{}</p>", text(action.done())),
            None => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_name_one_action_each() {
        for action in Action::ALL {
            assert_eq!(Action::from_slug(action.slug()), Some(action));
        }
        assert_eq!(Action::from_slug("drop-tables"), None);
    }

    #[test]
    fn the_notice_comes_from_the_catalogue_not_the_query() {
        let done = Done {
            done: Some("<script>alert(1)</script>".to_owned()),
        };
        assert_eq!(done.notice(), "");
        let done = Done {
            done: Some("resolve".to_owned()),
        };
        assert!(done.notice().contains("Payment resolved."));
    }

    #[test]
    fn scopes_match_the_api() {
        assert_eq!(Action::CancelRefund.scope(), Scope::Finance);
        assert_eq!(Action::Resolve.scope(), Scope::Operate);
        assert!(Action::Resolve.needs_reason());
        assert!(!Action::StatusCheck.needs_reason());
    }
}
