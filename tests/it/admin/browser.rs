//! The dashboard in a real headless browser (Debian's chromium driven through chromedriver):
//! sign in with a token, read what a person sees on the overview, click through to a payment's
//! history, sign out. The browser and driver are not installed here: CI installs them
//! (`apt-get install chromium chromium-driver`), and the test fails loudly when they are missing.

use super::{seed_dead_letter, seed_payment, seed_refund, token, Seed};
use crate::helpers::*;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A chromedriver process on a free port, with a fresh browser profile; both cleaned up on drop.
pub(super) struct Driver {
    child: Child,
    port: u16,
    profile: PathBuf,
}

impl Driver {
    pub(super) async fn start() -> Driver {
        let binary = std::env::var("BNPL_CHROMEDRIVER").unwrap_or_else(|_| CHROMEDRIVER.to_owned());
        assert!(
            std::path::Path::new(&binary).exists(),
            "the dashboard browser test needs chromedriver at {binary} (Debian: apt-get install -y \
             chromium chromium-driver); it is part of the suite and does not skip"
        );
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(&binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("starting {binary}: {error}"));
        let profile = std::env::temp_dir().join(format!("bnpl-chromium-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&profile).unwrap();
        let driver = Driver { child, port, profile };
        let status = format!("http://127.0.0.1:{port}/status");
        eventually(Duration::from_secs(20), "chromedriver answers", || async {
            reqwest::get(&status).await.is_ok_and(|r| r.status().is_success())
        })
        .await;
        driver
    }

    pub(super) async fn browser(&self) -> Client {
        let chromium = std::env::var("BNPL_CHROMIUM").unwrap_or_else(|_| CHROMIUM.to_owned());
        assert!(
            std::path::Path::new(&chromium).exists(),
            "the browser test needs {chromium} (apt-get install -y chromium)"
        );
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1400,1000",
        ]
        .iter()
        .map(|a| (*a).to_owned())
        .chain([format!("--user-data-dir={}", self.profile.display())])
        .collect::<Vec<_>>();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), json!({ "binary": chromium, "args": args }));
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a chromium session through chromedriver")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

pub(super) async fn text_of(browser: &Client, css: &str) -> String {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

pub(super) async fn path_of(browser: &Client) -> String {
    browser.current_url().await.unwrap().path().to_owned()
}

#[tokio::test]
async fn an_operator_signs_in_and_reads_the_dashboard_in_a_real_browser() {
    let driver = Driver::start().await;
    let mut app = spawn_app().await;
    let pool = app.db.pool().await;
    let read = token(&pool, "dash-reader", &["read"]).await;
    seed_payment(&pool, &Seed::new("ord-review-1", "humm", "needs_review")).await;
    let mut flagged = Seed::new("ord-flag-4", "humm", "declined");
    flagged.review_reason = Some("success_after_close");
    seed_payment(&pool, &flagged).await;
    let mut late = Seed::new("ord-late-2", "valu", "pending");
    late.past_threshold = true;
    seed_payment(&pool, &late).await;
    seed_payment(&pool, &Seed::new("ord-ok-3", "humm", "succeeded")).await;
    seed_refund(&pool, "rf-stuck-1", "ord-ok-3", "in_flight", 5000).await;
    seed_refund(&pool, "rf-next-2", "ord-ok-3", "queued", 1000).await;
    seed_dead_letter(&pool, "purchase.create", b"{not json").await;
    seed_dead_letter(&pool, "purchase.explode", b"{}").await;
    // The breaker opened the humm account's circuit (the app's accounts are named `default`).
    sqlx::query(
        "INSERT INTO account_states (account_key, provider, account, state, reason, changed_by)
         VALUES ('humm:default', 'humm', 'default', 'open', '9 of 12 calls failed within 60 s', 'breaker')",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO audit_log (payment_id, kind, actor, from_status, to_status, reason)
                 VALUES ('ord-review-1', 'transition', 'status_check', 'pending', 'needs_review', 'no_definite_answer')")
        .execute(&pool).await.unwrap();
    super::seed_event(
        &pool,
        "payment.needs_review",
        "ord-review-1",
        3,
        json!({"status": "needs_review"}),
    )
    .await;

    let browser = driver.browser().await;
    browser.goto(&app.url("/")).await.unwrap();
    assert_eq!(path_of(&browser).await, "/signin", "the dashboard needs a sign-in");

    browser
        .find(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys("bnpl_not-a-real-token")
        .await
        .unwrap();
    browser
        .find(Locator::Id("signin"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.wait().for_element(Locator::Id("signin-error")).await.unwrap();
    assert!(text_of(&browser, "#signin-error").await.contains("not valid"));

    browser
        .find(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys(&read)
        .await
        .unwrap();
    browser
        .find(Locator::Id("signin"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .for_element(Locator::Id("needs-review-count"))
        .await
        .unwrap();
    assert_eq!(path_of(&browser).await, "/");
    assert_eq!(text_of(&browser, "#viewer").await, "dash-reader");

    // What a person sees: counts, the payments to review, the queues, the dead letters.
    assert_eq!(text_of(&browser, "#needs-review-count").await, "2");
    assert_eq!(text_of(&browser, "#past-threshold-count").await, "1");
    assert_eq!(text_of(&browser, "#dead-letter-count").await, "2");
    // Non-zero alarm counters stand out; a zero one does not (issue 21).
    let alarms = browser.find_all(Locator::Css(".card.alarm .value")).await.unwrap();
    let mut alarm_ids = Vec::new();
    for alarm in alarms {
        alarm_ids.push(alarm.attr("id").await.unwrap().unwrap_or_default());
    }
    alarm_ids.sort();
    assert_eq!(
        alarm_ids,
        ["dead-letter-count", "needs-review-count", "past-threshold-count"],
        "the exhausted-jobs counter is zero here"
    );
    assert_eq!(text_of(&browser, "#exhausted-count").await, "0");
    let alarm_color = browser
        .find(Locator::Css(".card.alarm .value"))
        .await
        .unwrap()
        .css_value("color")
        .await
        .unwrap();
    assert_eq!(alarm_color, "rgba(198, 40, 40, 1)", "alarm red");
    let review = text_of(&browser, "#review-payments").await;
    assert!(
        review.contains("ord-review-1") && review.contains("ord-flag-4") && review.contains("success_after_close"),
        "{review}"
    );
    assert!(!review.contains("ord-ok-3"));
    assert!(text_of(&browser, "#past-threshold").await.contains("ord-late-2"));
    assert_eq!(
        text_of(
            &browser,
            "#status-counts span[data-provider='humm'][data-status='needs_review']"
        )
        .await,
        "1"
    );
    assert_eq!(
        text_of(
            &browser,
            "#status-counts span[data-provider='humm'][data-status='succeeded']"
        )
        .await,
        "1"
    );
    let queues = text_of(&browser, "#refund-queues").await;
    assert!(
        queues.contains("rf-stuck-1") && queues.contains("in_flight"),
        "{queues}"
    );
    let accounts = text_of(&browser, "#provider-accounts").await;
    assert!(
        accounts.contains("open") && accounts.contains("9 of 12 calls failed"),
        "{accounts}"
    );
    let dead = text_of(&browser, "#dead-letters").await;
    assert!(dead.contains("purchase.explode") && dead.contains("invalid"));
    // A dead letter's page shows the message, masked for this read token (issue 21).
    browser
        .find(Locator::Css("#dead-letters a.dead-letter-link"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .for_element(Locator::Id("dead-letter-body"))
        .await
        .unwrap();
    assert_eq!(text_of(&browser, "#dead-letter-routing-key").await, "purchase.explode");
    assert_eq!(
        text_of(&browser, "#dead-letter-body").await,
        bnpl::admin::personal::MASKED
    );
    browser.back().await.unwrap();
    browser.wait().for_element(Locator::Id("dead-letters")).await.unwrap();
    assert!(text_of(&browser, "#broker-queues")
        .await
        .contains(&app.topology().purchases()));

    // The session is an HttpOnly, SameSite=Strict cookie that is not the token; not Secure here,
    // where BNPL_PUBLIC_URL is plain http (a browser drops a Secure cookie set over it).
    let cookie = browser.get_named_cookie("bnpl_session").await.unwrap();
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.secure(), Some(false));
    assert_eq!(format!("{:?}", cookie.same_site()), "Some(Strict)");
    assert_ne!(cookie.value(), read);
    let visible = browser.execute("return document.cookie;", vec![]).await.unwrap();
    assert!(
        !visible.as_str().unwrap_or_default().contains("bnpl_session"),
        "scripts cannot read it"
    );

    if let Ok(dir) = std::env::var("BNPL_SCREENSHOT_DIR") {
        std::fs::write(
            PathBuf::from(dir).join("dashboard-overview.png"),
            browser.screenshot().await.unwrap(),
        )
        .unwrap();
    }

    // Search by id: a payment id opens its page (issue 21).
    let search = browser.find(Locator::Css("#search input[name='q']")).await.unwrap();
    search.send_keys("ord-late-2").await.unwrap();
    browser
        .find(Locator::Css("#search button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.wait().for_element(Locator::Id("history")).await.unwrap();
    assert_eq!(path_of(&browser).await, "/payments/ord-late-2");
    // A refund id opens its payment's page at the refund.
    browser.goto(&app.url("/search?q=rf-next-2")).await.unwrap();
    browser
        .wait()
        .for_element(Locator::Id("refund-rf-next-2"))
        .await
        .unwrap();
    assert_eq!(path_of(&browser).await, "/payments/ord-ok-3");
    assert_eq!(text_of(&browser, "#refund-rf-next-2").await, "rf-next-2");
    browser.back().await.unwrap();
    browser.goto(&app.url("/search?q=no-such-id")).await.unwrap();
    assert!(text_of(&browser, "#search-empty").await.contains("no-such-id"));
    browser.back().await.unwrap();
    browser.back().await.unwrap();
    browser
        .wait()
        .for_element(Locator::Id("review-payments"))
        .await
        .unwrap();

    // Click through to the payment's history.
    browser
        .find(Locator::Css("#review-payments a[href='/payments/ord-review-1']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.wait().for_element(Locator::Id("history")).await.unwrap();
    assert_eq!(path_of(&browser).await, "/payments/ord-review-1");
    assert_eq!(text_of(&browser, "#payment-status").await, "needs_review");
    // Stored JSON reads as words, and a read token sees no personal data (issue 21).
    let facts = text_of(&browser, "dl.facts").await;
    assert!(
        facts.contains("id cust-42 · ") && facts.contains(" · first name [masked: needs operate or finance]"),
        "{facts}"
    );
    assert!(!facts.contains("Jane") && !facts.contains("{\""), "{facts}");
    let history = text_of(&browser, "#history").await;
    assert!(history.contains("payment.needs_review"), "{history}");
    assert!(
        history.contains("pending → needs_review") && history.contains("no_definite_answer"),
        "{history}"
    );
    if let Ok(dir) = std::env::var("BNPL_SCREENSHOT_DIR") {
        std::fs::write(
            PathBuf::from(dir).join("dashboard-payment.png"),
            browser.screenshot().await.unwrap(),
        )
        .unwrap();
    }

    // Signing out ends the session.
    browser
        .find(Locator::Css("#signout button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.wait().for_element(Locator::Id("token")).await.unwrap();
    browser.goto(&app.url("/")).await.unwrap();
    assert_eq!(path_of(&browser).await, "/signin");

    browser.close().await.unwrap();
    pool.close().await;
    app.stop().await.unwrap();
}
