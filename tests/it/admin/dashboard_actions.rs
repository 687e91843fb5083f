//! The dashboard's actions (issue 21) over plain HTTP against the real server: an action is
//! carried out only when it is posted from this dashboard, with the session's CSRF token, by a
//! token holding the action's scope; buttons show only for that scope.

use super::holes::sign_in_with;
use super::{seed_dead_letter, seed_payment, seed_refund, token, Seed};
use crate::helpers::*;
use bnpl::admin::dashboard::csrf::CsrfToken;
use sqlx::PgPool;

/// A signed-in dashboard client: its session cookie (`bnpl_session=…`).
pub(crate) struct Session {
    cookie: String,
    client: reqwest::Client,
}

impl Session {
    pub(crate) async fn open(app: &TestApp, token: &str) -> Session {
        let response = sign_in_with(app, token, Some(&own_origin(app))).await;
        assert_eq!(response.status(), 303);
        let cookie = response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Session { cookie, client }
    }

    fn id(&self) -> &str {
        self.cookie.split_once('=').unwrap().1
    }

    pub(crate) async fn page(&self, app: &TestApp, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(app.url(path))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// The CSRF token in an action's confirmation page.
    async fn csrf_from(&self, app: &TestApp, path: &str) -> String {
        let (status, page) = self.page(app, path).await;
        assert_eq!(status, 200, "{page}");
        let marker = "name=\"csrf\" value=\"";
        let start = page.find(marker).unwrap_or_else(|| panic!("no csrf field in {page}")) + marker.len();
        page[start..start + page[start..].find('"').unwrap()].to_owned()
    }

    /// Posts an action's form; returns the status and the `Location` (or the page's text).
    async fn post(
        &self,
        app: &TestApp,
        slug: &str,
        origin: Option<&str>,
        form: &(impl serde::Serialize + ?Sized),
    ) -> (u16, String) {
        let mut request = self
            .client
            .post(app.url(&format!("/actions/{slug}")))
            .header("cookie", &self.cookie)
            .form(form);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        match response.headers().get("location") {
            Some(location) => (status, location.to_str().unwrap().to_owned()),
            None => (status, response.text().await.unwrap()),
        }
    }
}

fn own_origin(app: &TestApp) -> String {
    format!("http://{}", app.addr)
}

async fn payment_status(pool: &PgPool, payment_id: &str) -> String {
    sqlx::query_scalar("SELECT status FROM payments WHERE payment_id = $1")
        .bind(payment_id)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn refund_status(pool: &PgPool, refund_id: &str) -> String {
    sqlx::query_scalar("SELECT status FROM refunds WHERE refund_id = $1")
        .bind(refund_id)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_action_needs_this_dashboards_origin_the_sessions_csrf_token_and_the_scope() {
    let mut app = spawn_app().await;
    let pool = app.db.pool().await;
    let operate = token(&pool, "dash-operator", &["operate"]).await;
    let read = token(&pool, "dash-reader", &["read"]).await;
    seed_payment(&pool, &Seed::new("ord-act-1", "humm", "needs_review")).await;
    let own = own_origin(&app);
    let operator = Session::open(&app, &operate).await;

    // The payment page offers the action; the button only opens the confirmation step.
    let (status, page) = operator.page(&app, "/payments/ord-act-1").await;
    assert_eq!(status, 200);
    assert!(page.contains("action-resolve"), "{page}");
    let csrf = operator.csrf_from(&app, "/actions/resolve?target=ord-act-1").await;
    assert_eq!(
        payment_status(&pool, "ord-act-1").await,
        "needs_review",
        "confirming is a separate step"
    );

    let form = |csrf: &str| {
        vec![
            ("target", "ord-act-1".to_owned()),
            ("to", "succeeded".to_owned()),
            ("reason", "customer's bank confirmed the payment".to_owned()),
            ("csrf", csrf.to_owned()),
        ]
    };

    // Without the CSRF token: refused, nothing changes.
    let without: Vec<_> = form("").into_iter().filter(|(name, _)| *name != "csrf").collect();
    let (status, page) = operator.post(&app, "resolve", Some(&own), &without).await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("security token"), "{page}");
    // Another session's token is not this one's.
    let other = Session::open(&app, &operate).await;
    let others = CsrfToken::of_session(other.id());
    let (status, _) = operator.post(&app, "resolve", Some(&own), &form(others.as_str())).await;
    assert_eq!(status, 403);
    // The right token, posted from another site (or with no Origin at all): refused.
    let (status, page) = operator
        .post(&app, "resolve", Some("https://evil.example"), &form(&csrf))
        .await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("not posted from this dashboard"), "{page}");
    let (status, _) = operator.post(&app, "resolve", None, &form(&csrf)).await;
    assert_eq!(status, 403);
    assert_eq!(payment_status(&pool, "ord-act-1").await, "needs_review");

    // A read token sees no button, gets no confirmation page, and its post is refused for scope
    // even with its own valid CSRF token.
    let reader = Session::open(&app, &read).await;
    let (_, page) = reader.page(&app, "/payments/ord-act-1").await;
    assert!(!page.contains("action-resolve"), "{page}");
    let (status, _) = reader.page(&app, "/actions/resolve?target=ord-act-1").await;
    assert_eq!(status, 403);
    let readers = CsrfToken::of_session(reader.id());
    let (status, page) = reader.post(&app, "resolve", Some(&own), &form(readers.as_str())).await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("operate scope"), "{page}");
    assert_eq!(payment_status(&pool, "ord-act-1").await, "needs_review");

