//! bnpl-orchestrator library.
pub mod providers;
pub mod sandbox;
