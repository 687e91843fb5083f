//! Forged callbacks, of five kinds (contract §7): a wrong key (ecommpay, APS), or a correct
//! signature of another account (the second ecommpay project about a `default` humm payment; the
//! second APS merchant about a `default` valU payment) or another provider (the humm project's
//! key about a valU payment). Every one must be refused.

use crate::cluster::{
    ACCESS_CODE, MERCHANT, PROJECT, SECOND_ACCESS_CODE, SECOND_MERCHANT, SECOND_PROJECT, SECOND_RESPONSE_PHRASE,
    SECOND_SECRET, SECRET,
};
use crate::Run;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use secrecy::SecretString;
use serde_json::{json, Map, Value};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// A forged success about a real payment, posted until a process answers (a dead one refuses the
/// connection). Every answer must be a refusal: 400, or 429 once the forger is throttled. Five
/// kinds (contract §7): signed with a wrong key (ecommpay, APS), or correctly signed by another
/// account (the second ecommpay project about a `default` humm payment; the second APS merchant
/// about a `default` valU payment) or another provider (the humm project's key about a valU
/// payment); the last three are verified, so they are refused as `account_mismatch`, always 400.
pub async fn post(run: &Run, i: usize, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let kind = Forgery::ALL[i % Forgery::ALL.len()];
    let ids = match kind {
        Forgery::WrongKeyEcommpay | Forgery::CrossAccountEcommpay => &run.humm_ids,
        Forgery::WrongKeyAps | Forgery::CrossMerchantAps | Forgery::CrossProviderEcommpay => &run.valu_ids,
    };
    let Some(id) = stored_payment(run, ids, &mut rng).await else {
        return;
    };
    let (path, body, content_type) = match kind {
        Forgery::WrongKeyAps => aps_success(&id, MERCHANT, ACCESS_CODE, &SecretString::from("not-the-real-key")),
        Forgery::CrossMerchantAps => aps_success(
            &id,
            SECOND_MERCHANT,
            SECOND_ACCESS_CODE,
            &SecretString::from(SECOND_RESPONSE_PHRASE),
        ),
        Forgery::WrongKeyEcommpay => ecommpay_success(&id, PROJECT, "GBP", &SecretString::from("not-the-real-key")),
        Forgery::CrossAccountEcommpay => {
            ecommpay_success(&id, SECOND_PROJECT, "GBP", &SecretString::from(SECOND_SECRET))
        }
        Forgery::CrossProviderEcommpay => ecommpay_success(&id, PROJECT, "EGP", &SecretString::from(SECRET)),
    };
    if kind.verified() {
        run.tally.forged_verified_posted.fetch_add(1, Ordering::Relaxed);
    }
    let targets = run.callback_targets.clone();
    for _ in 0..60 {
        let target = targets.choose(&mut rng).cloned().unwrap_or_default();
        let answer = run
            .http
            .post(format!("{target}{path}"))
            .header("content-type", content_type)
            .body(body.clone())
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        match answer.map(|r| r.status().as_u16()) {
            // Down, or the database is cut (it stores the refusal first): ask again later.
            Err(_) | Ok(502 | 503) => tokio::time::sleep(Duration::from_millis(500)).await,
            Ok(status) => {
                run.tally.forged_posted.fetch_add(1, Ordering::Relaxed);
                // A verified forgery (another account's) is never throttled: always 400.
                if status == 400 || (status == 429 && !kind.verified()) {
                    run.tally.forged_rejected.fetch_add(1, Ordering::Relaxed);
                } else {
                    run.tally.note(format!("forged callback to {path} answered {status}"));
                }
                return;
            }
        }
    }
    run.tally.note(format!("forged callback to {path} never got an answer"));
}

/// A payment of `ids` the orchestrator has announced, so it is stored: a verified callback about a
/// payment it never created is answered 200 by contract (§7), so forging one about a purchase
/// still on its way in (an id is listed as soon as it is published) would test nothing. Waits a
/// little for one while the first purchases go in.
async fn stored_payment(run: &Run, ids: &std::sync::Mutex<Vec<String>>, rng: &mut StdRng) -> Option<String> {
    for _ in 0..100 {
        let chosen = {
            let ids = ids.lock().unwrap();
            let stored: Vec<&String> = ids.iter().filter(|id| run.events.announced(id)).collect();
            stored.choose(rng).map(|id| (*id).clone())
        };
        if chosen.is_some() {
            return chosen;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    run.tally
        .note("forged callback: no announced payment to forge about".to_owned());
    None
}

/// The kinds of forged callback the suite posts.
#[derive(Debug, Clone, Copy)]
enum Forgery {
    WrongKeyEcommpay,
    WrongKeyAps,
    CrossAccountEcommpay,
    CrossMerchantAps,
    CrossProviderEcommpay,
}

impl Forgery {
    const ALL: [Forgery; 5] = [
        Forgery::WrongKeyEcommpay,
        Forgery::WrongKeyAps,
        Forgery::CrossAccountEcommpay,
        Forgery::CrossMerchantAps,
        Forgery::CrossProviderEcommpay,
    ];

    /// Correctly signed by a configured account, just not the payment's.
    fn verified(self) -> bool {
        matches!(
            self,
            Forgery::CrossAccountEcommpay | Forgery::CrossMerchantAps | Forgery::CrossProviderEcommpay
        )
    }
}

/// An APS PURCHASE success notification, form-encoded, signed with `phrase`.
fn aps_success(
    id: &str,
    merchant: &str,
    access_code: &str,
    phrase: &SecretString,
) -> (&'static str, String, &'static str) {
    let mut fields = Map::new();
    for (k, v) in [
        ("command", "PURCHASE"),
        ("merchant_reference", id),
        ("merchant_identifier", merchant),
        ("access_code", access_code),
        ("amount", "100000"),
        ("currency", "EGP"),
        ("response_code", "14000"),
        ("status", "14"),
        ("response_message", "Success"),
        ("fort_id", "169999999999"),
        ("payment_option", "VALU"),
    ] {
        fields.insert(k.to_owned(), Value::String(v.to_owned()));
    }
    let signature = bnpl::providers::aps::signature::sign_response(
        &fields,
        phrase,
        bnpl::providers::aps::signature::ShaType::Sha256,
    );
    fields.insert("signature".into(), Value::String(signature));
    let pairs: Vec<(String, String)> = fields
        .into_iter()
        .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned()))
        .collect();
    let form = serde_urlencoded::to_string(pairs).unwrap_or_default();
    ("/callbacks/aps", form, "application/x-www-form-urlencoded")
}

/// An ecommpay sale success callback, JSON, naming `project` and signed with `key`.
fn ecommpay_success(
    id: &str,
    project: u64,
    currency: &str,
    key: &SecretString,
) -> (&'static str, String, &'static str) {
    let mut body = json!({
        "project_id": project,
        "payment": {"id": id, "type": "bnpl", "status": "success", "method": "bnpl",
                    "sum": {"amount": 100, "currency": currency}},
        "operation": {"id": 990_001, "type": "sale", "status": "success", "code": "0", "message": "Success",
                      "sum_initial": {"amount": 100, "currency": currency}, "request_id": "forged-1"}
    });
    bnpl::providers::ecommpay::signature::sign_in_place(&mut body, key);
    ("/callbacks/ecommpay", body.to_string(), "application/json")
}
