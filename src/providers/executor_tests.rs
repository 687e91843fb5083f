//! Transport classification against real sockets on 127.0.0.1:0: a 500, a server that hangs past
//! the timeout, one that drops the connection after reading the request, and a refused port.

use super::*;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const SHORT: Duration = Duration::from_millis(300);

async fn url_of(listener: &TcpListener) -> Url {
    let addr = listener.local_addr().unwrap();
    Url::parse(&format!("http://{addr}/v2/payment/status")).unwrap()
}

/// Reads one request's head and body (enough for our small JSON bodies).
async fn read_request(socket: &mut tokio::net::TcpStream) {
    let mut buf = vec![0u8; 8192];
    let mut seen = Vec::new();
    loop {
        let n = socket.read(&mut buf).await.unwrap();
        if n == 0 {
            return;
        }
        seen.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&seen);
        if let Some(head_end) = text.find("\r\n\r\n") {
            let length = text[..head_end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if seen.len() >= head_end + 4 + length {
                return;
            }
        }
    }
}

async fn serve_once(listener: TcpListener, reply: Option<&'static str>, hang: bool) {
    let (mut socket, _) = listener.accept().await.unwrap();
    read_request(&mut socket).await;
    if let Some(reply) = reply {
        socket.write_all(reply.as_bytes()).await.unwrap();
    }
    if hang {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

fn executor() -> Executor {
    Executor::new(Duration::from_secs(1)).unwrap()
}

#[tokio::test]
async fn a_500_is_returned_raw_for_the_provider_parser() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = url_of(&listener).await;
    let server = tokio::spawn(serve_once(
        listener,
        Some("HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\nconnection: close\r\n\r\noops"),
        false,
    ));
    let raw = executor().post_json(&url, &json!({"a": 1}), SHORT).await.unwrap();
    assert_eq!(raw.status, 500);
    assert_eq!(raw.body, b"oops");
    assert!(raw.is_server_error());
    server.await.unwrap();
}

#[tokio::test]
async fn a_200_body_is_read_whole() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = url_of(&listener).await;
    let server = tokio::spawn(serve_once(
        listener,
        Some("HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}"),
        false,
    ));
    let params = vec![("a".to_owned(), "b c".to_owned())];
    let raw = executor().post_form(&url, &params, SHORT).await.unwrap();
    assert_eq!((raw.status, raw.body.as_slice()), (200, b"{}".as_slice()));
    assert!(!raw.is_server_error());
    server.await.unwrap();
}

#[tokio::test]
async fn a_server_hanging_past_the_timeout_is_uncertain_and_retryable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = url_of(&listener).await;
    let server = tokio::spawn(serve_once(listener, None, true));
    let err = executor().post_json(&url, &json!({}), SHORT).await.unwrap_err();
    assert_eq!(err.delivery, Delivery::Unknown, "{err}");
    assert!(matches!(err.for_create::<()>(), CreateOutcome::Uncertain { .. }));
    assert!(matches!(err.for_status(), StatusOutcome::Retryable { .. }));
    server.abort();
}

#[tokio::test]
async fn headers_then_a_stalled_body_is_uncertain() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = url_of(&listener).await;
    let server = tokio::spawn(serve_once(
        listener,
        Some("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"status\":"),
        true,
    ));
    let err = executor().post_json(&url, &json!({}), SHORT).await.unwrap_err();
    assert_eq!(err.delivery, Delivery::Unknown, "{err}");
    server.abort();
}

#[tokio::test]
async fn a_connection_dropped_after_the_request_is_uncertain() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = url_of(&listener).await;
    let server = tokio::spawn(serve_once(listener, None, false));
    let err = executor().post_json(&url, &json!({}), SHORT).await.unwrap_err();
    assert_eq!(err.delivery, Delivery::Unknown, "{err}");
    assert!(matches!(err.for_create::<()>(), CreateOutcome::Uncertain { .. }));
    server.await.unwrap();
}

#[tokio::test]
async fn a_refused_connection_is_not_sent() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = url_of(&listener).await;
    drop(listener);
    let err = executor().post_json(&url, &json!({}), SHORT).await.unwrap_err();
    assert_eq!(err.delivery, Delivery::NotSent, "{err}");
    assert!(matches!(err.for_create::<()>(), CreateOutcome::NotSent { .. }));
    assert!(matches!(err.for_status(), StatusOutcome::Retryable { .. }));
}
