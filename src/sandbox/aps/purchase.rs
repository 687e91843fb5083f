//! `command=PURCHASE` for valU (providers.md §2.2 step 4): one per `merchant_reference`.
//!
//! Needs the order's OTP_GENERATE; takes the OTP even without a prior OTP_VERIFY (aps-woo sends
//! it only in PURCHASE), with the same lifetime and attempt rules (`13666` wrong, `13123`
//! exhausted and declined, `13778` expired). `transaction_id` may be either OTP_GENERATE's
//! `transaction_id` or its `merchant_order_id` (UNCERTAIN in the sources: both accepted). Success
//! is `14000` with `fort_id` and `eci=ECOMMERCE`; a second PURCHASE is `00047` and counted in the
//! ledger's `sales_per_payment_id`. The final result is also sent as direct feedback.

use std::sync::Arc;

use chrono::Utc;
use tokio::time::Instant;

use super::feedback;
use super::order::{OtpCheck, Purchase};
use super::reply::{fields, Answer, ApsRequest};
use super::valu::otp_failure;
use crate::sandbox::faults::Fault;
use crate::sandbox::ledger::SaleEntry;
use crate::sandbox::state::Shared;

/// PURCHASE.
pub(crate) async fn purchase(shared: &Arc<Shared>, request: &ApsRequest) -> Answer {
    for name in ["amount", "currency", "phone_number", "otp", "tenure"] {
        if request.param(name).is_none() {
            return Answer::missing(name);
        }
    }
    let get = |name| request.param(name).unwrap_or_default();
    let mut store = shared.store.lock().await;
    let store = &mut *store;
    store.ledger.sale_requested(&request.reference);
    let Some(order) = store.aps.get_mut(&request.key()) else {
        return Answer::new("00036", "Order not found");
    };
    if let Some(done) = &order.purchase {
        return Answer::new("00047", "Order already processed").with("fort_id", &done.fort_id);
    }
    if order.locked {
        return Answer::new("13123", "Maximum attempts exceeded");
    }
    if get("amount").parse::<i64>().ok() != Some(order.amount) || get("currency") != order.currency {
        return Answer::invalid("amount");
    }
    if get("phone_number") != order.phone {
        return Answer::invalid("phone_number");
    }
    if let Some(id) = request.param("transaction_id") {
        if id != order.transaction_id && id != order.merchant_order_id {
            return Answer::invalid("transaction_id");
        }
    }
    if !order.tenures.iter().any(|t| t.to_string() == get("tenure")) {
        return Answer::invalid("tenure");
    }
    let check = order.check_otp(&get("otp"), Instant::now());
    let answer = match check {
        OtpCheck::Valid => {
            let fort_id = format!("1699{:014}", shared.next_number());
            let (code, message) = if shared.applies(order.faults, Fault::Decline) {
                ("13666", "Transaction declined")
            } else {
                ("14000", "Success")
            };
            order.purchase = Some(Purchase {
                fort_id: fort_id.clone(),
                code,
                message,
                tenure: get("tenure"),
            });
            store.ledger.sale_accepted(SaleEntry {
                provider: "aps",
                account: request.account(),
                payment_id: request.reference.clone(),
                amount: order.amount,
                currency: order.currency.clone(),
                at: Utc::now(),
            });
            Answer::new(code, message)
                .with("fort_id", fort_id)
                .with("eci", "ECOMMERCE")
                .with("payment_option", "VALU")
                .with("valu_transaction_id", &order.transaction_id)
                .with("loan_number", format!("LN{}", order.transaction_id))
        }
        OtpCheck::Exhausted => otp_failure(true, OtpCheck::Exhausted),
        other => return otp_failure(true, other),
    };
    // A final result (success, decline, attempts exhausted) goes out as direct feedback too.
    let faults = order.faults;
    feedback::send(
        shared,
        &request.merchant,
        &request.reference,
        "purchase",
        fields(&request.params, answer.clone()),
        faults,
    );
    answer
}
