//! The OpenAPI document: served at `/admin/v1/openapi.json`, valid OpenAPI 3.1 (parsed into the
//! `oas3` crate's typed model, every `$ref` resolving, every path parameter declared), and
//! listing exactly the routes the router serves.

use super::api_auth::ENDPOINTS;
use crate::helpers::*;
use serde_json::Value;
use std::collections::BTreeSet;

#[tokio::test]
async fn the_openapi_document_validates_and_lists_every_route() {
    let mut app = spawn_app().await;
    let response = app.http.get(app.url("/admin/v1/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();

    let spec = oas3::from_json(&text).expect("a structurally valid OpenAPI document");
    let version = spec.validate_version().expect("a supported OpenAPI version");
    assert_eq!((version.major, version.minor), (3, 1));
    assert!(spec
        .components
        .as_ref()
        .is_some_and(|c| c.security_schemes.contains_key("bearer")));

    let documented: BTreeSet<(String, String)> = spec
        .operations()
        .map(|(path, method, _)| (method.as_str().to_owned(), path))
        .collect();
    let routed: BTreeSet<(String, String)> = ENDPOINTS
        .iter()
        .map(|(method, template, _, _)| ((*method).to_owned(), (*template).to_owned()))
        .collect();
    assert_eq!(documented, routed, "the document lists exactly the admin routes");

    for (path, method, operation) in spec.operations() {
        let responses = operation.responses.as_ref().expect("responses");
        for status in ["401", "403"] {
            assert!(responses.contains_key(status), "{method} {path} documents {status}");
        }
        // Every `{param}` of the path is declared as a path parameter.
        let declared: Vec<String> = operation
            .parameters(&spec)
            .expect("parameters resolve")
            .into_iter()
            .filter(|p| p.location == oas3::spec::ParameterIn::Path)
            .map(|p| p.name)
            .collect();
        for segment in path.split('/').filter(|s| s.starts_with('{')) {
            let name = segment.trim_matches(|c| c == '{' || c == '}');
            assert!(declared.iter().any(|d| d == name), "{method} {path} declares {name}");
        }
    }

    // Every reference points at a component that exists.
    let document: Value = serde_json::from_str(&text).unwrap();
    let mut refs = Vec::new();
    collect_refs(&document, &mut refs);
    assert!(!refs.is_empty());
    for reference in refs {
        let pointer = reference.strip_prefix('#').expect("local reference");
        assert!(document.pointer(pointer).is_some(), "dangling {reference}");
    }

    // The filters list their allowed values (the API answers 400 to any other: holes.rs).
    let enum_of = |path: &str, name: &str| -> Vec<String> {
        let parameters = document["paths"][path]["get"]["parameters"].as_array().unwrap();
        let parameter = parameters.iter().find(|p| p["name"] == name).unwrap();
        let mut schema = parameter["schema"].clone();
        // An optional enum is `oneOf [null, {enum}]` or a plain `enum` with null beside.
        let mut found = Vec::new();
        collect_enum(&mut schema, &mut found);
        found
    };
    let statuses = enum_of("/admin/v1/payments", "status");
    for status in ["accepted", "pending", "action_required", "succeeded", "needs_review"] {
        assert!(
            statuses.iter().any(|s| s == status),
            "payments ?status lacks {status}: {statuses:?}"
        );
    }
    assert_eq!(enum_of("/admin/v1/payments", "provider"), ["humm", "valu"]);
    let refund_statuses = enum_of("/admin/v1/refunds", "status");
    assert!(refund_statuses.iter().any(|s| s == "queued"), "{refund_statuses:?}");

    // And every documented route is really served (it answers 401 without a token, not 404).
    for (method, _, concrete, _) in ENDPOINTS {
        let request = match *method {
            "GET" => app.http.get(app.url(concrete)),
            _ => app.http.post(app.url(concrete)),
        };
        assert_eq!(request.send().await.unwrap().status(), 401, "{method} {concrete}");
    }
    app.stop().await.unwrap();
}

fn collect_enum(value: &mut Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(values)) = map.get("enum") {
                out.extend(values.iter().filter_map(Value::as_str).map(str::to_owned));
            }
            map.values_mut().for_each(|v| collect_enum(v, out));
        }
        Value::Array(items) => items.iter_mut().for_each(|item| collect_enum(item, out)),
        _ => {}
    }
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(reference)) => out.push(reference.clone()),
                    _ => collect_refs(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_refs(item, out)),
        _ => {}
    }
}
