//! The one ecommpay table: codes, `payment.status`, `operation.status` and `operation.type` to
//! outcome classes (`../shared/spec/providers.md` §1.3, §1.6; design §1).
//!
//! All three status words are **open** enums: a value we do not know is kept as `Other(text)`,
//! logged, and classed as pending, so it leads to a status query and never to a final state.

use crate::providers::outcome::{CodeClass, StateClass};

/// Class of an ecommpay code (`code` of a synchronous answer, `operation.code` of a callback).
pub fn code_class(code: &str) -> CodeClass {
    match code.trim() {
        "0" => CodeClass::Success,
        // Duplicate ids: payment_id exists, merchant_refund_id exists.
        "3041" | "3230" => CodeClass::Exists,
        // Details not received yet; lock timeout.
        "3062" | "2147" => CodeClass::Processing,
        // Refund too soon after the previous one; provider unavailable; try again / network.
        "3285" | "314" | "601" | "602" => CodeClass::RetryLater,
        "3061" => CodeClass::NotFound,
        // Invalid or empty signature: the request was refused unread, nothing is registered. Not
        // a decline: a key mix-up (a rotation) must not fail every payment.
        "3261" | "3262" => CodeClass::Refused,
        // Internal error: the platform may or may not have registered the request.
        "501" => CodeClass::Uncertain,
        // General decline, validation, auto decline, invalid JSON, missing field, status forbids
        // the action, refund above the initial amount.
        "100" | "502" | "603" | "2003" | "2004" | "3060" | "3283" => CodeClass::Terminal,
        other => {
            tracing::warn!(code = other, "unknown ecommpay code; treated as uncertain");
            CodeClass::Uncertain
        }
    }
}

macro_rules! open_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $($text:literal)|+,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
            /// A value this table does not know, kept as a provider message (printable, clipped).
            Other(String),
        }

        impl $name {
            /// Reads the provider's word; unknown words become `Other` and are logged.
            pub fn parse(text: &str) -> Self {
                match text {
                    $($($text)|+ => $name::$variant,)*
                    other => {
                        tracing::warn!(value = %crate::domain::limits::quote(other), kind = stringify!($name),
                            "unknown ecommpay value");
                        $name::Other(crate::providers::fields::provider_message(other))
                    }
                }
            }

            /// The provider's word (the first spelling for known values).
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => open_enum!(@first $($text)|+),)*
                    $name::Other(text) => text,
                }
            }
        }
    };
    (@first $first:literal $(| $rest:literal)*) => { $first };
}

open_enum! {
    /// `payment.status` (php-sdk `Callback.php`, woo `EcpGatewayPaymentStatus`).
    PaymentStatus {
        Success = "success",
        Decline = "decline",
        Awaiting3ds = "awaiting 3ds result",
        AwaitingRedirect = "awaiting redirect result",
        AwaitingCustomer = "awaiting customer",
        AwaitingClarification = "awaiting clarification",
        AwaitingCapture = "awaiting capture",
        /// Both spellings occur (php vs py/go SDKs).
        Cancelled = "canceled" | "cancelled",
        Refunded = "refunded",
        PartiallyRefunded = "partially refunded",
        Processing = "processing",
        ExternalProcessing = "external processing",
        Error = "error",
        InternalError = "internal error",
        Expired = "expired",
        Reversed = "reversed",
        PartiallyReversed = "partially reversed",
    }
}

open_enum! {
    /// `operation.status`.
    OperationStatus {
        Success = "success",
        Decline = "decline",
        Processing = "processing",
        ExternalProcessing = "external processing",
        Awaiting3ds = "awaiting 3ds result",
        AwaitingRedirect = "awaiting redirect result",
        AwaitingCustomer = "awaiting customer",
        AwaitingClarification = "awaiting clarification",
        Error = "error",
        InternalError = "internal error",
        Expired = "expired",
    }
}

open_enum! {
    /// `operation.type` (woo `EcpGatewayOperationType`); callbacks are dispatched on it.
    OperationType {
        Sale = "sale",
        Refund = "refund",
        Reversal = "reversal",
        Auth = "auth",
        Capture = "capture",
        Cancel = "cancel",
        Recurring = "recurring",
        PaymentConfirmation = "payment confirmation",
        CustomerAction = "customer action",
    }
}

impl PaymentStatus {
    /// The state of the *purchase* this status describes.
    pub fn class(&self) -> StateClass {
        match self {
            PaymentStatus::Success => StateClass::Succeeded,
            // A refunded payment was paid first; refunds are accounted separately (by operation).
            PaymentStatus::Refunded | PaymentStatus::PartiallyRefunded => StateClass::Succeeded,
            // ecommpay declines on its own at the threshold time; `expired` is its refusal too.
            PaymentStatus::Decline | PaymentStatus::Cancelled | PaymentStatus::Expired => StateClass::Declined,
            PaymentStatus::Error | PaymentStatus::InternalError => StateClass::Failed,
            PaymentStatus::Awaiting3ds | PaymentStatus::AwaitingRedirect | PaymentStatus::AwaitingCustomer => {
                StateClass::ActionRequired
            }
            // A humm sale is one step, so capture and reversal are unexpected here: keep
            // pending so that threshold + grace ends in review rather than a guess.
            PaymentStatus::AwaitingClarification
            | PaymentStatus::AwaitingCapture
            | PaymentStatus::Processing
            | PaymentStatus::ExternalProcessing
            | PaymentStatus::Reversed
            | PaymentStatus::PartiallyReversed
            | PaymentStatus::Other(_) => StateClass::Pending,
        }
    }
}

impl OperationStatus {
    /// The state of the operation (a sale or a refund) this status describes.
    pub fn class(&self) -> StateClass {
        match self {
            OperationStatus::Success => StateClass::Succeeded,
            OperationStatus::Decline | OperationStatus::Expired => StateClass::Declined,
            OperationStatus::Error | OperationStatus::InternalError => StateClass::Failed,
            OperationStatus::Awaiting3ds | OperationStatus::AwaitingRedirect | OperationStatus::AwaitingCustomer => {
                StateClass::ActionRequired
            }
            OperationStatus::Processing
            | OperationStatus::ExternalProcessing
            | OperationStatus::AwaitingClarification
            | OperationStatus::Other(_) => StateClass::Pending,
        }
    }
}

#[cfg(test)]
#[path = "codes_tests.rs"]
mod tests;
