//! The machine-readable contract (issue 17): the files in `docs/schema/`, `examples/` and
//! `docs/asyncapi.yaml` are what the code generates (`BNPL_WRITE_CONTRACT=1` rewrites them), every
//! command and event type has a schema, an example and an AsyncAPI message, every example
//! validates against its schema with a real validator (`jsonschema`, no HTTP resolver), and
//! `GET /asyncapi.json` serves the document without a token. [`event_problems`] is shared with
//! `events.rs`, which validates every event real flows emit.

use crate::helpers::spawn_app;
use bnpl::contract;
use bnpl::domain::events::EventType;
use bnpl::intake::envelope::CommandType;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read_json(path: &str) -> Value {
    let text = std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The draft-07 validator of a schema file, compiled once per process.
fn validator(path: &str) -> &'static jsonschema::Validator {
    static CACHE: OnceLock<Mutex<HashMap<String, &'static jsonschema::Validator>>> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap();
    cache.entry(path.to_owned()).or_insert_with(|| {
        let schema = read_json(path);
        let compiled = jsonschema::draft7::new(&schema).unwrap_or_else(|e| panic!("{path} is not a schema: {e}"));
        Box::leak(Box::new(compiled))
    })
}

/// Where `instance` breaks the schema at `path`, one line per error with its JSON Pointer.
fn problems(path: &str, instance: &Value) -> Vec<String> {
    validator(path)
        .iter_errors(instance)
        .map(|error| format!("{path} {}: {error}", error.instance_path()))
        .collect()
}

/// The schema problems of an event as consumed from RabbitMQ (its type picks the schema file).
pub fn event_problems(event: &Value) -> Vec<String> {
    match event["type"].as_str().and_then(EventType::parse) {
        Some(event_type) => problems(&format!("docs/schema/events/{}.json", event_type.as_str()), event),
        None => vec![format!("an event of no known type: {event}")],
    }
}

#[test]
fn the_generated_contract_files_are_up_to_date() {
    let write = std::env::var("BNPL_WRITE_CONTRACT").is_ok_and(|v| v == "1");
    let mut stale = Vec::new();
    let generated = contract::files();
    for (path, content) in &generated {
        let on_disk = std::fs::read_to_string(repo(path)).ok();
        if on_disk.as_deref() != Some(content.as_str()) {
            if write {
                let file = repo(path);
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                std::fs::write(&file, content).unwrap();
            }
            stale.push(path.clone());
        }
    }
    // Files nobody generates any more (a renamed type) are stale too.
    let expected: BTreeSet<&str> = generated.iter().map(|(path, _)| path.as_str()).collect();
    for folder in [
        "docs/schema/commands",
        "docs/schema/events",
        "examples/commands",
        "examples/events",
    ] {
        for entry in std::fs::read_dir(repo(folder)).into_iter().flatten().flatten() {
            let path = format!("{folder}/{}", entry.file_name().to_string_lossy());
            if !expected.contains(path.as_str()) {
                if write {
                    std::fs::remove_file(entry.path()).unwrap();
                }
                stale.push(path);
            }
        }
    }
    assert!(
        write || stale.is_empty(),
        "stale contract files (run `BNPL_WRITE_CONTRACT=1 cargo test --test it contract` and commit): {stale:#?}"
    );
}

#[test]
fn every_command_and_event_type_has_a_schema_an_example_and_an_asyncapi_message() {
    let asyncapi = std::fs::read_to_string(repo("docs/asyncapi.yaml")).unwrap();
    let mut missing = Vec::new();
    let names = CommandType::ALL
        .iter()
        .map(|c| ("commands", c.as_str()))
        .chain(EventType::ALL.iter().map(|e| ("events", e.as_str())));
    for (folder, name) in names {
        for file in [
            format!("docs/schema/{folder}/{name}.json"),
            format!("examples/{folder}/{name}.json"),
        ] {
            if !repo(&file).is_file() {
                missing.push(file);
            }
        }
        if !asyncapi.contains(&format!("\"name\": \"{name}\"")) {
            missing.push(format!("docs/asyncapi.yaml message {name}"));
        }
        if !asyncapi.contains(&format!("\"$ref\": \"./schema/{folder}/{name}.json\"")) {
            missing.push(format!("docs/asyncapi.yaml payload of {name}"));
        }
    }
    assert!(missing.is_empty(), "missing: {missing:#?}");
}