    // All three locks open: carried out, audited under the operator's token, and the operator
    // lands on the payment with the notice.
    let (status, location) = operator.post(&app, "resolve", Some(&own), &form(&csrf)).await;
    assert_eq!((status, location.as_str()), (303, "/payments/ord-act-1?done=resolve"));
    assert_eq!(payment_status(&pool, "ord-act-1").await, "succeeded");
    let actor: String =
        sqlx::query_scalar("SELECT actor FROM audit_log WHERE payment_id = 'ord-act-1' AND to_status = 'succeeded'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(actor, "dash-operator");
    let (_, page) = operator.page(&app, &location).await;
    assert!(page.contains("id=\"action-done\">Payment resolved."), "{page}");
    // A refusal by the domain is shown with the API's words, not as a crash.
    let (status, page) = operator.post(&app, "resolve", Some(&own), &form(&csrf)).await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("Not done:"), "{page}");

    pool.close().await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn cancelling_a_refund_is_finances_and_dead_letters_and_accounts_are_operates() {
    let mut app = spawn_app().await;
    let pool = app.db.pool().await;
    let operate = token(&pool, "dash-operator", &["operate"]).await;
    let finance = token(&pool, "dash-finance", &["finance"]).await;
    seed_payment(&pool, &Seed::new("ord-act-2", "humm", "succeeded")).await;
    seed_refund(&pool, "rf-act-1", "ord-act-2", "in_flight", 1000).await;
    seed_refund(&pool, "rf-act-2", "ord-act-2", "queued", 2000).await;
    let letter = seed_dead_letter(&pool, "purchase.create", b"{not json").await;
    let own = own_origin(&app);
    let operator = Session::open(&app, &operate).await;
    let finance = Session::open(&app, &finance).await;

    // The refunds page lists both, with the actions their statuses allow, for the viewer's scopes.
    let (status, page) = operator.page(&app, "/refunds").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("id=\"refund-rf-act-1\"") && page.contains("id=\"refund-rf-act-2\""),
        "{page}"
    );
    assert!(
        page.contains("action-refund-release") && !page.contains("action-refund-cancel"),
        "{page}"
    );
    let (_, page) = finance.page(&app, "/refunds?status=queued").await;
    assert!(
        page.contains("action-refund-cancel") && !page.contains("rf-act-1"),
        "{page}"
    );

    let operators = operator.csrf_from(&app, "/actions/dead-letter-purge?target=1").await;
    let (status, _) = operator
        .post(
            &app,
            "refund-cancel",
            Some(&own),
            &[("target", "rf-act-2"), ("reason", "duplicate"), ("csrf", &operators)],
        )
        .await;
    assert_eq!(status, 403, "operate alone cannot cancel a refund");
    let finances = finance.csrf_from(&app, "/actions/refund-cancel?target=rf-act-2").await;
    let (status, location) = finance
        .post(
            &app,
            "refund-cancel",
            Some(&own),
            &[("target", "rf-act-2"), ("reason", "duplicate"), ("csrf", &finances)],
        )
        .await;
    assert_eq!(
        (status, location.as_str()),
        (303, "/payments/ord-act-2?done=refund-cancel#refund-rf-act-2")
    );
    assert_eq!(refund_status(&pool, "rf-act-2").await, "cancelled");

    // A release without evidence is refused with the API's reason.
    let (status, page) = operator
        .post(
            &app,
            "refund-release",
            Some(&own),
            &[
                ("target", "rf-act-1"),
                ("outcome", "succeeded"),
                ("reason", "looks done"),
                ("csrf", &operators),
            ],
        )
        .await;
    assert_eq!(status, 409, "{page}");
    assert!(page.contains("answer_id"), "{page}");
    assert_eq!(refund_status(&pool, "rf-act-1").await, "in_flight");

