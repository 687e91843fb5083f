//! What `bnpl publish` makes of the events it sees (contract §5, added 2026-11-29): which events
//! end the wait and with which exit code, so scripts can branch on the code alone.
//!
//! Invariant: only an event about the command's own subject ends the wait, and only the codes of
//! the contract are used: 0 succeeded (or the first `action_required` where the customer acts
//! next, or `refund.cancelled` after a `refund.cancel`), 1 usage or connection error, 2 rejected,
//! 3 declined / failed / expired / cancelled, 4 needs review, 5 nothing final within the wait.

use crate::intake::envelope::CommandType;
use serde_json::Value;

/// An exit code of `bnpl publish`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Succeeded = 0,
    UsageOrConnection = 1,
    Rejected = 2,
    Unsuccessful = 3,
    NeedsReview = 4,
    TimedOut = 5,
}

impl Exit {
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// What a command is about: the id its subject field names (`refund_id` for refund commands,
/// `payment_id` for purchase commands), or nothing when the body lacks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub command_type: CommandType,
    pub id: Option<String>,
}

impl Subject {
    pub fn of(command_type: CommandType, body: &Value) -> Subject {
        let id = body.get(command_type.subject_field()).and_then(Value::as_str);
        Subject {
            command_type,
            id: id.map(str::to_owned),
        }
    }

    /// Whether `event` is about this subject. A refund's events also name its payment, so the
    /// payment's own events never end the wait of a refund command; a body without its id can
    /// only be answered by a `command.rejected` of the same type that names no id either.
    pub fn matches(&self, event: &Value) -> bool {
        let field = self.command_type.subject_field();
        match &self.id {
            Some(id) => event.get(field).and_then(Value::as_str) == Some(id.as_str()),
            None => {
                event.get("type").and_then(Value::as_str) == Some("command.rejected")
                    && event.get("command_type").and_then(Value::as_str) == Some(self.command_type.as_str())
                    && event.get(field).is_none()
            }
        }
    }
}

/// The exit `event` ends the wait of a `command_type` command with, or `None` if more is to come.
pub fn exit_for(command_type: &str, event: &Value) -> Option<Exit> {
    let event_type = event.get("type").and_then(Value::as_str).unwrap_or_default();
    match event_type {
        "command.rejected" => Some(Exit::Rejected),
        "payment.succeeded" | "refund.succeeded" => Some(Exit::Succeeded),
        "payment.action_required" if customer_acts_next(command_type, event) => Some(Exit::Succeeded),
        "refund.cancelled" if command_type == "refund.cancel" => Some(Exit::Succeeded),
        "payment.declined" | "payment.failed" | "payment.expired" | "refund.declined" | "refund.failed"
        | "refund.cancelled" => Some(Exit::Unsuccessful),
        "payment.needs_review" | "refund.needs_review" => Some(Exit::NeedsReview),
        _ => None,
    }
}

/// Whether an `action_required` leaves the next step to the customer, with nothing more to wait
/// for (contract §5): a valU purchase waiting for its OTP, a resent OTP, a humm Payment Page to
/// open. A humm Gate redirect is not: its outcome follows on its own, so the wait goes on.
fn customer_acts_next(command_type: &str, event: &Value) -> bool {
    let provider = event.get("provider").and_then(Value::as_str);
    let flow = event.get("flow").and_then(Value::as_str);
    match command_type {
        "purchase.resend_otp" => true,
        "purchase.create" => provider == Some("valu") || flow == Some("payment_page"),
        _ => false,
    }
}