#[test]
fn every_example_validates_against_its_schema() {
    let mut found = Vec::new();
    for command in CommandType::ALL {
        let name = command.as_str();
        found.extend(problems(
            &format!("docs/schema/commands/{name}.json"),
            &read_json(&format!("examples/commands/{name}.json")),
        ));
    }
    for event_type in EventType::ALL {
        found.extend(event_problems(&read_json(&format!(
            "examples/events/{}.json",
            event_type.as_str()
        ))));
    }
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_schemas_hold_the_limits_and_name_the_field() {
    let schema = "docs/schema/commands/purchase.create.json";
    let example = read_json("examples/commands/purchase.create.json");
    let broken = |pointer: &str, value: Value| {
        let mut body = example.clone();
        *body.pointer_mut(pointer).unwrap() = value;
        problems(schema, &body)
    };
    let cases = [
        ("/amount/minor", json!("lots")),
        ("/amount/minor", json!(0)),
        ("/amount/currency", json!("gbp")),
        ("/payment_id", json!("has space")),
        ("/payment_id", json!("x".repeat(41))),
        ("/description", json!("d".repeat(1001))),
        ("/provider", json!("klarna")),
        ("/customer/first_name", json!("n".repeat(101))),
    ];
    for (pointer, value) in cases {
        let found = broken(pointer, value.clone());
        assert!(
            found.iter().any(|line| line.contains(pointer)),
            "{pointer} = {value} passed or was not named: {found:?}"
        );
    }
    let mut too_many = example.clone();
    too_many["items"] = Value::Array(vec![example["items"][0].clone(); 101]);
    assert!(!problems(schema, &too_many).is_empty(), "101 items passed");
    // Like intake, the schema lets unknown fields through (contract: readers ignore them).
    let mut extra = example.clone();
    extra["added_later"] = json!(1);
    assert_eq!(problems(schema, &extra), Vec::<String>::new());
}

#[test]
fn an_event_that_breaks_its_schema_is_caught() {
    let good = read_json("examples/events/payment.succeeded.json");
    assert_eq!(event_problems(&good), Vec::<String>::new());
    for (pointer, value) in [
        ("/sequence", json!("4")),
        ("/amount/minor", json!(1.5)),
        ("/status", json!("won")),
        ("/type", json!("payment.declined")),
    ] {
        let mut bad = good.clone();
        *bad.pointer_mut(pointer).unwrap() = value.clone();
        let found = problems("docs/schema/events/payment.succeeded.json", &bad);
        assert!(!found.is_empty(), "{pointer} = {value} passed");
    }
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("event_id");
    assert!(!event_problems(&missing).is_empty(), "no event_id passed");
}

#[tokio::test]
async fn the_asyncapi_document_is_served_without_a_token() {
    let mut app = spawn_app().await;
    let response = reqwest::get(app.url("/asyncapi.json")).await.unwrap();
    assert_eq!(response.status(), 200);
    let document: Value = response.json().await.unwrap();
    assert_eq!(document["asyncapi"], "3.0.0");
    let messages = document["components"]["messages"].as_object().unwrap();
    assert_eq!(messages.len(), CommandType::ALL.len() + EventType::ALL.len());
    // Self-contained: the payloads are the schemas themselves, not references to files.
    assert_eq!(
        messages["refundCreate"]["payload"],
        read_json("docs/schema/commands/refund.create.json")
    );
    app.stop().await.unwrap();
}
