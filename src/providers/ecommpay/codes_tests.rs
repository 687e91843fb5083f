//! The ecommpay table, case by case, including unknown values.

use super::*;

#[test]
fn every_listed_code_has_its_class() {
    let cases = [
        ("0", CodeClass::Success),
        ("3041", CodeClass::Exists),
        ("3230", CodeClass::Exists),
        ("3062", CodeClass::Processing),
        ("2147", CodeClass::Processing),
        ("3285", CodeClass::RetryLater),
        ("314", CodeClass::RetryLater),
        ("601", CodeClass::RetryLater),
        ("602", CodeClass::RetryLater),
        ("3061", CodeClass::NotFound),
        ("501", CodeClass::Uncertain),
        ("100", CodeClass::Terminal),
        ("502", CodeClass::Terminal),
        ("603", CodeClass::Terminal),
        ("2003", CodeClass::Terminal),
        ("2004", CodeClass::Terminal),
        ("3060", CodeClass::Terminal),
        ("3261", CodeClass::Refused),
        ("3262", CodeClass::Refused),
        ("3283", CodeClass::Terminal),
    ];
    for (code, class) in cases {
        assert_eq!(code_class(code), class, "code {code}");
    }
}

#[test]
fn unknown_codes_are_uncertain_never_success() {
    for code in ["", "00", "20000", "9999", "abc", " 0x"] {
        assert_eq!(code_class(code), CodeClass::Uncertain, "code {code:?}");
    }
}

#[test]
fn payment_statuses_map_case_by_case() {
    use StateClass::*;
    let cases = [
        ("success", Succeeded),
        ("refunded", Succeeded),
        ("partially refunded", Succeeded),
        ("decline", Declined),
        ("canceled", Declined),
        ("cancelled", Declined),
        ("expired", Declined),
        ("error", Failed),
        ("internal error", Failed),
        ("awaiting 3ds result", ActionRequired),
        ("awaiting redirect result", ActionRequired),
        ("awaiting customer", ActionRequired),
        ("awaiting clarification", Pending),
        ("awaiting capture", Pending),
        ("processing", Pending),
        ("external processing", Pending),
        ("reversed", Pending),
        ("partially reversed", Pending),
    ];
    for (text, class) in cases {
        let status = PaymentStatus::parse(text);
        assert!(!matches!(status, PaymentStatus::Other(_)), "{text}");
        assert_eq!(status.class(), class, "{text}");
        if text != "cancelled" {
            assert_eq!(status.as_str(), text);
        }
    }
}

#[test]
fn unknown_payment_status_is_kept_and_pending() {
    for text in ["Success", "SUCCESS", "settled", "", "success "] {
        let status = PaymentStatus::parse(text);
        assert_eq!(status, PaymentStatus::Other(text.to_owned()));
        assert_eq!(status.as_str(), text);
        assert_eq!(status.class(), StateClass::Pending);
    }
}

#[test]
fn operation_statuses_map_case_by_case() {
    use StateClass::*;
    let cases = [
        ("success", Succeeded),
        ("decline", Declined),
        ("expired", Declined),
        ("error", Failed),
        ("internal error", Failed),
        ("awaiting 3ds result", ActionRequired),
        ("awaiting redirect result", ActionRequired),
        ("awaiting customer", ActionRequired),
        ("awaiting clarification", Pending),
        ("processing", Pending),
        ("external processing", Pending),
        ("brand new status", Pending),
    ];
    for (text, class) in cases {
        assert_eq!(OperationStatus::parse(text).class(), class, "{text}");
    }
}

#[test]
fn operation_types_are_open() {
    assert_eq!(OperationType::parse("sale"), OperationType::Sale);
    assert_eq!(OperationType::parse("refund"), OperationType::Refund);
    assert_eq!(
        OperationType::parse("payment confirmation"),
        OperationType::PaymentConfirmation
    );
    assert_eq!(OperationType::parse("reversal").as_str(), "reversal");
    assert_eq!(OperationType::parse("payout"), OperationType::Other("payout".into()));
}
