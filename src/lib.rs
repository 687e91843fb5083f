//! bnpl-orchestrator library.
pub mod providers;
