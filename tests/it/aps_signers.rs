//! An APS merchant may hold several valU accounts, one per access code (contract §7: the pair
//! names the account). A notification that carries no access code is verified against each
//! account of its merchant, and the one whose response phrase verifies it is the signer: a
//! genuine notification from the second account is never taken for a forgery.

use crate::helpers::{test_config, TestDb, TestPrefix};
use bnpl::flows::callbacks::{aps, Reply};
use bnpl::providers::aps::signature::{sign_response, ShaType};
use bnpl::store::group_commit::GroupCommitter;
use secrecy::SecretString;
use serde_json::{json, Map, Value};

const MERCHANT: &str = "SHAREDMID";

fn config_file() -> std::path::PathBuf {
    let text = format!(
        r#"
[accounts.valu.first]
access_code = "CODE-A"
merchant_identifier = "{MERCHANT}"
request_phrase = "req-a"
response_phrase = "res-a"
[accounts.valu.second]
access_code = "CODE-B"
merchant_identifier = "{MERCHANT}"
request_phrase = "req-b"
response_phrase = "res-b"
"#
    );
    let path = std::env::temp_dir().join(format!("bnpl-aps-signers-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(&path, text).unwrap();
    path
}

/// A PURCHASE notification for an order we never created, without `access_code`, signed with
/// `phrase`.
fn notification(phrase: &str) -> Vec<u8> {
    let mut params = Map::new();
    for (name, value) in [
        ("command", "PURCHASE"),
        ("merchant_identifier", MERCHANT),
        ("merchant_reference", "never-made-1"),
        ("amount", "100000"),
        ("currency", "EGP"),
        ("response_code", "14000"),
        ("response_message", "Success"),
        ("status", "14"),
    ] {
        params.insert(name.to_owned(), json!(value));
    }
    let signature = sign_response(&params, &SecretString::from(phrase), ShaType::Sha256);
    params.insert("signature".to_owned(), json!(signature));
    Value::Object(params).to_string().into_bytes()
}

#[tokio::test]
async fn a_notification_without_an_access_code_is_verified_against_each_account_of_its_merchant() {
    let (db, pool) = TestDb::migrated().await;
    let file = config_file();
    let config = test_config(
        &db,
        &TestPrefix::new(),
        &[("BNPL_CONFIG", file.to_str().unwrap()), ("BNPL_SANDBOX", "0")],
    );
    let services = bnpl::admin::refund_evidence::cli_services(&config, pool.clone()).unwrap();
    let committer = GroupCommitter::start(pool.clone(), 1, 8);
    // Signed by the second account: verified (an order we never created: stored, answered 200).
    let genuine = aps::handle(&services, &committer, &notification("res-b"), false).await;
    assert_eq!(genuine.unwrap(), Reply::Accepted);
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM inbound_callbacks WHERE verified AND payment_id = 'never-made-1' AND outcome = 'unknown_payment'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(stored, 1);
    // Signed by neither: a forgery still.
    let forged = aps::handle(&services, &committer, &notification("res-c"), false).await;
    assert_eq!(forged.unwrap(), Reply::Forged);
    let _ = std::fs::remove_file(file);
}
