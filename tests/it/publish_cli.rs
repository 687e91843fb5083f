//! `bnpl publish` as a script sees it (contract §5, issue 17): the real binary against the real
//! broker and an orchestrator playing the sandbox, one exit code per way a command can end, and a
//! one-line summary last.

use crate::harness::*;
use serde_json::{json, Value};

/// Runs `bnpl publish command_type <body> --wait wait_secs`: (exit code, stdout).
async fn publish(env: &Sandboxed, command_type: &str, body: &Value, wait_secs: u64) -> (i32, String) {
    let file = std::env::temp_dir().join(format!("bnpl-publish-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, body.to_string()).unwrap();
    // tokio's process: the orchestrator under test runs on this same runtime.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_bnpl"))
        .args(["publish", command_type])
        .arg(&file)
        .args(["--wait", &wait_secs.to_string()])
        .env("BNPL_AMQP_PREFIX", &env.app.prefix.prefix)
        .env_remove("BNPL_CONFIG")
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap();
    let _ = std::fs::remove_file(&file);
    // What a script reads is stdout; logs and errors go to stderr, after it here.
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    (output.status.code().unwrap_or(-1), format!("{stdout}{STDERR}{stderr}"))
}

/// Where stdout ends in the text [`publish`] returns.
const STDERR: &str = "\n--- stderr ---\n";

/// The last line a script reads on stdout.
fn last_stdout_line(output: &str) -> &str {
    output
        .split(STDERR)
        .next()
        .unwrap_or_default()
        .trim_end()
        .lines()
        .last()
        .unwrap_or_default()
}

fn summary(output: &str) -> &str {
    output
        .lines()
        .rev()
        .find(|line| line.starts_with("summary: "))
        .unwrap_or_else(|| panic!("no summary line in:\n{output}"))
}

#[tokio::test]
async fn the_exit_code_says_how_the_command_ended() {
    let env = spawn_sandboxed(fast_timing(), |config| {
        config.auto_customer.enabled = true;
        config.auto_customer.success_ratio = 1.0;
        config.auto_customer.delay_secs = 0.0;
    })
    .await;

    // humm Gate: the redirect is not the end; the payment succeeds.
    let (code, out) = publish(&env, "purchase.create", &humm_purchase("pub-ok", 15000), 30).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        summary(&out),
        "summary: purchase.create pub-ok: ok; last event payment.succeeded; exit 0"
    );
    assert_eq!(
        last_stdout_line(&out),
        summary(&out),
        "the summary is the last line:\n{out}"
    );

    // A decline: 3.
    let (code, out) = publish(&env, "purchase.create", &humm_purchase("pub-fault-decline", 15000), 30).await;
    assert_eq!(code, 3, "{out}");
    assert!(summary(&out).contains("payment.declined"), "{out}");

    // valU: the customer acts next (the OTP), so the create step succeeds at action_required.
    let (code, out) = publish(
        &env,
        "purchase.create",
        &valu_purchase("pub-valu", 300_000, "01011110042"),
        30,
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(summary(&out).contains("payment.action_required"), "{out}");

    // A wrong OTP leaves the payment waiting for the customer: nothing final within the wait.
    let otp = env.otp_for("01011110042").await;
    let wrong = if otp == "000000" { "111111" } else { "000000" };
    let confirm = json!({"payment_id": "pub-valu", "otp": wrong, "tenure_months": 6});
    let (code, out) = publish(&env, "purchase.confirm", &confirm, 3).await;
    assert_eq!(code, 5, "{out}");
    assert_eq!(
        summary(&out),
        "summary: purchase.confirm pub-valu: no final event within --wait; last event payment.action_required; exit 5"
    );

    // A body without its required fields: rejected, 2.
    let (code, out) = publish(
        &env,
        "purchase.create",
        &json!({"payment_id": "pub-bad", "provider": "humm"}),
        30,
    )
    .await;
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("/amount: required"), "the reason names the field: {out}");

    // A refund and its cancel are about the refund; a cancel of a sent refund is rejected.
    let refund = json!({"refund_id": "pub-rf-1", "payment_id": "pub-ok", "amount": {"minor": 100, "currency": "GBP"}});
    let (code, out) = publish(&env, "refund.create", &refund, 30).await;
    assert_eq!(code, 0, "{out}");
    assert!(summary(&out).contains("refund.succeeded"), "{out}");
    let (code, out) = publish(&env, "refund.cancel", &json!({"refund_id": "pub-rf-1"}), 30).await;
    assert_eq!(code, 2, "{out}");

    // Usage errors: 1, before anything is published.
    let (code, out) = publish(&env, "purchase.explode", &json!({}), 1).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("purchase.create"),
        "the error lists the known types: {out}"
    );
    let usage = tokio::process::Command::new(env!("CARGO_BIN_EXE_bnpl"))
        .args(["publish", "--no-such-flag"])
        .output()
        .await
        .unwrap();
    assert_eq!(usage.status.code(), Some(1));
}

#[tokio::test]
async fn an_unreachable_broker_is_exit_1() {
    let body = std::env::temp_dir().join(format!("bnpl-publish-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&body, humm_purchase("pub-nobroker", 100).to_string()).unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_bnpl"))
        .args(["publish", "purchase.create"])
        .arg(&body)
        .env(
            "BNPL_AMQP_URL",
            format!("amqp://guest:guest@127.0.0.1:{}/%2f", crate::helpers::free_port()),
        )
        .output()
        .await
        .unwrap();
    let _ = std::fs::remove_file(&body);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn every_command_help_lists_the_variables_it_reads() {
    let help = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_bnpl"))
            .args(args)
            .arg("--help")
            .output()
            .unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stdout).unwrap()
    };
    let cases: [(&[&str], &[&str]); 5] = [
        (&["publish"], &["BNPL_AMQP_PREFIX", "BNPL_AMQP_URL", "BNPL_CONFIG"]),
        (
            &["serve"],
            &[
                "BNPL_DATABASE_URL",
                "BNPL_AMQP_URL",
                "BNPL_AMQP_PREFIX",
                "BNPL_HTTP_ADDR",
                "BNPL_PUBLIC_URL",
                "BNPL_SANDBOX",
                "BNPL_CONFIG",
            ],
        ),
        (&["worker"], &["BNPL_DATABASE_URL", "BNPL_SANDBOX"]),
        (&["migrate"], &["BNPL_DATABASE_URL", "BNPL_CONFIG"]),
        (
            &["admin", "payments", "list"],
            &["BNPL_DATABASE_URL", "BNPL_AMQP_PREFIX"],
        ),
    ];
    for (command, variables) in cases {
        let text = help(command);
        for variable in variables {
            assert!(
                text.contains(&format!("[env: {variable}")),
                "{command:?} --help lacks {variable}:\n{text}"
            );
        }
        assert!(text.contains("[env: RUST_LOG"), "{command:?} --help lacks RUST_LOG");
        // Values that may hold credentials are never shown.
        assert!(!text.contains("guest:guest"), "{command:?} shows a URL's value");
    }
}
