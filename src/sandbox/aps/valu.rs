//! The valU steps before PURCHASE, all on `service_command` (providers.md §2.2):
//! CUSTOMER_VERIFY (`90000`; `00160` for the configured not-a-customer phone), OTP_GENERATE
//! (`88000` with `transaction_id`, `tenure` and `installment_detail.plan_details`; the OTP is
//! "sent by SMS", i.e. stored for `GET /sandbox/valu/otp/{phone}`), OTP_VERIFY (`92182`; a
//! wrong OTP `93666` with the attempts left, the last wrong one `93123` and the order declined;
//! an expired OTP `93778`). OTP lifetime and attempt limit are configuration: valU publishes
//! neither (providers.md §2.5).

use std::sync::Arc;

use rand::Rng;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::order::{ApsOrder, OtpCheck};
use super::reply::{Answer, ApsRequest};
use crate::sandbox::state::{Shared, Sms};

/// CUSTOMER_VERIFY.
pub(crate) fn customer_verify(shared: &Shared, request: &ApsRequest) -> Answer {
    match request.param("phone_number") {
        None => Answer::missing("phone_number"),
        Some(phone) if phone == shared.config.valu.not_customer_phone => {
            Answer::new("00160", "Customer does not exist")
        }
        Some(_) => Answer::new("90000", "Success"),
    }
}

/// OTP_GENERATE: creates the order (or renews its OTP) and texts the OTP to the phone.
pub(crate) async fn otp_generate(shared: &Arc<Shared>, request: &ApsRequest) -> Answer {
    for name in ["phone_number", "merchant_order_id", "amount", "currency"] {
        if request.param(name).is_none() {
            return Answer::missing(name);
        }
    }
    let get = |name| request.param(name).unwrap_or_default();
    let (phone, order_id, amount, currency) = (
        get("phone_number"),
        get("merchant_order_id"),
        get("amount"),
        get("currency"),
    );
    if !matches!(request.params.get("products"), Some(Value::Array(items)) if !items.is_empty()) {
        return Answer::missing("products");
    }
    let Ok(amount) = amount.parse::<i64>() else {
        return Answer::invalid("amount");
    };
    let down_payment = request
        .param("total_downpayment")
        .and_then(|d| d.parse::<i64>().ok())
        .unwrap_or(0);
    if currency != "EGP" || amount <= 0 || down_payment < 0 || down_payment > amount {
        return Answer::invalid(if currency != "EGP" { "currency" } else { "amount" });
    }
    if phone == shared.config.valu.not_customer_phone {
        return Answer::new("00160", "Customer does not exist");
    }
    let faults = shared.record_faults(&[&request.reference]).await;
    let valu = &shared.config.valu;
    let otp = format!("{:06}", rand::thread_rng().gen_range(0..1_000_000));
    let expires = Instant::now() + shared.config.scaled(valu.otp_lifetime_secs);
    let transaction_id = format!("{:012}", 240_719_000_000 + shared.next_number());
    let mut store = shared.store.lock().await;
    let key = request.key();
    match store.aps.get(&key) {
        Some(order) if order.purchase.is_some() => return Answer::new("00066", "Merchant reference already exists"),
        Some(order) if order.locked => return Answer::new("89123", "Maximum attempts exceeded"),
        Some(_) => {}
        None if !shared.has_room(&store) => {
            store.ledger.capacity_rejected();
            return Answer::new("00006", "Technical problem");
        }
        None => {}
    }
    let order = ApsOrder {
        phone: phone.clone(),
        amount,
        currency,
        down_payment,
        merchant_order_id: order_id.clone(),
        transaction_id: transaction_id.clone(),
        otp: otp.clone(),
        otp_expires: expires,
        attempts_left: valu.otp_attempts.max(1),
        otp_verified: false,
        locked: false,
        tenures: valu.tenures.clone(),
        purchase: None,
        refunds: Vec::new(),
        faults,
    };
    let plans = plans(&order, valu.monthly_fee_bp);
    store.aps.insert(key, order);
    store.sms.insert(
        phone,
        Sms {
            otp,
            merchant_identifier: request.merchant.merchant_identifier.clone(),
            merchant_reference: request.reference.clone(),
            expires_at: expires,
        },
    );
    let tenure = valu.tenures.iter().map(u32::to_string).collect::<Vec<_>>().join("-");
    let mut answer = Answer::new("88000", "Success")
        .with("transaction_id", transaction_id)
        .with("merchant_order_id", order_id)
        .with("otp_status", "true")
        .with("tenure", tenure);
    if request.param("include_installments").as_deref() == Some("YES") {
        answer = answer.with_value("installment_detail", json!({ "plan_details": plans }));
    }
    answer
}

/// OTP_VERIFY.
pub(crate) async fn otp_verify(shared: &Shared, request: &ApsRequest) -> Answer {
    let Some(otp) = request.param("otp") else {
        return Answer::missing("otp");
    };
    let mut store = shared.store.lock().await;
    let Some(order) = store.aps.get_mut(&request.key()) else {
        return Answer::new("93036", "Order not found");
    };
    if request.param("amount").and_then(|a| a.parse::<i64>().ok()) != Some(order.amount) {
        return Answer::invalid("amount");
    }
    match order.check_otp(&otp, Instant::now()) {
        OtpCheck::Valid => {
            let tenures: Vec<Value> = plans(order, shared.config.valu.monthly_fee_bp)
                .into_iter()
                .map(|p| {
                    json!({"EMI": p["amount_per_month"], "TENURE": p["number_of_installments"],
                           "InterestRate": shared.config.valu.monthly_fee_bp.to_string()})
                })
                .collect();
            Answer::new("92182", "Success").with_value("tenure", json!({ "TENURE_VM": tenures }))
        }
        other => otp_failure(false, other),
    }
}

/// The answer for a failed OTP check: `93xxx` for OTP_VERIFY, `13xxx` for PURCHASE.
pub(crate) fn otp_failure(at_purchase: bool, check: OtpCheck) -> Answer {
    let (wrong, exhausted, expired) = if at_purchase {
        ("13666", "13123", "13778")
    } else {
        ("93666", "93123", "93778")
    };
    match check {
        OtpCheck::Wrong { attempts_left } => Answer::new(wrong, "Invalid OTP").with("otp_attempts_left", attempts_left),
        OtpCheck::Exhausted => Answer::new(exhausted, "Maximum attempts exceeded"),
        OtpCheck::Expired | OtpCheck::Valid => Answer::new(expired, "OTP expired"),
    }
}

/// `installment_detail.plan_details`: one plan per tenure, fee `monthly_fee_bp` per month.
fn plans(order: &ApsOrder, monthly_fee_bp: i64) -> Vec<Value> {
    let principal = order.amount - order.down_payment;
    order
        .tenures
        .iter()
        .map(|&months| {
            let n = i64::from(months.max(1));
            let fees = principal * monthly_fee_bp * n / 10_000;
            let monthly = (principal + fees + n - 1) / n;
            json!({
                "number_of_installments": n.to_string(),
                "amount_per_month": monthly.to_string(),
                "fees_amount": fees.to_string(),
            })
        })
        .collect()
}
