//! The public contract in machine-readable form (issue 17, `docs/contract.md`): the JSON Schemas
//! of every command and event ([`schemas`]), one example of each ([`examples`]), and the AsyncAPI
//! document ([`asyncapi`], written as YAML by [`yaml`]). All generated from the types intake reads
//! and the ledger announces, and checked against the files in `docs/` and `examples/` by a test
//! that fails when they are stale (`BNPL_WRITE_CONTRACT=1` rewrites them).

pub mod asyncapi;
pub mod examples;
pub mod schemas;
pub mod yaml;

use crate::domain::events::EventType;
use crate::intake::envelope::CommandType;
use serde_json::Value;

/// `(commands/<type>.json, command(type))` for every command type, then the same for every event
/// type: one file per type, so a type added to either enum gets its file.
fn per_type(command: impl Fn(CommandType) -> Value, event: impl Fn(EventType) -> Value) -> Vec<(String, Value)> {
    let commands = CommandType::ALL
        .iter()
        .map(|c| (format!("commands/{}.json", c.as_str()), command(*c)));
    let events = EventType::ALL
        .iter()
        .map(|e| (format!("events/{}.json", e.as_str()), event(*e)));
    commands.chain(events).collect()
}

/// Every generated file: `(path from the repository's root, content)`.
pub fn files() -> Vec<(String, String)> {
    let pretty = |value: &Value| format!("{}\n", serde_json::to_string_pretty(value).unwrap_or_default());
    let schemas = schemas::all()
        .into_iter()
        .map(|(path, schema)| (format!("docs/schema/{path}"), pretty(&schema)));
    let examples = examples::all()
        .into_iter()
        .map(|(path, example)| (format!("examples/{path}"), pretty(&example)));
    let asyncapi = std::iter::once((
        "docs/asyncapi.yaml".to_owned(),
        format!(
            "# Generated from the code (src/contract/asyncapi.rs); `BNPL_WRITE_CONTRACT=1 cargo test contract` rewrites it.\n{}",
            yaml::to_yaml(&asyncapi::document())
        ),
    ));
    schemas.chain(examples).chain(asyncapi).collect()
}
