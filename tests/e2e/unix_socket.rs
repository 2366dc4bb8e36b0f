//! `[upstream] url = "unix:/path/app.sock"` end to end: hookwall in front of the Python
//! recorder listening on a Unix socket (as in deploy/kubernetes/unix-socket, where the socket
//! is in an emptyDir both containers share). Genuine deliveries arrive byte for byte; forged
//! ones are refused and never reach the socket; a missing or restarted app is handled.

use crate::common::*;
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::net::UnixStream;
use tokio::process::{Child, Command};

/// The recorder on a Unix socket, and its records read over that socket.
struct SocketRecorder {
    child: Child,
    path: PathBuf,
}

impl SocketRecorder {
    async fn start(path: &Path) -> SocketRecorder {
        let mut command = Command::new("python3");
        command
            .arg(repo_path("tests/support/recorder.py"))
            .arg("--unix")
            .arg(path);
        let (child, ready) = spawn_ready(command).await;
        assert_eq!(Path::new(&ready), path);
        SocketRecorder {
            child,
            path: path.to_path_buf(),
        }
    }

    async fn requests(&self) -> Vec<Recorded> {
        let stream = UnixStream::connect(&self.path).await.unwrap();
        let request = Request::get("/__recorder/requests")
            .header("host", "localhost")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let (status, _, body) = exchange_h1(stream, request).await.unwrap();
        assert_eq!(status, 200);
        serde_json::from_slice(&body).unwrap()
    }

    async fn stop(mut self) {
        self.child.kill().await.unwrap();
    }
}

async fn proxy_for(socket: &Path) -> TestProxy {
    TestProxy::visma(&format!("unix:{}", socket.display()))
        .start()
        .await
}

#[tokio::test]
async fn signed_delivery_reaches_the_app_on_its_unix_socket_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("app.sock");
    let recorder = SocketRecorder::start(&socket).await;
    let proxy = proxy_for(&socket).await;

    let mut body =
        br#"{"event":"CustomerChanged","tenantId":"1234567","entityId":"10001"}"#.to_vec();
    body.extend_from_slice(&[0, 0xff, b'\r', b'\n']);
    let target = "/webhooks/visma/customers?tenant=1234567&q=a%2Fb";
    let headers = [
        ("Host", "hooks.example.com".to_string()),
        ("Content-Type", "application/json".to_string()),
        ("X-VWD-Tenant-Id", "1234567".to_string()),
        ("X-Vwd-Signature-V1", visma_signature(SECRET_A, &body)),
        ("x-request-id", "sender-chosen-id".to_string()),
        ("Content-Length", body.len().to_string()),
    ];
    let mut raw = format!("POST {target} HTTP/1.1\r\n");
    for (name, value) in &headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str("Connection: close\r\n\r\n");
    let mut raw = raw.into_bytes();
    raw.extend_from_slice(&body);

    let response = proxy.raw_exchange(&raw, Duration::from_secs(5)).await;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(
        response.ends_with(&format!(
            "{{\"received\": true, \"bytes\": {}}}",
            body.len()
        )),
        "{response}"
    );

    let seen = recorder.requests().await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].request_line, format!("POST {target} HTTP/1.1"));
    assert_eq!(seen[0].body(), body);
    let expected: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.clone()))
        .collect();
    assert_eq!(seen[0].headers, expected);
    assert_eq!(proxy.requests_total("/webhooks/visma", "forwarded"), 1.0);
}

#[tokio::test]
async fn forged_delivery_is_401_and_never_reaches_the_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("app.sock");
    let recorder = SocketRecorder::start(&socket).await;
    let proxy = proxy_for(&socket).await;

    let body = br#"{"event":"CustomerChanged","forged":true}"#;
    for (signature, outcome) in [
        (visma_signature("not-the-secret", body), "bad_signature"),
        ("%%%".to_string(), "malformed_signature"),
    ] {
        let request = proxy.visma_request("/webhooks/visma", body, Some(&signature));
        let (status, _, _) = proxy.send(Protocol::Http1, request).await.unwrap();
        assert_eq!(status, 401, "{outcome}");
        assert_eq!(proxy.requests_total("/webhooks/visma", outcome), 1.0);
    }
    // A genuine delivery after them shows the socket is served, and nothing else got there.
    let request = proxy.visma_request("/webhooks/visma", b"{\"genuine\":1}", None);
    let (status, _, _) = proxy.send(Protocol::Http2, request).await.unwrap();
    assert_eq!(status, 200);
    let seen = recorder.requests().await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].body(), b"{\"genuine\":1}");
}

#[tokio::test]
async fn missing_socket_is_502_and_a_restarted_app_is_reached_again() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("app.sock");
    let proxy = proxy_for(&socket).await;

    // The app has not created its socket yet (its container is still starting).
    let request = proxy.visma_request("/webhooks/visma", b"{}", None);
    let (status, _, _) = proxy.send(Protocol::Http1, request).await.unwrap();
    assert_eq!(status, 502);
    assert_eq!(
        proxy.requests_total("/webhooks/visma", "upstream_unavailable"),
        1.0
    );

    let recorder = SocketRecorder::start(&socket).await;
    let request = proxy.visma_request("/webhooks/visma", b"{\"n\":1}", None);
    let (status, _, _) = proxy.send(Protocol::Http1, request).await.unwrap();
    assert_eq!(status, 200);
    recorder.stop().await;

    // The app's container restarts: a new process, the same socket path. hookwall's pooled
    // connection to the old process is dead; the next delivery must reach the new one.
    let recorder = SocketRecorder::start(&socket).await;
    let request = proxy.visma_request("/webhooks/visma", b"{\"n\":2}", None);
    let (status, _, body) = proxy.send(Protocol::Http1, request).await.unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let seen = recorder.requests().await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body(), b"{\"n\":2}");
}
