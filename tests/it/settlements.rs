//! Settlement import (issue 20), the whole loop against the sandbox over HTTP: payments and a
//! refund go through the provider, the sandbox exports its operations in the ecommpay mapping,
//! finance imports the file: a clean month shows no mismatch, the same file again is a duplicate,
//! a month with one doctored row shows exactly that one, and a file the mapping does not describe
//! is refused naming the differences.

use crate::admin::token;
use crate::harness::*;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

async fn import(env: &Sandboxed, token: &str, csv: &str) -> (u16, Value) {
    let response = env
        .app
        .http
        .post(
            env.app
                .url("/admin/v1/settlements?provider=humm&account=default&file_name=november.csv"),
        )
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(csv.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn mismatches(env: &Sandboxed, token: &str, id: &Value) -> Value {
    env.app
        .http
        .get(env.app.url(&format!("/admin/v1/settlements/{id}/mismatches")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_clean_month_has_no_mismatch_and_a_doctored_row_exactly_one() {
    let mut env = spawn_sandboxed(fast_timing(), |sandbox| {
        sandbox.auto_customer.enabled = true;
        sandbox.auto_customer.success_ratio = 1.0;
        sandbox.auto_customer.delay_secs = 0.0;
    })
    .await;
    let pool = env.app.db.pool().await;
    let finance = token(&pool, "finance-desk", &["finance"]).await;
    for (id, amount) in [("st-1", 10_000), ("st-2", 4_550)] {
        env.publish("purchase.create", &humm_purchase(id, amount)).await;
    }
    for id in ["st-1", "st-2"] {
        env.wait_for_event(id, "payment.succeeded", WAIT).await;
    }
    env.publish(
        "refund.create",
        &json!({"refund_id": "st-rf-1", "payment_id": "st-1", "amount": {"minor": 2500, "currency": "GBP"}}),
    )
    .await;
    env.wait_for_event("st-1", "refund.succeeded", WAIT).await;

    let report = env
        .http
        .get(env.sandbox.url(&format!("/sandbox/ecommpay/{PROJECT}/operations.csv")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(report.lines().count(), 4, "header, two sales, one refund:\n{report}");

    let (status, clean) = import(&env, &finance, &report).await;
    assert_eq!(status, 201, "{clean}");
    assert_eq!(clean["row_count"], 3);
    assert_eq!(clean["mismatch_count"], 0, "{clean}");
    assert_eq!(mismatches(&env, &finance, &clean["id"]).await, json!([]));
    let (status, again) = import(&env, &finance, &report).await;
    assert_eq!(status, 200);
    assert_eq!(
        (again["duplicate"].clone(), again["id"].clone()),
        (json!(true), clean["id"].clone())
    );

    // One doctored row: the second sale's amount.
    let doctored = report.replace(",45.50,", ",45.51,");
    assert_ne!(doctored, report);
    let (status, summary) = import(&env, &finance, &doctored).await;
    assert_eq!(status, 201, "{summary}");
    assert_eq!(summary["mismatch_count"], 1, "{summary}");
    let found = mismatches(&env, &finance, &summary["id"]).await;
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(found[0]["kind"], "amount_differs");
    assert_eq!(found[0]["payment_id"], "st-2");
    assert_eq!(found[0]["detail"], "report 4551, ledger 4550");
    let csv = env
        .app
        .http
        .get(env.app.url(&format!(
            "/admin/v1/settlements/{}/mismatches?format=csv",
            summary["id"]
        )))
        .bearer_auth(&finance)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        csv.lines()
            .nth(1)
            .is_some_and(|line| line.starts_with("amount_differs,st-2,")),
        "{csv}"
    );

    // The command line does the same: the same file again is the earlier import.
    let file = std::env::temp_dir().join(format!("bnpl-settlement-{}.csv", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, &doctored).unwrap();
    let path = file.to_str().unwrap();
    let (ok, out, err) = crate::admin::cli::bnpl(&env.app, &["settlement", "import", path, "--provider", "humm"]);
    assert!(ok, "{err}");
    let again: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (again["duplicate"].clone(), again["id"].clone()),
        (json!(true), summary["id"].clone())
    );
    let id = summary["id"].to_string();
    let (ok, out, err) = crate::admin::cli::bnpl(&env.app, &["settlement", "mismatches", &id, "--csv"]);
    assert!(ok, "{err}");
    assert_eq!(out, csv);
    std::fs::remove_file(&file).unwrap();

    // The dashboard's card counts what the latest import left to explain.
    let session = crate::admin::dashboard_actions::Session::open(&env.app, &finance).await;
    let (_, overview) = session.page(&env.app, "/").await;
    assert!(overview.contains("id=\"settlement-mismatch-count\">1<"), "{overview}");
    assert!(overview.contains("id=\"settlement-imports\""), "{overview}");

    // A period is named whole or not at all.
    let half = env
        .app
        .http
        .post(env.app.url("/admin/v1/settlements?provider=humm&from=2026-11-01"))
        .bearer_auth(&finance)
        .body(report.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(half.status(), 400);

    // A file the mapping does not describe is refused, naming the differences.
    let renamed = report.replacen("Operation Status", "Status", 1);
    let (status, refused) = import(&env, &finance, &renamed).await;
    assert_eq!(status, 422, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("missing [\"Operation Status\"]") && message.contains("unexpected [\"Status\"]"),
        "{message}"
    );
    pool.close().await;
}
