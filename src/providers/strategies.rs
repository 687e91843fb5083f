//! proptest strategies shared by the provider property tests: arbitrary JSON whose keys mix the
//! providers' own field names (so parsers get past their first checks) with random ones, and
//! numbers built from raw text (big integers, decimals) as `arbitrary_precision` keeps them.

use proptest::prelude::*;
use serde_json::{Map, Value};

/// Field names the parsers look for, plus a few that matter to signatures.
const VOCABULARY: &[&str] = &[
    "payment",
    "operation",
    "operations",
    "id",
    "status",
    "type",
    "sum",
    "amount",
    "currency",
    "sum_initial",
    "code",
    "message",
    "request_id",
    "redirect_data",
    "url",
    "method",
    "body",
    "provider",
    "payment_id",
    "general",
    "signature",
    "frame_mode",
    "errors",
    "project_id",
    "response_code",
    "response_message",
    "merchant_reference",
    "command",
    "service_command",
    "transaction_code",
    "transaction_status",
    "refunded_amount",
    "fort_id",
    "installment_detail",
    "plan_details",
    "number_of_installments",
    "amount_per_month",
    "fees_amount",
    "tenure",
    "maintenance_reference",
    "products",
    "a:b",
];

/// A key: from the vocabulary or random (including `:` and non-ASCII).
pub fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(VOCABULARY).prop_map(str::to_owned),
        1 => "[a-zA-Z_:é]{1,8}",
    ]
}

/// A JSON number from its text, as the wire would carry it.
pub fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        (0u64..10_000, 0u32..1000).prop_map(|(a, b)| format!("{a}.{b}")),
        "[1-9][0-9]{15,25}",
        Just("1e3".to_owned()),
    ]
    .prop_filter_map("valid JSON number", |text| serde_json::from_str::<Value>(&text).ok())
}

/// A scalar leaf.
pub fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        "\\PC{0,12}".prop_map(Value::String),
        proptest::sample::select(&["0", "14000", "12036", "success", "sale", "refund", "GBP", "EGP", "3061"][..])
            .prop_map(|s| Value::String(s.to_owned())),
    ]
}

/// Any JSON value, up to a few levels deep.
pub fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::vec((key(), inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A JSON object (what providers sign and send).
pub fn json_object() -> impl Strategy<Value = Map<String, Value>> {
    proptest::collection::vec((key(), json()), 0..8).prop_map(|entries| entries.into_iter().collect())
}
