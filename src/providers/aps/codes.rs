//! The one APS table: `response_code` (2-digit status + 3-digit message) per command, and the
//! `transaction_status` / `transaction_code` of CHECK_STATUS, to outcome classes
//! (`../shared/spec/providers.md` §2.3, §2.5; design §1).
//!
//! Unknown statuses, messages and commands are kept as text, logged, and classed as uncertain
//! (create calls) or pending (states): never a panic, never a success.

use crate::providers::outcome::{CodeClass, StateClass};

/// An APS `response_code` split into its two parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseCode {
    /// Two digits: what kind of result (`14` purchase success, `15` uncertain, …).
    pub status: String,
    /// Three digits: why (`000` success, `777` no confirmation, …).
    pub message: String,
}

impl ResponseCode {
    /// Splits a five-digit code; anything else is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.len() != 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(ResponseCode {
            status: text[..2].to_owned(),
            message: text[2..].to_owned(),
        })
    }

    /// The five digits again.
    pub fn code(&self) -> String {
        format!("{}{}", self.status, self.message)
    }
}

/// The APS operation an answer is about (`command`, `service_command` or `query_command`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    CustomerVerify,
    OtpGenerate,
    OtpVerify,
    Purchase,
    Refund,
    CheckStatus,
    /// Any other command, kept verbatim.
    Other(String),
}

impl Command {
    /// Reads the command word; unknown words are kept and logged.
    pub fn parse(text: &str) -> Self {
        match text {
            "CUSTOMER_VERIFY" => Command::CustomerVerify,
            "OTP_GENERATE" => Command::OtpGenerate,
            "OTP_VERIFY" => Command::OtpVerify,
            "PURCHASE" => Command::Purchase,
            "REFUND" => Command::Refund,
            "CHECK_STATUS" => Command::CheckStatus,
            other => {
                tracing::warn!(command = %crate::domain::limits::quote(other), "unknown APS command");
                Command::Other(crate::providers::fields::provider_message(other))
            }
        }
    }

    /// The command word.
    pub fn as_str(&self) -> &str {
        match self {
            Command::CustomerVerify => "CUSTOMER_VERIFY",
            Command::OtpGenerate => "OTP_GENERATE",
            Command::OtpVerify => "OTP_VERIFY",
            Command::Purchase => "PURCHASE",
            Command::Refund => "REFUND",
            Command::CheckStatus => "CHECK_STATUS",
            Command::Other(text) => text,
        }
    }

    /// The status that means success for this command (§2.2): 90, 88, 92, 14, 06, 12.
    fn success_status(&self) -> Option<&'static str> {
        match self {
            Command::CustomerVerify => Some("90"),
            Command::OtpGenerate => Some("88"),
            Command::OtpVerify => Some("92"),
            Command::Purchase => Some("14"),
            Command::Refund => Some("06"),
            Command::CheckStatus => Some("12"),
            Command::Other(_) => None,
        }
    }
}

/// Statuses that are a definite failure of the request (§2.3): invalid request, refund failed,
/// check-status failed, purchase failure, valU OTP generate / customer verify / OTP verify failed.
const FAILURE_STATUSES: &[&str] = &["00", "07", "11", "13", "89", "91", "93"];

/// Class of a `response_code` answering `command`.
pub fn code_class(command: &Command, code: &ResponseCode) -> CodeClass {
    let (status, message) = (code.status.as_str(), code.message.as_str());
    // "Order not found" comes under the query's own success status (`12036`), so it goes first.
    if message == "036" {
        return CodeClass::NotFound;
    }
    if command.success_status() == Some(status) {
        return CodeClass::Success;
    }
    match (status, message) {
        // Uncertain, pending, on hold; "processed, but confirmation not received".
        ("15" | "19" | "20", _) | (_, "777") => CodeClass::Uncertain,
        // Duplicate order number, merchant reference exists, order already processed.
        (_, "007" | "066" | "047") => CodeClass::Exists,
        (_, "784") => CodeClass::Processing,
        // "Signature mismatch" (xx008): refused unread, nothing registered; not a decline.
        (_, "008") => CodeClass::Refused,
        // "Technical problem": aps-woo keeps such orders on hold and polls (§2.3).
        (_, "006") => CodeClass::Uncertain,
        // Incomplete.
        ("10", _) => CodeClass::Uncertain,
        (status, _) if FAILURE_STATUSES.contains(&status) => CodeClass::Terminal,
        (status, message) => {
            tracing::warn!(
                command = command.as_str(),
                status,
                message,
                "unexpected APS response code; treated as uncertain"
            );
            CodeClass::Uncertain
        }
    }
}

/// Whether a CHECK_STATUS `transaction_status` names a valU step before PURCHASE (customer
/// verify, OTP generate, OTP verify: 88–93, §2.3): the order has no PURCHASE at APS yet.
pub fn before_purchase(transaction_status: &str) -> bool {
    matches!(transaction_status.trim(), "88" | "89" | "90" | "91" | "92" | "93")
}

/// Class of the order state CHECK_STATUS reports. `transaction_code` decides when it is a valid
/// code, otherwise `transaction_status` (§2.2 CHECK_STATUS, §2.5: aps-woo pays on 14000/02000).
pub fn transaction_class(transaction_status: &str, transaction_code: Option<&ResponseCode>) -> StateClass {
    let status = transaction_code.map_or(transaction_status.trim(), |code| code.status.as_str());
    match status {
        // Purchase (14) or authorization (02) success.
        "14" | "02" => StateClass::Succeeded,
        // The last transaction is a refund (06 done, 07 failed): the purchase itself succeeded.
        "06" | "07" => StateClass::Succeeded,
        "13" => StateClass::Declined,
        "00" => StateClass::Failed,
        // Uncertain, pending, on hold, incomplete: ask again later.
        "15" | "19" | "20" | "10" => StateClass::Pending,
        // Only a valU step so far (OTP generate/verify, customer verify): no PURCHASE yet.
        step if before_purchase(step) => StateClass::Pending,
        other => {
            tracing::warn!(
                transaction_status = other,
                "unknown APS transaction status; treated as pending"
            );
            StateClass::Pending
        }
    }
}

#[cfg(test)]
#[path = "codes_tests.rs"]
mod tests;
