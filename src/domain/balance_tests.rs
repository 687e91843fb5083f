//! Balance rules: which refund statuses count, currencies, zero and over-refunds.

use super::*;
use RefundStatus as R;

const GBP: Currency = Currency::GBP;

fn gbp(minor: i64) -> Money {
    Money::new(minor, GBP)
}

fn refund(status: RefundStatus, minor: i64) -> ExistingRefund {
    ExistingRefund {
        status,
        amount: gbp(minor),
        flagged: false,
    }
}

#[test]
fn nothing_refunded_leaves_the_whole_capture() {
    assert_eq!(refundable_remainder(gbp(10000), &[]), Ok(gbp(10000)));
    assert_eq!(check_refund(gbp(10000), &[], gbp(10000)), Ok(()));
}

#[test]
fn each_status_counts_exactly_as_the_status_says() {
    for status in R::ALL {
        let remainder = refundable_remainder(gbp(10000), &[refund(status, 3000)]).unwrap();
        let expected = if status.counts_against_balance() { 7000 } else { 10000 };
        assert_eq!(remainder, gbp(expected), "{status:?}");
    }
}

#[test]
fn needs_review_counts_declined_and_cancelled_do_not() {
    let existing = [
        refund(R::NeedsReview, 4000),
        refund(R::Declined, 5000),
        refund(R::Cancelled, 5000),
        refund(R::Failed, 5000),
        refund(R::Succeeded, 1000),
        refund(R::Queued, 1000),
        refund(R::InFlight, 1000),
    ];
    assert_eq!(counted_total(GBP, &existing), Ok(gbp(7000)));
    assert_eq!(succeeded_total(GBP, &existing), Ok(gbp(1000)));
    assert_eq!(refundable_remainder(gbp(10000), &existing), Ok(gbp(3000)));
    assert_eq!(check_refund(gbp(10000), &existing, gbp(3000)), Ok(()));
    assert_eq!(
        check_refund(gbp(10000), &existing, gbp(3001)),
        Err(BalanceError::OverRefund {
            requested: gbp(3001),
            remaining: gbp(3000)
        })
    );
}

#[test]
fn over_refund_of_a_fully_refunded_payment() {
    let existing = [refund(R::Succeeded, 10000)];
    let err = check_refund(gbp(10000), &existing, gbp(1)).unwrap_err();
    assert_eq!(err.code(), "over_refund");
}

#[test]
fn zero_and_negative_amounts_are_refused() {
    for minor in [0, -1] {
        assert_eq!(
            check_refund(gbp(10000), &[], gbp(minor)),
            Err(BalanceError::NotPositive { requested: gbp(minor) })
        );
    }
}

#[test]
fn currency_mismatch_is_refused() {
    let egp = Money::new(100, Currency::EGP);
    assert_eq!(
        check_refund(gbp(10000), &[], egp),
        Err(BalanceError::CurrencyMismatch {
            expected: GBP,
            found: Currency::EGP
        })
    );
    // A stored refund in another currency is corrupt data, even one that would not count.
    let stored = [ExistingRefund {
        status: R::Declined,
        amount: egp,
        flagged: false,
    }];
    assert!(matches!(
        refundable_remainder(gbp(10000), &stored),
        Err(BalanceError::CurrencyMismatch { .. })
    ));
    assert_eq!(check_refund(gbp(10000), &stored, gbp(1)).unwrap_err().code(), "invalid");
}

#[test]
fn overflowing_sums_are_an_error_not_a_wrap() {
    let existing = [refund(R::Succeeded, i64::MAX), refund(R::Queued, 1)];
    assert_eq!(refundable_remainder(gbp(10000), &existing), Err(BalanceError::Overflow));
}

/// A declined refund the provider later reported succeeded (flagged, still `declined`) counts:
/// its money may have left, so the capture cannot be refunded over it again.
#[test]
fn a_closed_refund_flagged_for_review_counts() {
    let flagged = ExistingRefund {
        flagged: true,
        ..refund(R::Declined, 10000)
    };
    assert_eq!(refundable_remainder(gbp(10000), &[flagged]).unwrap(), gbp(0));
    assert_eq!(
        check_refund(gbp(10000), &[flagged], gbp(1)).unwrap_err().code(),
        "over_refund"
    );
    assert_eq!(
        succeeded_total(GBP, &[flagged]).unwrap(),
        gbp(0),
        "not made by the provider as far as we know"
    );
    assert_eq!(
        refundable_remainder(gbp(10000), &[refund(R::Declined, 10000)]).unwrap(),
        gbp(10000)
    );
}
