//! The domain: pure types and rules, no I/O.
//!
//! - [`currency`] / [`money`]: validated ISO-4217 codes and integer minor-unit amounts.
//! - [`events`]: every event body the orchestrator announces (contract §3), typed.
//! - [`ids`]: `PaymentId`, `RefundId` (the providers' 1–40 char rule) and `AccountName`.
//! - [`limits`]: the bounds of contract §7 on every command field, and how much of a refused
//!   value a message may quote.
//! - [`provider`]: `Provider` (humm, valU, each with its one currency) and the humm `Flow`.
//! - [`payment_status`] / [`payment_state`]: payment statuses and the payment state machine.
//! - [`refund_status`] / [`refund_state`]: refund statuses and the refund state machine.
//! - [`review`]: why something needs an operator.
//! - [`balance`]: how much of a captured payment is still refundable.
//!
//! Everything here is deterministic and side-effect free: the store, jobs and HTTP layers feed
//! facts in and carry decisions out, so the rules are tested exhaustively without a database.
//! The two machines' functions keep their module paths (`payment_state::transition`,
//! `refund_state::transition`) so a call site always says which machine it drives.

pub mod balance;
pub mod currency;
pub mod events;
pub mod ids;
pub mod limits;
pub mod money;
pub mod payment_state;
pub mod payment_status;
pub mod provider;
pub mod refund_state;
pub mod refund_status;
pub mod review;

pub use balance::{check_refund, refundable_remainder, BalanceError, ExistingRefund};
pub use currency::{Currency, CurrencyError};
pub use ids::{AccountName, IdError, PaymentId, RefundId};
pub use limits::FieldError;
pub use money::{Money, MoneyError};
pub use payment_state::{PaymentEvent, PaymentRefusal, Transition};
pub use payment_status::{PaymentStatus, UnknownPaymentStatus};
pub use provider::{Flow, Provider, UnknownName};
pub use refund_state::{RefundEvent, RefundRefusal, RefundTransition, ReleaseOutcome};
pub use refund_status::{RefundStatus, UnknownRefundStatus};
pub use review::ReviewReason;
