//! bnpl-orchestrator library.
pub mod domain;
pub mod providers;
