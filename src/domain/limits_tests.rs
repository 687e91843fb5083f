use super::*;
use serde_json::json;

#[test]
fn quote_keeps_short_values_and_cuts_long_ones_to_the_limit() {
    assert_eq!(quote("ord-1"), "\"ord-1\"");
    let long = "x".repeat(5_000);
    let quoted = quote(&long);
    assert!(quoted.starts_with(&format!("\"{}\"", "x".repeat(QUOTE_MAX))));
    assert!(quoted.ends_with("(5000 characters)"));
    assert!(quoted.chars().count() < QUOTE_MAX + 40);
}

#[test]
fn clip_cuts_at_a_character_boundary_within_the_byte_budget() {
    assert_eq!(clip("short", 10), "short");
    let text = "é".repeat(1_000);
    let clipped = clip(&text, 1_024);
    assert!(clipped.len() <= 1_024, "{}", clipped.len());
    assert!(clipped.ends_with('…'));
    // The budget (1,024 less the 3-byte ellipsis) ends inside a character: cut one byte earlier,
    // and no earlier than that.
    assert_eq!(clipped.len(), 1_020 + '…'.len_utf8());
    assert_eq!(clip("abcdef", 5), "ab…");
}

#[test]
fn text_refuses_control_characters_and_counts_characters_not_bytes() {
    assert!(text("/description", "line one\nline two", DESCRIPTION_MAX, true).is_ok());
    let nul = text("/description", "a\u{0}b", DESCRIPTION_MAX, true).unwrap_err();
    assert_eq!(nul.pointer, "/description");
    assert!(nul.problem.contains("U+0000"), "{nul}");
    assert!(text("/customer/first_name", "Jane\nDoe", NAME_MAX, false).is_err());
    // 100 two-byte characters are 100 characters.
    assert!(text("/customer/first_name", &"é".repeat(NAME_MAX), NAME_MAX, false).is_ok());
    let long = text("/customer/first_name", &"é".repeat(NAME_MAX + 1), NAME_MAX, false).unwrap_err();
    assert_eq!(
        long.to_string(),
        "/customer/first_name: at most 100 characters, got 101"
    );
}

#[test]
fn amounts_must_be_at_least_one_minor_unit() {
    assert!(positive_amount("/amount/minor", 1).is_ok());
    assert!(positive_amount("/amount/minor", 0).is_err());
    assert!(positive_amount("/amount/minor", i64::MIN).is_err());
}

#[test]
fn metadata_is_bounded_in_size_and_depth_and_free_of_control_characters() {
    assert!(metadata("/metadata", &json!({"order_ref": "1001", "tags": ["a", "b"]})).is_ok());
    assert!(metadata("/metadata", &json!(null)).is_ok());
    assert!(metadata("/metadata", &json!("text")).is_err());

    let mut deep = json!("leaf");
    for _ in 0..METADATA_MAX_DEPTH {
        deep = json!({ "k": deep });
    }
    assert!(metadata("/metadata", &deep).is_ok(), "exactly the limit");
    let too_deep = json!({ "k": deep });
    let error = metadata("/metadata", &too_deep).unwrap_err();
    assert!(error.problem.contains("levels deep"), "{error}");

    let big = json!({ "blob": "x".repeat(METADATA_MAX_BYTES) });
    assert!(metadata("/metadata", &big).unwrap_err().problem.contains("bytes"));
    // `{"blob":""}` is 11 bytes: exactly the limit passes, one byte more does not.
    let exact = json!({ "blob": "x".repeat(METADATA_MAX_BYTES - 11) });
    assert!(metadata("/metadata", &exact).is_ok());
    let over = json!({ "blob": "x".repeat(METADATA_MAX_BYTES - 10) });
    assert!(metadata("/metadata", &over).is_err());

    // Arrays count as levels too.
    let mut deep_list = json!("leaf");
    for _ in 0..METADATA_MAX_DEPTH - 1 {
        deep_list = json!([deep_list]);
    }
    assert!(
        metadata("/metadata", &json!({ "k": deep_list })).is_ok(),
        "exactly the limit"
    );
    let error = metadata("/metadata", &json!({ "k": [deep_list] })).unwrap_err();
    assert!(error.problem.contains("levels deep"), "{error}");

    let nul_key = json!({ "a\u{0}": 1 });
    assert!(metadata("/metadata", &nul_key).is_err());
    let nul_value = json!({ "list": ["ok", "bad\u{0}"] });
    assert_eq!(
        metadata("/metadata", &nul_value).unwrap_err().pointer,
        "/metadata/list/1"
    );
}

#[test]
fn pointer_tokens_are_escaped() {
    assert_eq!(escape_pointer("a/b~c"), "a~1b~0c");
}

#[test]
fn return_urls_are_https_or_loopback_http() {
    assert!(return_url("/return_url", "https://shop.example/return").is_ok());
    assert!(return_url("/return_url", "http://127.0.0.1:3000/return").is_ok());
    assert!(return_url("/return_url", "http://localhost/return").is_ok());
    assert!(return_url("/return_url", "http://[::1]/return").is_ok());
    assert!(return_url("/return_url", "http://shop.example/return").is_err());
    assert!(return_url("/return_url", "javascript:alert(1)").is_err());
    assert!(return_url("/return_url", "not a url").is_err());
}
