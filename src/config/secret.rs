//! Secrets in the config file: a literal value, or `env:VAR` to read it from the environment at
//! start-up (so the file itself can be committed without credentials).
//!
//! Invariant: the value only ever lives in a [`SecretString`], whose `Debug` prints a redaction.

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};

const ENV_PREFIX: &str = "env:";

/// `#[serde(deserialize_with)]` for secret settings.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SecretString, D::Error> {
    let raw = String::deserialize(deserializer)?;
    resolve(&raw).map_err(serde::de::Error::custom)
}

/// Resolves `env:VAR` against the process environment; any other text is the secret itself.
pub fn resolve(raw: &str) -> Result<SecretString, String> {
    let value = match raw.strip_prefix(ENV_PREFIX) {
        Some(name) => std::env::var(name)
            .map_err(|_| format!("the secret refers to environment variable {name}, which is not set"))?,
        None => raw.to_owned(),
    };
    if value.is_empty() {
        return Err("the secret is empty".to_owned());
    }
    Ok(SecretString::from(value))
}
