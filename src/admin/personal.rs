//! What a `read` token may not see (issue 21): the personal data that retention masks
//! (`store::retention`), namely the customer's names, phone numbers, emails and IP addresses, the
//! payment's free-text description, raw callback and command bodies, and the reasons about refused
//! commands, which may quote a refused value. `operate` and `finance` tokens see them in full:
//! they act on payments and may have to talk to the customer or the provider about them.
//!
//! Invariant: masking keeps the shape. The keys, the customer's merchant-side `id` (a
//! pseudonymous key, as retention keeps it) and the field a reason names stay, so a reader still
//! sees what exists, never its value. Callers mask right after reading, before anything renders.

use super::auth::{grants, Scope};
use super::read::dead_letters::DeadLetter;
use super::read::payments::PaymentDetail;
use serde_json::Value;

/// What a masked value reads.
pub const MASKED: &str = "[masked: needs operate or finance]";

/// Whether a token holding `scopes` sees personal data.
pub fn sees_personal_data(scopes: &[String]) -> bool {
    grants(scopes, Scope::Operate) || grants(scopes, Scope::Finance)
}

/// Masks the personal data of a payment's detail.
pub fn mask_payment(detail: &mut PaymentDetail) {
    mask_customer(&mut detail.customer);
    if detail.description.is_some() {
        detail.description = Some(MASKED.to_owned());
    }
    for callback in &mut detail.callbacks {
        if callback.body.is_some() {
            callback.body = Some(MASKED.to_owned());
        }
    }
}

/// Masks a dead letter's body (a command carries the customer) and its detail.
pub fn mask_dead_letter(dead: &mut DeadLetter) {
    if !dead.body.is_empty() {
        dead.body = MASKED.to_owned();
    }
    dead.detail = mask_reason(&dead.detail);
}

/// The customer with every value but its merchant-side `id` masked.
pub fn mask_customer(customer: &mut Value) {
    match customer {
        Value::Object(fields) => {
            for (key, value) in fields.iter_mut() {
                if key != "id" {
                    mask_leaves(value);
                }
            }
        }
        Value::Null => {}
        other => *other = Value::String(MASKED.to_owned()),
    }
}

fn mask_leaves(value: &mut Value) {
    match value {
        Value::Object(fields) => fields.values_mut().for_each(mask_leaves),
        Value::Array(items) => items.iter_mut().for_each(mask_leaves),
        Value::Null => {}
        leaf => *leaf = Value::String(MASKED.to_owned()),
    }
}

/// A reason keeps the field it is about (its text before the first `:`, a JSON Pointer for
/// intake's refusals), never the value it may quote.
pub fn mask_reason(text: &str) -> String {
    match text.split_once(':') {
        Some((field, _)) => format!("{field}: {MASKED}"),
        None if text.is_empty() => String::new(),
        None => MASKED.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_customer_keeps_its_id_and_shape_but_no_value() {
        let mut customer = json!({"id": "cust-42", "first_name": "Jane", "phone": "01012345678",
                                  "address": {"city": "Cairo"}, "tags": ["vip"], "middle_name": null});
        mask_customer(&mut customer);
        assert_eq!(
            customer,
            json!({"id": "cust-42", "first_name": MASKED, "phone": MASKED,
                   "address": {"city": MASKED}, "tags": [MASKED], "middle_name": null})
        );
    }

    #[test]
    fn a_reason_keeps_the_field_it_names() {
        assert_eq!(
            mask_reason("/customer/phone: too long: \"01012345678\""),
            format!("/customer/phone: {MASKED}")
        );
        assert_eq!(mask_reason("Jane Doe"), MASKED);
        assert_eq!(mask_reason(""), "");
    }

    #[test]
    fn only_operate_and_finance_see_personal_data() {
        let scopes = |names: &[&str]| names.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(!sees_personal_data(&scopes(&["read"])));
        assert!(sees_personal_data(&scopes(&["operate"])));
        assert!(sees_personal_data(&scopes(&["read", "finance"])));
    }
}
