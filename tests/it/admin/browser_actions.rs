//! An action from the dashboard in a real browser (issue 21): an operator with an `operate`
//! token sees the customer in full, opens an action from the payment's page, confirms it on the
//! confirmation step, and sees the result on the page it lands on.

use super::browser::{path_of, text_of, Driver};
use super::browser_signin::sign_in;
use super::{seed_payment, token, Seed};
use crate::helpers::*;
use fantoccini::Locator;

#[tokio::test]
async fn an_operator_resolves_a_payment_through_the_confirmation_step() {
    let driver = Driver::start().await;
    let mut app = spawn_app().await;
    let pool = app.db.pool().await;
    let operate = token(&pool, "dash-operator", &["operate"]).await;
    seed_payment(&pool, &Seed::new("ord-browser-act", "humm", "needs_review")).await;

    let browser = driver.browser().await;
    browser.goto(&app.url("/signin")).await.unwrap();
    sign_in(&browser, &operate).await;
    browser.wait().for_element(Locator::Id("viewer")).await.unwrap();
    browser.goto(&app.url("/payments/ord-browser-act")).await.unwrap();
    browser.wait().for_element(Locator::Id("history")).await.unwrap();
    // An operate token sees personal data in full (a read token sees it masked: browser.rs).
    let facts = text_of(&browser, "dl.facts").await;
    assert!(facts.contains("first name Jane"), "{facts}");
    assert!(!facts.contains("[masked"), "{facts}");

    // The button opens the confirmation step; nothing has changed yet.
    browser
        .find(Locator::Css("button.action-resolve"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.wait().for_element(Locator::Id("confirm-form")).await.unwrap();
    assert_eq!(path_of(&browser).await, "/actions/resolve");
    assert!(text_of(&browser, "#consequence").await.contains("ord-browser-act"));
    let status: String = sqlx::query_scalar("SELECT status FROM payments WHERE payment_id = 'ord-browser-act'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "needs_review");

    // Choose the final status, give the reason, confirm.
    browser
        .find(Locator::Css("#to option[value='declined']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .find(Locator::Id("reason"))
        .await
        .unwrap()
        .send_keys("the provider's report shows no payment")
        .await
        .unwrap();
    browser
        .find(Locator::Id("confirm"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // Back on the payment, with the notice, the new status and the resolution in its history.
    browser.wait().for_element(Locator::Id("action-done")).await.unwrap();
    assert_eq!(path_of(&browser).await, "/payments/ord-browser-act");
    assert_eq!(text_of(&browser, "#action-done").await, "Payment resolved.");
    assert_eq!(text_of(&browser, "#payment-status").await, "declined");
    let history = text_of(&browser, "#history").await;
    assert!(
        history.contains("needs_review → declined") && history.contains("the provider's report shows no payment"),
        "{history}"
    );
    assert!(history.contains("dash-operator"), "{history}");

    browser.close().await.unwrap();
    pool.close().await;
    app.stop().await.unwrap();
}
