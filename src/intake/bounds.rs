//! The limits of contract §7 applied to each command body: one place that says how long, how
//! many and how large every field of every command may be.
//!
//! A breach is `invalid` with the field's JSON Pointer (dead-lettered, announced, never retried).
//! Limits that depend on configuration (a valU account's `max_amount_minor`) are checked where the
//! account is resolved (`flows::purchase_create::validate`), with the same pointer.

use super::confirm::Confirm;
use super::schema::CommandBody;
use crate::domain::limits::{self, FieldError, NAME_MAX};
use crate::domain::PaymentId;
use crate::flows::purchase_create::{Customer, Item, PurchaseCreate};
use crate::flows::refund_create::RefundCreate;

impl CommandBody for PurchaseCreate {
    fn check_limits(&self) -> Result<(), FieldError> {
        limits::text("/provider", &self.provider, NAME_MAX, false)?;
        limits::optional_text("/account", self.account.as_deref(), NAME_MAX, false)?;
        limits::optional_text("/flow", self.flow.as_deref(), NAME_MAX, false)?;
        limits::positive_amount("/amount/minor", self.amount.minor)?;
        if self.down_payment_minor < 0 {
            return Err(FieldError::new(
                "/down_payment_minor",
                format!("must be at least 0, got {}", self.down_payment_minor),
            ));
        }
        customer(&self.customer)?;
        items(&self.items)?;
        limits::optional_text(
            "/description",
            self.description.as_deref(),
            limits::DESCRIPTION_MAX,
            true,
        )?;
        if let Some(url) = &self.return_url {
            limits::return_url("/return_url", url)?;
        }
        if let Some(metadata) = &self.metadata {
            limits::metadata("/metadata", metadata)?;
        }
        Ok(())
    }
}

fn customer(customer: &Customer) -> Result<(), FieldError> {
    limits::optional_text("/customer/id", customer.id.as_deref(), NAME_MAX, false)?;
    limits::optional_text("/customer/first_name", customer.first_name.as_deref(), NAME_MAX, false)?;
    limits::optional_text("/customer/last_name", customer.last_name.as_deref(), NAME_MAX, false)?;
    limits::optional_text("/customer/phone", customer.phone.as_deref(), limits::PHONE_MAX, false)?;
    limits::optional_text("/customer/email", customer.email.as_deref(), limits::EMAIL_MAX, false)?;
    if let Some(ip) = customer.ip_address.as_deref().filter(|ip| !ip.is_empty()) {
        limits::text("/customer/ip_address", ip, limits::IP_MAX, false)?;
        ip.parse::<std::net::IpAddr>().map_err(|_| {
            FieldError::new(
                "/customer/ip_address",
                format!("not an IP address: {}", limits::quote(ip)),
            )
        })?;
    }
    Ok(())
}

/// Order lines: bounded in count, each named within limits, priced at zero or more, in whole
/// units, and their total computed by checked arithmetic (a wrapped total would misprice a plan).
fn items(items: &[Item]) -> Result<(), FieldError> {
    if items.len() > limits::ITEMS_MAX {
        return Err(FieldError::new(
            "/items",
            format!("at most {} items, got {}", limits::ITEMS_MAX, items.len()),
        ));
    }
    let mut total: i64 = 0;
    for (index, item) in items.iter().enumerate() {
        let at = |field: &str| format!("/items/{index}/{field}");
        limits::text(&at("name"), &item.name, NAME_MAX, false)?;
        limits::optional_text(&at("category"), item.category.as_deref(), NAME_MAX, false)?;
        if item.unit_price_minor < 0 {
            return Err(FieldError::new(
                at("unit_price_minor"),
                format!("must be at least 0, got {}", item.unit_price_minor),
            ));
        }
        if !(1..=limits::QUANTITY_MAX).contains(&item.quantity) {
            return Err(FieldError::new(
                at("quantity"),
                format!("must be 1 to {}, got {}", limits::QUANTITY_MAX, item.quantity),
            ));
        }
        total = item
            .unit_price_minor
            .checked_mul(item.quantity)
            .and_then(|line| total.checked_add(line))
            .ok_or_else(|| FieldError::new(at("unit_price_minor"), "the items' total overflows"))?;
    }
    Ok(())
}

impl CommandBody for RefundCreate {
    fn check_limits(&self) -> Result<(), FieldError> {
        PaymentId::new(self.payment_id.as_str()).map_err(|error| FieldError::new("/payment_id", error.to_string()))?;
        limits::positive_amount("/amount/minor", self.amount.minor)?;
        limits::optional_text("/reason", self.reason.as_deref(), limits::REASON_MAX, true)
    }
}

impl CommandBody for super::confirm::ResendOtp {
    fn check_limits(&self) -> Result<(), FieldError> {
        Ok(())
    }
}

impl CommandBody for super::refund::RefundCancel {
    fn check_limits(&self) -> Result<(), FieldError> {
        Ok(())
    }
}

impl CommandBody for Confirm {
    fn check_limits(&self) -> Result<(), FieldError> {
        limits::text("/otp", &self.otp, limits::OTP_MAX, false)?;
        if !(1..=limits::TENURE_MAX_MONTHS).contains(&self.tenure_months) {
            return Err(FieldError::new(
                "/tenure_months",
                format!("must be 1 to {}, got {}", limits::TENURE_MAX_MONTHS, self.tenure_months),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "bounds_tests.rs"]
mod tests;