    // Replay a dead letter unchanged (it is checked again as a fresh command), purge another;
    // pause the account.
    let replayed_letter = seed_dead_letter(&pool, "refund.cancel", br#"{"refund_id": "rf-nowhere"}"#).await;
    let target = replayed_letter.to_string();
    let (status, location) = operator
        .post(
            &app,
            "dead-letter-replay",
            Some(&own),
            &[("target", target.as_str()), ("csrf", &operators)],
        )
        .await;
    assert_eq!(
        (status, location),
        (303, format!("/dead-letters/{replayed_letter}?done=dead-letter-replay"))
    );
    let replayed: bool = sqlx::query_scalar("SELECT replayed_at IS NOT NULL FROM dead_letters WHERE id = $1")
        .bind(replayed_letter)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(replayed);
    let target = letter.to_string();
    let (status, location) = operator
        .post(
            &app,
            "dead-letter-purge",
            Some(&own),
            &[("target", &target), ("csrf", &operators)],
        )
        .await;
    assert_eq!(
        (status, location),
        (303, format!("/dead-letters/{letter}?done=dead-letter-purge"))
    );
    let purged: bool = sqlx::query_scalar("SELECT purged_at IS NOT NULL FROM dead_letters WHERE id = $1")
        .bind(letter)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(purged);
    let (status, location) = operator
        .post(
            &app,
            "account-pause",
            Some(&own),
            &[
                ("target", "humm/default"),
                ("reason", "provider incident"),
                ("csrf", &operators),
            ],
        )
        .await;
    assert_eq!((status, location.as_str()), (303, "/?done=account-pause"));
    let (_, page) = operator.page(&app, &location).await;
    assert!(
        page.contains("Account paused.") && page.contains("action-account-resume"),
        "{page}"
    );
    let state: String = sqlx::query_scalar("SELECT state FROM account_states WHERE account_key = 'humm:default'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(state, "paused");

    pool.close().await;
    app.stop().await.unwrap();
}

/// The evidence path from the dashboard, against the sandbox over HTTP: ask the provider about a
/// stuck refund head, then release it on the stored answer the page shows.
#[tokio::test]
async fn an_operator_asks_the_provider_and_releases_a_stuck_head_on_its_answer() {
    use crate::harness::*;
    use std::time::Duration;
    let wait = Duration::from_secs(30);
    // Long base and refund thresholds: the service's own checks stay out of the operator's way.
    let mut timing = fast_timing();
    timing.base_time = Duration::from_secs(120);
    timing.status_check_schedule = vec![Duration::from_secs(120)];
    timing.refund_threshold = Duration::from_secs(240);
    let mut env = spawn_sandboxed(timing, |config| {
        config.auto_customer.enabled = true;
        config.auto_customer.success_ratio = 1.0;
        config.auto_customer.delay_secs = 0.0;
    })
    .await;
    let pool = env.app.db.pool().await;
    let operate = token(&pool, "dash-operator", &["operate"]).await;
    env.publish("purchase.create", &humm_purchase("dash-pay", 10_000)).await;
    env.wait_for_event("dash-pay", "payment.succeeded", wait).await;
    // The refund's callback is lost: it stays in flight with us after the provider made it.
    let refund = "dash-rf-fault-lost-callback";
    env.publish(
        "refund.create",
        &serde_json::json!({"refund_id": refund, "payment_id": "dash-pay",
                "amount": {"minor": 2500, "currency": "GBP"}}),
    )
    .await;
    env.wait_for_event("dash-pay", "refund.submitted", wait).await;
    let own = own_origin(&env.app);
    let operator = Session::open(&env.app, &operate).await;
    let csrf = operator
        .csrf_from(&env.app, &format!("/actions/refund-ask?target={refund}"))
        .await;

    // Ask until the provider has made it; the answer page offers the release on that answer.
    let deadline = tokio::time::Instant::now() + wait;
    let page = loop {
        let (status, page) = operator
            .post(
                &env.app,
                "refund-ask",
                Some(&own),
                &[("target", refund), ("csrf", &csrf)],
            )
            .await;
        assert_eq!(status, 200, "{page}");
        if page.contains("id=\"answer-supports\">succeeded") {
            break page;
        }
        assert!(tokio::time::Instant::now() < deadline, "never made: {page}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(
        page.contains("data-answer-to-post"),
        "a reload must not ask again: {page}"
    );
    let marker = "name=\"answer_id\" value=\"";
    let start = page.find(marker).expect("a release offered on the answer") + marker.len();
    let answer_id = page[start..start + page[start..].find('"').unwrap()].to_owned();

    let (status, location) = operator
        .post(
            &env.app,
            "refund-release",
            Some(&own),
            &[
                ("target", refund),
                ("outcome", "succeeded"),
                ("answer_id", answer_id.as_str()),
                ("reason", "the provider's answer shows it made"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(status, 303, "{location}");
    assert_eq!(
        location,
        format!("/payments/dash-pay?done=refund-release#refund-{refund}")
    );
    assert_eq!(refund_status(&pool, refund).await, "succeeded");
    pool.close().await;
}

/// An action's target is checked like a path id on the API: one that could never be ours (a NUL
/// fails the query) is no such payment or refund (404), never a 500.
#[tokio::test]
async fn an_action_on_an_id_that_could_never_be_ours_is_not_found() {
    let mut app = spawn_app().await;
    let pool = app.db.pool().await;
    let operate = token(&pool, "dash-nul", &["read", "operate", "finance"]).await;
    let own = own_origin(&app);
    let operator = Session::open(&app, &operate).await;
    let csrf = CsrfToken::of_session(operator.id());
    for slug in ["status-check", "replay-events", "refund-ask", "refund-cancel"] {
        let form = [("target", "ord\u{0}x"), ("reason", "checked"), ("csrf", csrf.as_str())];
        let (status, page) = operator.post(&app, slug, Some(&own), &form[..]).await;
        assert_eq!(status, 404, "{slug}: {page}");
    }
    app.stop().await.unwrap();
}
