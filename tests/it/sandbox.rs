//! The provider sandbox over HTTP: a real server on port 0, requests signed with the
//! vector-tested signature modules, callbacks caught by a tiny axum receiver.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns panic on setup failure by design"
)]

mod faults;
mod humm;
mod support;
mod valu;
