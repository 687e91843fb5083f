//! Secrets in the config file: a literal value, `env:VAR` to read it from the environment at
//! start-up, or `file:PATH` to read it from a file (a mounted secret; read again on every reload,
//! so a rotated key needs no restart). The file itself can then be committed without credentials.
//!
//! Invariant: the value only ever lives in a [`SecretString`], whose `Debug` prints a redaction.

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};

const ENV_PREFIX: &str = "env:";
const FILE_PREFIX: &str = "file:";

/// `#[serde(deserialize_with)]` for secret settings.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SecretString, D::Error> {
    let raw = String::deserialize(deserializer)?;
    resolve(&raw).map_err(serde::de::Error::custom)
}

/// Resolves `env:VAR` against the process environment; any other text is the secret itself.
pub fn resolve(raw: &str) -> Result<SecretString, String> {
    let value = if let Some(name) = raw.strip_prefix(ENV_PREFIX) {
        std::env::var(name)
            .map_err(|_| format!("the secret refers to environment variable {name}, which is not set"))?
    } else if let Some(path) = raw.strip_prefix(FILE_PREFIX) {
        // A mounted secret usually ends with a newline that is not part of it.
        std::fs::read_to_string(path)
            .map_err(|error| format!("the secret refers to file {path}, which cannot be read: {error}"))?
            .trim_end_matches(['\n', '\r'])
            .to_owned()
    } else {
        raw.to_owned()
    };
    if value.is_empty() {
        return Err("the secret is empty".to_owned());
    }
    Ok(SecretString::from(value))
}
