//! Sign-in holes, in a real browser (issue 13): another site cannot sign an operator in (login
//! CSRF), and on a plain-HTTP deployment the session cookie is kept, or, when it cannot be, the
//! page says why instead of looping back to the sign-in form.

use super::browser::{path_of, text_of, Driver};
use super::token;
use crate::helpers::*;
use fantoccini::{Client, Locator};
use std::net::{IpAddr, UdpSocket};

/// This machine's address on its network (not loopback, which browsers treat as secure): where a
/// deployment on plain HTTP would be reached. Found by routing a (never sent) datagram.
fn network_address() -> IpAddr {
    let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
    socket.connect("192.0.2.1:9").unwrap();
    let address = socket.local_addr().unwrap().ip();
    assert!(
        !address.is_loopback() && !address.is_unspecified(),
        "this test needs a non-loopback address; found {address}"
    );
    address
}

pub(super) async fn sign_in(browser: &Client, token: &str) {
    browser
        .find(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys(token)
        .await
        .unwrap();
    browser
        .find(Locator::Id("signin"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

#[tokio::test]
async fn another_site_cannot_sign_a_browser_in() {
    let driver = Driver::start().await;
    let mut app = spawn_app().await;
    let pool = app.db.pool().await;
    let read = token(&pool, "victim-of-csrf", &["read"]).await;
    // A page on another origin that posts a (valid) token to the dashboard's sign-in at once.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let evil = listener.local_addr().unwrap();
    let page = format!(
        "<form id=\"f\" method=\"post\" action=\"{}\"><input name=\"token\" value=\"{read}\"></form>\
         <script>document.getElementById('f').submit()</script>",
        app.url("/signin")
    );
    let server = tokio::spawn(async move {
        let router = axum::Router::new().route(
            "/",
            axum::routing::get(move || async move { axum::response::Html(page) }),
        );
        axum::serve(listener, router).await.unwrap();
    });
    let browser = driver.browser().await;
    browser.goto(&format!("http://{evil}/")).await.unwrap();
    browser.wait().for_element(Locator::Id("signin-error")).await.unwrap();
    assert!(text_of(&browser, "#signin-error").await.contains("refused"));
    browser.goto(&app.url("/")).await.unwrap();
    assert_eq!(path_of(&browser).await, "/signin", "no session was opened");
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM admin_sessions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(sessions, 0);
    // The dashboard's own form still signs in.
    sign_in(&browser, &read).await;
    browser
        .wait()
        .for_element(Locator::Id("needs-review-count"))
        .await
        .unwrap();
    let _ = browser.close().await;
    server.abort();
    app.stop().await.unwrap();
}

#[tokio::test]
async fn on_plain_http_the_cookie_is_kept_or_the_page_says_why() {
    let driver = Driver::start().await;
    let address = network_address();
    let bind = format!("{address}:0");

    // BNPL_PUBLIC_URL http: the cookie is not Secure, and the browser keeps it.
    let db = TestDb::create().await;
    let prefix = TestPrefix::new();
    let config = test_config(&db, &prefix, &[("BNPL_HTTP_ADDR", bind.as_str())]);
    let mut app = spawn_app_with(db, prefix, config).await;
    let pool = app.db.pool().await;
    let read = token(&pool, "plain-http", &["read"]).await;
    let browser = driver.browser().await;
    browser.goto(&app.url("/")).await.unwrap();
    assert_eq!(path_of(&browser).await, "/signin");
    sign_in(&browser, &read).await;
    browser
        .wait()
        .for_element(Locator::Id("needs-review-count"))
        .await
        .unwrap();
    assert_eq!(path_of(&browser).await, "/", "signed in, no loop");
    let _ = browser.close().await;
    app.stop().await.unwrap();

    // A Secure cookie forced on plain HTTP: the browser drops it, and the page says so.
    let db = TestDb::create().await;
    let prefix = TestPrefix::new();
    let mut config = test_config(&db, &prefix, &[("BNPL_HTTP_ADDR", bind.as_str())]);
    config.http.secure_cookie = Some(true);
    let mut app = spawn_app_with(db, prefix, config).await;
    let pool = app.db.pool().await;
    let read = token(&pool, "forced-secure", &["read"]).await;
    let browser = driver.browser().await;
    browser.goto(&app.url("/signin")).await.unwrap();
    sign_in(&browser, &read).await;
    if browser.wait().for_element(Locator::Id("signin-error")).await.is_err() {
        panic!(
            "at {:?}: {}",
            browser.current_url().await,
            browser.source().await.unwrap_or_default()
        );
    }
    let error = text_of(&browser, "#signin-error").await;
    assert!(
        error.contains("did not keep the session cookie") && error.contains("HTTPS"),
        "{error}"
    );
    let _ = browser.close().await;
    app.stop().await.unwrap();
}
