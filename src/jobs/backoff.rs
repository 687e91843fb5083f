//! Exponential backoff with jitter for retried jobs, so failures spread out instead of retrying
//! in lock-step against a struggling provider.

use rand::Rng as _;
use std::time::Duration;

/// The delay before attempt `attempt + 1`: `base · 2^(attempt-1)`, capped at `max`, with ±25% jitter.
pub fn delay(attempt: i32, base: Duration, max: Duration) -> Duration {
    let exponent = u32::try_from(attempt.saturating_sub(1)).unwrap_or(0).min(20);
    let raw = base.saturating_mul(1_u32 << exponent).min(max);
    let millis = raw.as_millis() as u64;
    let spread = millis / 4;
    let jittered = rand::thread_rng().gen_range(millis.saturating_sub(spread)..=millis.saturating_add(spread));
    Duration::from_millis(jittered).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_within_jitter_and_is_capped() {
        let base = Duration::from_secs(1);
        let max = Duration::from_secs(60);
        for (attempt, nominal) in [(1, 1000), (2, 2000), (3, 4000), (5, 16000)] {
            let got = delay(attempt, base, max).as_millis() as u64;
            assert!(
                (nominal * 3 / 4..=nominal * 5 / 4).contains(&got),
                "attempt {attempt}: {got}ms"
            );
        }
        assert!(delay(30, base, max) <= max);
        assert!(delay(0, base, max) <= Duration::from_millis(1250));
    }
}
