//! A provider key rotated without a gap (issue 20), against the sandbox over HTTP: the operator
//! puts the new ecommpay key in the configuration file with the old one as `previous`, reloads
//! without a restart, and ecommpay switches keys while callbacks are in flight. None is refused;
//! once the previous key expires, a callback signed with it is.

use crate::admin::{post, token};
use crate::harness::*;
use bnpl::config::AccountTiming;
use serde_json::json;
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);
const NEW_SECRET: &str = "it-orchestrator-ecommpay-secret-2027";

/// The humm account's secrets as the operator writes them: `NEW_SECRET` current, the harness's
/// `SECRET` accepted until `until`.
fn write_rotated(file: &Path, until: chrono::DateTime<chrono::Utc>) {
    std::fs::write(
        file,
        format!(
            "[accounts.humm.default]\nproject_id = {PROJECT}\nsecret_key = \"{NEW_SECRET}\"\n\n\
             [accounts.humm.default.previous]\nsecret_key = \"{SECRET}\"\nuntil = \"{}\"\n",
            until.to_rfc3339()
        ),
    )
    .unwrap();
}

/// `bnpl_callback_secrets_total` for the humm account and `secret`.
fn secrets_counted(metrics: &str, secret: &str) -> f64 {
    metrics
        .lines()
        .filter(|line| line.starts_with("bnpl_callback_secrets_total{"))
        .filter(|line| line.contains("account=\"default\"") && line.contains(&format!("secret=\"{secret}\"")))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn a_key_rotated_while_callbacks_are_in_flight_refuses_none() {
    let dir = std::env::temp_dir().join(format!("bnpl-rotation-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bnpl.toml");
    let configured = file.clone();
    // Status checks far away: every result in this test comes from a callback.
    let mut env = spawn_sandboxed_configured(
        AccountTiming::default(),
        |_| {},
        move |config| {
            config.file = Some(configured);
        },
    )
    .await;
    let pool = env.app.db.pool().await;
    let operate = token(&pool, "key-rotator", &["operate"]).await;

    // Before: six sales registered and redirected, everything signed with the old key.
    let ids: Vec<String> = (0..6).map(|i| format!("rot-{i}")).collect();
    for id in &ids {
        env.publish("purchase.create", &humm_purchase(id, 15_000)).await;
    }
    for id in &ids {
        env.wait_for_event(id, "payment.action_required", WAIT).await;
    }

    // The operator rotates: new key current, old key accepted for an hour; no restart.
    write_rotated(&file, chrono::Utc::now() + chrono::Duration::hours(1));
    let (status, report) = post(&env.app, "/admin/v1/accounts/reload-secrets", &operate, json!({})).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["rotated"], json!(["humm.default"]));

    // Callbacks ecommpay signs with the old key until it switches (three customers finish), the
    // switch, then callbacks signed with the new key (three more) and new sales signed with it.
    for id in &ids[..3] {
        env.customer_finishes(id, "success").await;
    }
    let switched = env
        .http
        .post(env.sandbox.url(&format!("/sandbox/ecommpay/{PROJECT}/secret")))
        .json(&json!({ "secret_key": NEW_SECRET }))
        .send()
        .await
        .unwrap();
    assert_eq!(switched.status(), 204);
    for id in &ids[3..] {
        env.customer_finishes(id, "success").await;
    }
    env.publish("purchase.create", &humm_purchase("rot-after", 15_000))
        .await;
    env.wait_for_event("rot-after", "payment.action_required", WAIT).await;
    env.customer_finishes("rot-after", "success").await;
    for id in ids.iter().map(String::as_str).chain(["rot-after"]) {
        env.wait_for_event(id, "payment.succeeded", WAIT).await;
    }

    let refused: i64 = sqlx::query_scalar("SELECT count(*) FROM inbound_callbacks WHERE NOT verified")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(refused, 0, "no callback refused across the rotation");
    let metrics = env.app.metrics_text().await;
    assert!(secrets_counted(&metrics, "previous") >= 3.0, "{metrics}");
    // Six redirects before the reload, three results and a redirect and a result after the switch.
    assert!(secrets_counted(&metrics, "current") >= 11.0, "{metrics}");

    // The previous key expires: a callback still signed with it is refused.
    write_rotated(&file, chrono::Utc::now() - chrono::Duration::minutes(1));
    let (status, report) = post(&env.app, "/admin/v1/accounts/reload-secrets", &operate, json!({})).await;
    assert_eq!(status, 200, "{report}");
    let stale = ecommpay_sale_callback("rot-0", 15_000, "success", SECRET);
    assert_eq!(env.post_ecommpay_callback(&stale).await, 400);
    let fresh = ecommpay_sale_callback("rot-0", 15_000, "success", NEW_SECRET);
    assert_eq!(env.post_ecommpay_callback(&fresh).await, 200);

    // Another project under the same name is another account: not rotated, and said so.
    std::fs::write(
        &file,
        "[accounts.humm.default]\nproject_id = 4242\nsecret_key = \"someone-else\"\n",
    )
    .unwrap();
    let (status, report) = post(&env.app, "/admin/v1/accounts/reload-secrets", &operate, json!({})).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["rotated"], json!([]));
    assert_eq!(
        report["ignored"],
        json!(["humm.default (project_id changed: needs a restart)"])
    );
    assert_eq!(env.post_ecommpay_callback(&fresh).await, 200);

    // A file that does not parse changes nothing: the running keys stay.
    std::fs::write(&file, "[accounts.humm.default]\nproject_id = \"not a number\"\n").unwrap();
    let (status, body) = post(&env.app, "/admin/v1/accounts/reload-secrets", &operate, json!({})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(env.post_ecommpay_callback(&fresh).await, 200);

    std::fs::remove_dir_all(&dir).unwrap();
    pool.close().await;
}
