//! How the relay hears of new outbox rows. Across processes it is `NOTIFY bnpl_outbox`, sent by
//! the committing transaction. But PostgreSQL serialises every notifying commit on one lock
//! (taken before the commit record and held through its WAL flush), so on a busy writer the
//! `NOTIFY` per change, not the change itself, sets the pace: measured with `pgbench`, a change
//! statement with its `pg_notify` ran at about 60% of the rate of the same statement without it.
//!
//! So while this process's relay leads (it holds the relay lock, `messaging::relay`), a writer
//! whose caller rings [`OutboxWake::ring`] right after its commit sends no `NOTIFY`: the relay in
//! this process is woken in memory instead. Everywhere else, the `NOTIFY` stays.
//!
//! Invariants:
//! - a writer skips the `NOTIFY` only when its caller rings after the commit (an autocommit
//!   statement's return, or the group committer's `committed` hook), never before it: a relay
//!   woken early would read nothing and wait;
//! - [`OutboxWake::channel`] names the channel whenever this process's relay is not leading, so
//!   the leader elsewhere hears of the commit. The one gap is a leadership change between a
//!   writer's statement and its commit: the new leader reads once when it takes over, and
//!   whatever committed after that read without a `NOTIFY` waits for the relay's poll (1 s).

use super::outbox::NOTIFY_CHANNEL;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Notify;

/// The in-process doorbell of the relay, and whether this process's relay leads.
#[derive(Default)]
pub struct OutboxWake {
    leading: AtomicBool,
    bell: Notify,
}

impl std::fmt::Debug for OutboxWake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxWake")
            .field("leading", &self.leading.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl OutboxWake {
    /// The channel a writer's statement must `NOTIFY`, when its caller rings after the commit:
    /// none while this process's relay leads.
    pub fn channel(&self) -> Option<&'static str> {
        (!self.leading.load(Ordering::Acquire)).then_some(NOTIFY_CHANNEL)
    }

    /// After a commit that wrote outbox rows: wakes this process's relay (a wake that finds the
    /// relay busy is kept for its next wait, so none is lost).
    pub fn ring(&self) {
        self.bell.notify_one();
    }

    /// The relay took the lead (true) or lost it (false).
    pub fn set_leading(&self, leading: bool) {
        self.leading.store(leading, Ordering::Release);
    }

    /// Resolves when a writer rang.
    pub async fn rung(&self) {
        self.bell.notified().await;
    }
}

/// The channel of a writer's statement: `wake`'s when its caller rings after the commit, else
/// always the `NOTIFY` channel.
pub fn channel_for(wake: Option<&OutboxWake>) -> Option<&'static str> {
    match wake {
        Some(wake) => wake.channel(),
        None => Some(NOTIFY_CHANNEL),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_writer_notifies_unless_this_process_leads_and_its_caller_rings() {
        let wake = OutboxWake::default();
        assert_eq!(channel_for(None), Some(NOTIFY_CHANNEL));
        assert_eq!(channel_for(Some(&wake)), Some(NOTIFY_CHANNEL));
        wake.set_leading(true);
        assert_eq!(channel_for(Some(&wake)), None);
        assert_eq!(channel_for(None), Some(NOTIFY_CHANNEL));
        wake.set_leading(false);
        assert_eq!(channel_for(Some(&wake)), Some(NOTIFY_CHANNEL));
    }

    #[tokio::test]
    async fn a_ring_while_the_relay_is_busy_is_kept_for_its_next_wait() {
        let wake = OutboxWake::default();
        wake.ring();
        tokio::time::timeout(Duration::from_secs(1), wake.rung())
            .await
            .expect("the ring before the wait wakes it");
    }
}