/// The last line `bnpl publish` prints.
pub fn summary(subject: &Subject, last_event: Option<&str>, exit: Exit) -> String {
    let command_type = subject.command_type.as_str();
    let subject = subject.id.as_deref().unwrap_or("(no id)");
    let verdict = match exit {
        Exit::Succeeded => "ok",
        Exit::UsageOrConnection => "error",
        Exit::Rejected => "rejected",
        Exit::Unsuccessful => "unsuccessful",
        Exit::NeedsReview => "needs review",
        Exit::TimedOut => "no final event within --wait",
    };
    let last = last_event.unwrap_or("no event");
    format!(
        "summary: {command_type} {subject}: {verdict}; last event {last}; exit {}",
        exit.code()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(event_type: &str) -> Value {
        json!({"type": event_type})
    }

    #[test]
    fn the_customer_acting_next_is_success_only_where_the_contract_says() {
        let valu = json!({"type": "payment.action_required", "provider": "valu"});
        let page = json!({"type": "payment.action_required", "provider": "humm", "flow": "payment_page"});
        let gate = json!({"type": "payment.action_required", "provider": "humm", "flow": "gate"});
        assert_eq!(exit_for("purchase.create", &valu), Some(Exit::Succeeded));
        assert_eq!(exit_for("purchase.create", &page), Some(Exit::Succeeded));
        assert_eq!(exit_for("purchase.create", &gate), None);
        assert_eq!(exit_for("purchase.resend_otp", &valu), Some(Exit::Succeeded));
        assert_eq!(exit_for("purchase.confirm", &valu), None);
        assert_eq!(exit_for("purchase.create", &event("payment.pending")), None);
        assert_eq!(exit_for("purchase.create", &event("payment.accepted")), None);
    }

    #[test]
    fn every_final_event_has_its_code() {
        let cases = [
            ("purchase.create", "payment.succeeded", Some(Exit::Succeeded)),
            ("purchase.confirm", "payment.declined", Some(Exit::Unsuccessful)),
            ("purchase.create", "payment.failed", Some(Exit::Unsuccessful)),
            ("purchase.create", "payment.expired", Some(Exit::Unsuccessful)),
            ("purchase.create", "payment.needs_review", Some(Exit::NeedsReview)),
            ("refund.create", "refund.queued", None),
            ("refund.create", "refund.submitted", None),
            ("refund.create", "refund.succeeded", Some(Exit::Succeeded)),
            ("refund.create", "refund.cancelled", Some(Exit::Unsuccessful)),
            ("refund.cancel", "refund.cancelled", Some(Exit::Succeeded)),
            ("refund.create", "refund.needs_review", Some(Exit::NeedsReview)),
            ("refund.create", "command.rejected", Some(Exit::Rejected)),
        ];
        for (command, event_type, exit) in cases {
            assert_eq!(exit_for(command, &event(event_type)), exit, "{command} {event_type}");
        }
    }

    #[test]
    fn a_refund_command_is_about_its_refund_not_its_payment() {
        let subject = Subject::of(
            CommandType::RefundCreate,
            &json!({"refund_id": "rf-1", "payment_id": "p-1"}),
        );
        assert!(subject.matches(&json!({"type": "refund.succeeded", "refund_id": "rf-1", "payment_id": "p-1"})));
        assert!(!subject.matches(&json!({"type": "payment.resolved", "payment_id": "p-1"})));
        let payment = Subject::of(CommandType::PurchaseCreate, &json!({"payment_id": "p-1"}));
        assert!(payment.matches(&json!({"type": "command.rejected", "payment_id": "p-1"})));
        assert!(!payment.matches(&json!({"type": "payment.succeeded", "payment_id": "p-2"})));
    }

    #[test]
    fn a_body_without_its_id_is_answered_by_a_rejection_without_one() {
        let subject = Subject::of(CommandType::RefundCreate, &json!({"payment_id": "p-1"}));
        let rejected = json!({"type": "command.rejected", "command_type": "refund.create"});
        assert!(subject.matches(&rejected));
        assert!(!subject
            .matches(&json!({"type": "command.rejected", "command_type": "refund.create", "refund_id": "rf-9"})));
        assert!(!subject.matches(&json!({"type": "command.rejected", "command_type": "purchase.create"})));
    }

    #[test]
    fn the_summary_is_one_line_with_the_code() {
        let subject = Subject::of(CommandType::PurchaseCreate, &json!({"payment_id": "p-1"}));
        let line = summary(&subject, Some("payment.pending"), Exit::TimedOut);
        assert_eq!(
            line,
            "summary: purchase.create p-1: no final event within --wait; last event payment.pending; exit 5"
        );
    }
}
