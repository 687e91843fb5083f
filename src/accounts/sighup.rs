//! SIGHUP reloads the provider secrets from the configuration file (issue 20): a key rotation
//! needs no restart. Only secrets are taken (`Accounts::reload_secrets_from_file`); a file that does not
//! parse changes nothing and is logged, so a typo cannot take the running keys away.

use super::Accounts;
use tokio_util::sync::CancellationToken;

/// Reloads `accounts`' secrets on every SIGHUP until `stop`.
pub async fn reload_on_sighup(accounts: Accounts, stop: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(hangups) => hangups,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGHUP; rotate secrets with POST /admin/v1/accounts/reload-secrets");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            received = hangups.recv() => {
                if received.is_none() {
                    return;
                }
                if let Err(error) = accounts.reload_secrets_from_file() {
                    tracing::error!(%error, "SIGHUP: provider secrets not reloaded; the running ones stay");
                }
            }
        }
    }
}
