//! Configuration loading: defaults, overrides, the TOML file, and errors that name the key.

use super::*;
use secrecy::ExposeSecret;
use std::collections::HashMap;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |name| map.get(name).cloned()
}

fn write_file(text: &str) -> tempfile_path::TempPath {
    tempfile_path::TempPath::with(text)
}

/// A tiny self-deleting file, to avoid a dependency for two tests.
mod tempfile_path {
    pub struct TempPath(pub std::path::PathBuf);
    impl TempPath {
        pub fn with(text: &str) -> Self {
            let path = std::env::temp_dir().join(format!("bnpl-config-{}.toml", uuid::Uuid::new_v4()));
            let mut file = std::fs::File::create(&path).unwrap();
            std::io::Write::write_all(&mut file, text.as_bytes()).unwrap();
            Self(path)
        }
        pub fn as_str(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }
    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

#[test]
fn defaults_are_the_local_services_and_no_silent_sandbox() {
    let config = Config::load(env_of(&[])).unwrap();
    assert_eq!(
        config.database_url.expose_secret(),
        "postgres://postgres@127.0.0.1:5432/bnpl"
    );
    assert_eq!(config.amqp_url.expose_secret(), "amqp://guest:guest@127.0.0.1:5672/%2f");
    assert_eq!(config.amqp_prefix, "bnpl");
    assert_eq!(config.public_url.as_str(), "http://127.0.0.1:8080/");
    assert_eq!(config.provider_mode(), Err(ModeError::NoProvider));
    assert_eq!(config.retention.personal_data, Duration::from_secs(90 * 86400));
}

#[test]
fn the_sandbox_runs_only_when_asked_for_and_never_beside_accounts() {
    let config = Config::load(env_of(&[("BNPL_SANDBOX", "1")])).unwrap();
    assert_eq!(config.provider_mode(), Ok(ProviderMode::InProcessSandbox));
    let file = write_file(FULL_FILE);
    std::env::set_var("BNPL_TEST_SECRET_FULL_FILE", "s3cr3t-from-env");
    let both = Config::load(env_of(&[("BNPL_CONFIG", file.as_str()), ("BNPL_SANDBOX", "1")])).unwrap();
    assert_eq!(both.provider_mode(), Err(ModeError::Both));
    assert!(Config::load(env_of(&[("BNPL_SANDBOX", "yes please")])).is_err());
    let message = ModeError::NoProvider.to_string();
    assert!(
        message.contains("BNPL_CONFIG") && message.contains("--sandbox"),
        "{message}"
    );
}

#[test]
fn environment_overrides_defaults() {
    let config = Config::load(env_of(&[
        ("BNPL_AMQP_PREFIX", "t-123"),
        ("BNPL_HTTP_ADDR", "0.0.0.0:9000"),
        ("BNPL_PUBLIC_URL", "https://pay.example.com"),
    ]))
    .unwrap();
    assert_eq!(config.amqp_prefix, "t-123");
    assert_eq!(config.http_addr.port(), 9000);
    assert_eq!(config.public_url.host_str(), Some("pay.example.com"));
}

#[test]
fn bad_variables_name_the_variable() {
    let err = Config::load(env_of(&[("BNPL_HTTP_ADDR", "nope")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("BNPL_HTTP_ADDR"), "{err}");
    let err = Config::load(env_of(&[("BNPL_AMQP_PREFIX", "has space")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("BNPL_AMQP_PREFIX"), "{err}");
}

const FULL_FILE: &str = r#"
shutdown_deadline = "12s"
[intake]
prefetch = 8
concurrency = 4
[refunds]
allowed_users = ["finance-bot"]
[retention]
raw_callbacks = "30days"
personal_data = "60days"
[accounts.humm.default]
project_id = 12345
secret_key = "env:BNPL_TEST_SECRET_FULL_FILE"
refund_path = "/v2/payment/refund"
[accounts.humm.default.timing]
base_time = "2s"
threshold_time = "30s"
status_check_schedule = ["1s", "2s"]
[accounts.humm.default.limits]
max_concurrent_calls = 2
calls_per_second = 5
[accounts.valu.eg]
access_code = "TESTACCESSCODE000001"
merchant_identifier = "TESTMID1"
request_phrase = "reqPhrase#2025"
response_phrase = "resPhrase#2025"
sha_type = "HMAC-256"
[accounts.valu.eg.timing]
otp_lifetime = "90s"
otp_attempts = 5
"#;

#[test]
fn a_full_file_loads_every_key() {
    std::env::set_var("BNPL_TEST_SECRET_FULL_FILE", "s3cr3t-from-env");
    let file = write_file(FULL_FILE);
    let config = Config::load(env_of(&[("BNPL_CONFIG", file.as_str())])).unwrap();
    assert_eq!(config.provider_mode(), Ok(ProviderMode::Configured));
    assert_eq!(config.shutdown_deadline, Duration::from_secs(12));
    assert_eq!(config.intake.prefetch, 8);
    assert_eq!(config.refunds.allowed_users, vec!["finance-bot".to_owned()]);
    let humm = &config.accounts.humm["default"];
    assert_eq!(humm.secret_key.expose_secret(), "s3cr3t-from-env");
    assert_eq!(humm.timing.base_time, Duration::from_secs(2));
    assert_eq!(humm.timing.otp_attempts, 3, "unset keys keep their defaults");
    assert_eq!(humm.limits.max_concurrent_calls, 2);
    let valu = &config.accounts.valu["eg"];
    assert_eq!(valu.sha_type, crate::providers::aps::signature::ShaType::Hmac256);
    assert_eq!(valu.timing.otp_lifetime, Duration::from_secs(90));
}

#[test]
fn secrets_never_appear_in_debug() {
    std::env::set_var("BNPL_TEST_SECRET_FULL_FILE", "s3cr3t-from-env");
    let file = write_file(FULL_FILE);
    let config = Config::load(env_of(&[("BNPL_CONFIG", file.as_str())])).unwrap();
    let debug = format!("{config:?}");
    for secret in ["s3cr3t-from-env", "reqPhrase#2025", "resPhrase#2025", "guest:guest"] {
        assert!(!debug.contains(secret), "{secret} leaked into Debug");
    }
}

#[test]
fn file_errors_name_the_key() {
    let cases = [
        ("[intake]\nprefetchh = 3\n", "prefetchh"),
        ("[accounts.humm.default]\nproject_id = 1\nsecret_key = \"env:BNPL_TEST_UNSET_VAR_X\"\n", "BNPL_TEST_UNSET_VAR_X"),
        ("[accounts.humm.default]\nsecret_key = \"x\"\n", "project_id"),
        (
            "[accounts.humm.default]\nproject_id = 1\nsecret_key = \"x\"\n[accounts.humm.default.timing]\nbase_time = \"soon\"\n",
            "base_time",
        ),
        (
            "[accounts.humm.default]\nproject_id = 1\nsecret_key = \"x\"\n[accounts.humm.default.timing]\nbase_time = \"1h\"\nthreshold_time = \"1m\"\n",
            "accounts.humm.default.timing.threshold_time",
        ),
        ("[accounts.humm.\"bad name\"]\nproject_id = 1\nsecret_key = \"x\"\n", "bad name"),
        ("[intake]\nprefetch = 0\n", "intake.prefetch"),
        // Two accounts one signer could not tell apart.
        (
            "[accounts.humm.a]\nproject_id = 7\nsecret_key = \"x\"\n[accounts.humm.b]\nproject_id = 7\nsecret_key = \"y\"\n",
            "accounts.humm.b.project_id",
        ),
        (
            "[accounts.valu.a]\naccess_code = \"C\"\nmerchant_identifier = \"M\"\nrequest_phrase = \"r\"\nresponse_phrase = \"s\"\n\
             [accounts.valu.b]\naccess_code = \"C\"\nmerchant_identifier = \"M\"\nrequest_phrase = \"r2\"\nresponse_phrase = \"s2\"\n",
            "accounts.valu.b.access_code",
        ),
    ];
    for (text, key) in cases {
        let file = write_file(text);
        let err = Config::load(env_of(&[("BNPL_CONFIG", file.as_str())]))
            .unwrap_err()
            .to_string();
        assert!(err.contains(key), "error for {key:?} does not name it: {err}");
    }
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let err = Config::load(env_of(&[("BNPL_CONFIG", "/nonexistent/bnpl.toml")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/bnpl.toml"), "{err}");
}

/// The two-account example the README points to loads, and pairs with its sandbox file.
#[test]
fn the_two_account_example_loads_with_its_sandbox() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/two-accounts/bnpl.toml");
    let config = Config::load(env_of(&[("BNPL_CONFIG", path)])).unwrap();
    assert_eq!(config.provider_mode(), Ok(ProviderMode::Configured));
    assert_eq!(config.accounts.humm.len(), 2);
    assert_eq!(config.accounts.valu.len(), 2);
    let sandbox_path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/two-accounts/sandbox.toml");
    let sandbox: crate::sandbox::SandboxConfig =
        toml::from_str(&std::fs::read_to_string(sandbox_path).unwrap()).unwrap();
    for account in config.accounts.humm.values() {
        assert!(sandbox.project(account.project_id).is_some());
    }
    for account in config.accounts.valu.values() {
        assert!(sandbox.merchant(&account.merchant_identifier).is_some());
    }
}

#[test]
fn the_broker_user_comes_from_the_amqp_url() {
    let config = Config::load(env_of(&[])).unwrap();
    assert_eq!(config.amqp_user(), "guest");
    let config = Config::load(env_of(&[("BNPL_AMQP_URL", "amqp://bnpl%2Dsvc:pw@broker:5672/%2f")])).unwrap();
    assert_eq!(config.amqp_user(), "bnpl-svc");
    let config = Config::load(env_of(&[("BNPL_AMQP_URL", "amqp://broker:5672/%2f")])).unwrap();
    assert_eq!(config.amqp_user(), "guest");
}
