//! The APS table, case by case, including unknown values.

use super::*;

fn class(command: Command, code: &str) -> CodeClass {
    code_class(&command, &ResponseCode::parse(code).unwrap())
}

#[test]
fn response_codes_split_into_status_and_message() {
    let code = ResponseCode::parse("14000").unwrap();
    assert_eq!((code.status.as_str(), code.message.as_str()), ("14", "000"));
    assert_eq!(code.code(), "14000");
    for bad in ["", "1400", "140000", "14a00", "-1400", "１４０００"] {
        assert_eq!(ResponseCode::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn each_command_succeeds_only_on_its_own_status() {
    let cases = [
        (Command::CustomerVerify, "90000"),
        (Command::OtpGenerate, "88000"),
        (Command::OtpVerify, "92182"),
        (Command::Purchase, "14000"),
        (Command::Refund, "06000"),
        (Command::CheckStatus, "12000"),
    ];
    for (command, code) in cases.clone() {
        assert_eq!(class(command.clone(), code), CodeClass::Success, "{command:?} {code}");
    }
    // Another command's success code is not a success here.
    assert_eq!(class(Command::Purchase, "06000"), CodeClass::Uncertain);
    assert_eq!(class(Command::Refund, "14000"), CodeClass::Uncertain);
    assert_eq!(
        class(Command::Other("TOKENIZATION".into()), "18000"),
        CodeClass::Uncertain
    );
}

#[test]
fn uncertain_codes_lead_to_a_status_query() {
    for code in [
        "15777", "15778", "15781", "19000", "20064", "20000", "13777", "00006", "17006", "10000",
    ] {
        assert_eq!(class(Command::Purchase, code), CodeClass::Uncertain, "{code}");
    }
}

#[test]
fn duplicates_and_processing() {
    for code in ["00007", "00066", "00047"] {
        assert_eq!(class(Command::Purchase, code), CodeClass::Exists, "{code}");
    }
    assert_eq!(class(Command::Purchase, "00784"), CodeClass::Processing);
    assert_eq!(class(Command::CheckStatus, "12036"), CodeClass::NotFound);
    assert_eq!(class(Command::CheckStatus, "11036"), CodeClass::NotFound);
}

#[test]
fn definite_failures_are_terminal() {
    let cases = [
        (Command::Purchase, "13666"),
        (Command::Purchase, "00072"),
        (Command::Purchase, "00001"),
        (Command::Purchase, "00002"),
        (Command::Refund, "07000"),
        (Command::CustomerVerify, "00160"),
        (Command::CustomerVerify, "91000"),
        (Command::OtpGenerate, "89000"),
        (Command::OtpVerify, "93000"),
        (Command::OtpVerify, "93123"),
    ];
    for (command, code) in cases {
        assert_eq!(class(command.clone(), code), CodeClass::Terminal, "{command:?} {code}");
    }
}

#[test]
fn a_signature_mismatch_is_a_refusal_unread_never_a_decline() {
    for (command, code) in [
        (Command::Purchase, "00008"),
        (Command::Refund, "07008"),
        (Command::CheckStatus, "11008"),
        (Command::OtpGenerate, "89008"),
    ] {
        assert_eq!(class(command.clone(), code), CodeClass::Refused, "{command:?} {code}");
    }
}

#[test]
fn unknown_statuses_are_uncertain() {
    for code in ["99000", "42123", "01000", "88000"] {
        assert_eq!(class(Command::Purchase, code), CodeClass::Uncertain, "{code}");
    }
}

#[test]
fn commands_are_open() {
    for word in [
        "CUSTOMER_VERIFY",
        "OTP_GENERATE",
        "OTP_VERIFY",
        "PURCHASE",
        "REFUND",
        "CHECK_STATUS",
    ] {
        let command = Command::parse(word);
        assert!(!matches!(command, Command::Other(_)));
        assert_eq!(command.as_str(), word);
    }
    assert_eq!(
        Command::parse("VOID_AUTHORIZATION"),
        Command::Other("VOID_AUTHORIZATION".into())
    );
}

#[test]
fn check_status_is_decided_by_the_transaction() {
    use StateClass::*;
    let code = |c: &str| ResponseCode::parse(c);
    assert_eq!(transaction_class("14", code("14000").as_ref()), Succeeded);
    assert_eq!(transaction_class("", code("02000").as_ref()), Succeeded);
    assert_eq!(transaction_class("06", None), Succeeded);
    assert_eq!(transaction_class("13", code("13666").as_ref()), Declined);
    assert_eq!(transaction_class("00", None), Failed);
    for status in ["15", "19", "20", "10", "88", "92", "91", "", "77", "12"] {
        assert_eq!(transaction_class(status, None), Pending, "{status:?}");
    }
    // The code wins over a contradicting status word.
    assert_eq!(transaction_class("14", code("15777").as_ref()), Pending);
}
