use super::*;
use crate::domain::Currency;
use chrono::TimeZone;
use serde_json::json;

fn payment(provider: Provider, flow: Option<Flow>) -> PaymentEvent {
    PaymentEvent {
        envelope: Envelope {
            event_id: Uuid::nil(),
            event_type: EventType::PaymentSucceeded,
            schema_version: SCHEMA_VERSION,
            sequence: Some(4),
            occurred_at: Timestamp(Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()),
        },
        payment_id: "ord-1".into(),
        provider,
        account: "default".into(),
        flow,
        status: PaymentStatus::Succeeded,
        amount: Money::new(15000, Currency::GBP),
        action: None,
        provider_reference: Some("ref-1".into()),
        reason: None,
        metadata: json!({"order_ref": "1"}),
        resolution: None,
    }
}

#[test]
fn a_payment_event_has_its_keys_present_and_timestamps_in_milliseconds() {
    let value = serde_json::to_value(payment(Provider::Humm, Some(Flow::Gate))).unwrap();
    assert_eq!(value["type"], "payment.succeeded");
    assert_eq!(value["schema_version"], 1);
    assert_eq!(value["occurred_at"], "2026-11-23T10:00:00.000Z");
    assert_eq!(value["flow"], "gate");
    assert!(value.get("action").is_some_and(Value::is_null));
    assert!(value.get("reason").is_some_and(Value::is_null));
    assert!(
        value.get("from").is_none(),
        "no resolution fields outside payment.resolved"
    );
    let back: Event = serde_json::from_value(value).unwrap();
    assert!(matches!(back, Event::Payment(_)));
}

#[test]
fn valu_events_have_no_flow() {
    let value = serde_json::to_value(payment(Provider::Valu, None)).unwrap();
    assert!(value.get("flow").is_none(), "{value}");
}

#[test]
fn every_event_type_names_itself_and_maps_from_its_status() {
    for status in PaymentStatus::ALL {
        assert_eq!(
            EventType::of_payment(status).as_str(),
            format!("payment.{}", status.as_str())
        );
    }
    assert_eq!(EventType::of_refund(RefundStatus::InFlight), EventType::RefundSubmitted);
    for event_type in EventType::ALL {
        let json = serde_json::to_value(event_type).unwrap();
        assert_eq!(json, event_type.as_str());
    }
    assert_eq!(EventType::ALL.len(), 23);
}

#[test]
fn an_otp_action_and_a_reason_have_their_contract_shape() {
    let action = Action::Otp {
        plans: vec![Plan {
            tenure_months: 6,
            monthly_minor: 90_000,
            fees_minor: 40_000,
        }],
        attempts_left: 2,
        expires_at: Timestamp(Utc.with_ymd_and_hms(2026, 11, 23, 10, 5, 0).unwrap()),
    };
    let value = serde_json::to_value(&action).unwrap();
    assert_eq!(value["kind"], "otp");
    assert_eq!(value["expires_at"], "2026-11-23T10:05:00.000Z");
    let reason = Reason::from_provider("declined", "20000", "General decline");
    let value = serde_json::to_value(&reason).unwrap();
    assert_eq!(
        value,
        json!({"code": "declined", "message": "General decline",
                              "provider_code": "20000", "provider_message": "General decline"})
    );
}

#[test]
fn only_the_contracts_event_types_may_carry_a_reason() {
    let with_reason = [
        "payment.declined",
        "payment.failed",
        "payment.needs_review",
        "payment.resolved",
        "payment.action_required",
        "refund.declined",
        "refund.failed",
        "refund.needs_review",
        "command.rejected",
    ];
    for event_type in EventType::ALL {
        assert_eq!(
            event_type.may_carry_reason(),
            with_reason.contains(&event_type.as_str()),
            "{}",
            event_type.as_str()
        );
    }
}

#[test]
fn a_timestamp_is_described_as_milliseconds_utc_in_the_schema() {
    let schema = schemars::schema_for!(Timestamp);
    assert_eq!(schema.as_value()["format"], "date-time");
    let pattern = schema.as_value()["pattern"].as_str().unwrap_or_default().to_owned();
    assert!(pattern.ends_with("\\.[0-9]{3}Z$"), "{pattern}");
}

#[test]
fn the_stored_body_is_the_event_as_serialized() {
    let event = Event::Payment(Box::new(payment(Provider::Humm, Some(Flow::Gate))));
    let body = event.to_json();
    assert_eq!(body, serde_json::to_value(&event).unwrap());
    assert_eq!(body["payment_id"], "ord-1");
    let Event::Payment(payment) = &event else {
        unreachable!()
    };
    assert_eq!(
        body_json(payment.as_ref()),
        body,
        "a payment event stores the same body alone"
    );
}
