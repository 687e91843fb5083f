//! Small HTML building blocks for the dashboard: escaping, the page layout, tables.
//!
//! Invariant: every piece of data goes through [`text`] or [`attr`] before it reaches the page;
//! only the fixed markup written in this module and its callers is unescaped.

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};

/// Escapes text for an element's content.
pub fn text(value: &str) -> String {
    html_escape::encode_text(value).into_owned()
}

/// Escapes text for a double-quoted attribute value.
/// Stored JSON (an audit row's detail, a customer) as words a person reads, not as JSON:
/// `{"queue": "humm:default", "position": 3}` → `queue humm:default · position 3`. Nested keys
/// read as a path (`address city Cairo`), list items are joined by commas, nulls are left out.
/// Plain text: escape it with [`text`].
pub fn words(value: &serde_json::Value) -> String {
    let mut parts = Vec::new();
    collect_words(value, "", &mut parts);
    if parts.is_empty() {
        "–".to_owned()
    } else {
        parts.join(" · ")
    }
}

fn collect_words(value: &serde_json::Value, path: &str, parts: &mut Vec<String>) {
    use serde_json::Value;
    let labelled = |leaf: String| {
        if path.is_empty() {
            leaf
        } else {
            format!("{path} {leaf}")
        }
    };
    match value {
        Value::Null => {}
        Value::Object(fields) => {
            for (key, inner) in fields {
                let key = key.replace('_', " ");
                let inner_path = if path.is_empty() { key } else { format!("{path} {key}") };
                collect_words(inner, &inner_path, parts);
            }
        }
        Value::Array(items) => {
            let listed: Vec<String> = items.iter().map(words).filter(|item| item != "–").collect();
            if !listed.is_empty() {
                parts.push(labelled(listed.join(", ")));
            }
        }
        Value::String(leaf) => parts.push(labelled(leaf.clone())),
        leaf => parts.push(labelled(leaf.to_string())),
    }
}

pub fn attr(value: &str) -> String {
    html_escape::encode_double_quoted_attribute(value).into_owned()
}

/// A timestamp as people read it (UTC, seconds).
pub fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// An optional timestamp, or a dash.
pub fn maybe_time(at: Option<DateTime<Utc>>) -> String {
    at.map(time).unwrap_or_else(|| "–".to_owned())
}

/// An amount in minor units with its currency, e.g. `15000 GBP (150.00)`.
pub fn money(minor: i64, currency: &str) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{} {sign}{}.{:02}", text(currency.trim()), abs / 100, abs % 100)
}

/// A link to a payment's detail page.
pub fn payment_link(payment_id: &str) -> String {
    format!(
        "<a class=\"payment-link\" href=\"/payments/{}\">{}</a>",
        attr(&url_segment(payment_id)),
        text(payment_id)
    )
}

/// Payment ids are `A-Z a-z 0-9 - _ .` (contract §2), but escape anyway for a path segment.
pub fn url_segment(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => char::from(byte).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// A table with an id, a header row and pre-rendered rows; a note when there are no rows.
pub fn table(id: &str, headers: &[&str], rows: &[Vec<String>], empty: &str) -> String {
    if rows.is_empty() {
        return format!("<p class=\"empty\" id=\"{}\">{}</p>", attr(id), text(empty));
    }
    let head: String = headers
        .iter()
        .map(|header| format!("<th>{}</th>", text(header)))
        .collect();
    let body: String = rows
        .iter()
        .map(|cells| {
            let cells: String = cells.iter().map(|cell| format!("<td>{cell}</td>")).collect();
            format!("<tr>{cells}</tr>")
        })
        .collect();
    format!(
        "<table id=\"{}\"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>",
        attr(id)
    )
}

/// Marks `body` as the answer to a post (an action's result or refusal): the page's auto-refresh
/// must not reload it, which would post the action again.
pub fn answer_to_post(body: &str) -> String {
    format!("<div data-answer-to-post=\"1\">{body}</div>")
}

/// The page shown when the database cannot answer.
pub fn unavailable(viewer: Option<&str>) -> Response {
    page("Unavailable", viewer, "<p>The database is not reachable right now.</p>")
}

/// A whole page: layout, navigation (when signed in as `viewer`) and `body`.
pub fn page(title: &str, viewer: Option<&str>, body: &str) -> Response {
    let nav = match viewer {
        Some(name) => format!(
            "<nav><a href=\"/\">Overview</a><a href=\"/refunds\" id=\"nav-refunds\">Refunds</a>\
             <form id=\"search\" method=\"get\" action=\"/search\"><input name=\"q\" maxlength=\"64\" \
             placeholder=\"payment or refund id\" aria-label=\"payment or refund id\"><button type=\"submit\">Find</button></form>\
             <span class=\"who\">signed in as <b id=\"viewer\">{}</b></span>\
             <form id=\"signout\" method=\"post\" action=\"/signout\"><button type=\"submit\">Sign out</button></form></nav>",
            text(name)
        ),
        None => String::new(),
    };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · bnpl</title><link rel=\"stylesheet\" href=\"/assets/dashboard.css\">\
         <script src=\"/assets/dashboard.js\" defer></script></head>\
         <body><header><h1>bnpl operations</h1>{nav}</header><main>{body}</main></body></html>",
        text(title)
    );
    with_security_headers(Html(html).into_response())
}

/// Headers every dashboard answer carries: no caching of data, no framing, scripts and styles
/// from this origin only, no referrer to other sites.
pub fn with_security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, header::HeaderValue::from_static("DENY"));
    // `same-origin`, not `no-referrer`: under `no-referrer` browsers send `Origin: null` on the
    // dashboard's own form posts, and sign-in checks that `Origin` is this dashboard (login CSRF).
    // Nothing leaks to other sites either way.
    headers.insert(header::REFERRER_POLICY, header::HeaderValue::from_static("same-origin"));
    response
}

#[cfg(test)]
mod tests {
    use super::words;
    use serde_json::json;

    #[test]
    fn stored_json_reads_as_words() {
        assert_eq!(
            words(&json!({"queue": "humm:default", "position": 3})),
            "queue humm:default · position 3"
        );
        assert_eq!(
            words(&json!({"first_name": "Jane", "address": {"city": "Cairo"}, "tags": ["a", "b"], "x": null})),
            "first name Jane · address city Cairo · tags a, b"
        );
        assert_eq!(words(&json!({})), "–");
        assert_eq!(words(&json!(true)), "true");
    }
}
