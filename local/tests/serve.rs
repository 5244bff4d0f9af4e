//! The `reco` binary end to end: `reco token` issues a token, `reco serve` keeps every
//! one of 50 concurrent views of one session, refuses bad input with the right status,
//! and keeps sessions across restarts.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_reco");

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

async fn start(dir: &std::path::Path) -> Server {
    start_with(dir, &[]).await
}

async fn start_with(dir: &std::path::Path, env: &[(&str, &str)]) -> Server {
    let port = free_port();
    let child = Command::new(BIN)
        .args([
            "serve",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir)
        .envs(env.iter().copied())
        .env_remove("RECO_TOKEN_SECRET")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("reco serve starts");
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("reco serve did not listen on {port}");
}

fn token(dir: &std::path::Path, session: &str, customer: Option<&str>) -> String {
    let mut cmd = Command::new(BIN);
    cmd.args(["token", "--session", session, "--data-dir"])
        .arg(dir)
        .env_remove("RECO_TOKEN_SECRET");
    if let Some(c) = customer {
        cmd.args(["--customer", c]);
    }
    let out = cmd.output().expect("reco token runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .last()
        .expect("a token line")
        .to_string()
}

async fn error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: serde_json::Value =
        serde_json::from_str(&response.text().await.expect("body")).expect("JSON error body");
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_server_keeps_every_concurrent_view() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path()).await;
    let tok = token(dir.path(), "s-local", Some("c-1"));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let url = format!("{}/v1/sessions/s-local/views", server.base);

    let mut tasks = Vec::new();
    for i in 0..50 {
        let (http, url, tok) = (http.clone(), url.clone(), tok.clone());
        tasks.push(tokio::spawn(async move {
            http.post(&url)
                .bearer_auth(&tok)
                .body(format!(r#"{{"item_id":"item-{i}"}}"#))
                .send()
                .await
                .expect("request sent")
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task"), 200);
    }
    let doc: serde_json::Value = serde_json::from_str(
        &http
            .get(format!("{}/v1/sessions/s-local", server.base))
            .bearer_auth(&tok)
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("body"),
    )
    .expect("json");
    assert_eq!(doc["view_count"], 50);
    assert_eq!(doc["customer_id"], "c-1");
    let mut items: Vec<String> = doc["items_viewed"]
        .as_array()
        .expect("items")
        .iter()
        .map(|v| v["item_id"].as_str().expect("id").to_string())
        .collect();
    items.sort();
    let mut expected: Vec<String> = (0..50).map(|i| format!("item-{i}")).collect();
    expected.sort();
    assert_eq!(items, expected);

    // Bad input: the right status and code, and nothing stored is lost.
    let no_token = http
        .post(&url)
        .body(r#"{"item_id":"x"}"#)
        .send()
        .await
        .expect("sent");
    assert_eq!(error_code(no_token).await, (401, "unauthorized".into()));
    let other = token(dir.path(), "s-other", None);
    let forbidden = http
        .post(&url)
        .bearer_auth(&other)
        .body(r#"{"item_id":"x"}"#)
        .send()
        .await
        .expect("sent");
    assert_eq!(error_code(forbidden).await, (403, "forbidden".into()));
    let big = http
        .post(&url)
        .bearer_auth(&tok)
        .body(format!(r#"{{"item_id":"{}"}}"#, "x".repeat(100_000)))
        .send()
        .await
        .expect("sent");
    assert_eq!(error_code(big).await, (413, "payload_too_large".into()));
    let broken = http
        .post(&url)
        .bearer_auth(&tok)
        .body("{not json")
        .send()
        .await
        .expect("sent");
    assert_eq!(error_code(broken).await, (400, "malformed_json".into()));
    let wrong_customer = http
        .post(&url)
        .bearer_auth(&tok)
        .body(r#"{"item_id":"x","customer_id":"c-2"}"#)
        .send()
        .await
        .expect("sent");
    assert_eq!(error_code(wrong_customer).await, (403, "forbidden".into()));

    // Sessions survive a restart; the data dir's secret still signs valid tokens.
    drop(server);
    let server = start(dir.path()).await;
    let doc: serde_json::Value = serde_json::from_str(
        &http
            .get(format!("{}/v1/sessions/s-local", server.base))
            .bearer_auth(&tok)
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("body"),
    )
    .expect("json");
    assert_eq!(doc["view_count"], 50);
}

#[test]
fn token_command_refuses_bad_arguments() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(BIN)
        .args(["token", "--session", "bad id", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("session_id"));
    let out = Command::new(BIN)
        .args(["token", "--session", "ok", "--ttl", "0", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ttl"));
}

/// The server's deadpool archives an idle session into the warehouse; the session then
/// refuses new views with 409.
#[tokio::test]
async fn idle_sessions_are_archived_and_then_refuse_views() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_with(
        dir.path(),
        &[
            ("RECO_SESSION_TIMEOUT_SECS", "1"),
            ("RECO_DEADPOOL_INTERVAL_SECS", "1"),
        ],
    )
    .await;
    let tok = token(dir.path(), "s-idle", Some("c-9"));
    let http = reqwest::Client::new();
    let url = format!("{}/v1/sessions/s-idle/views", server.base);
    for item in ["a", "b"] {
        let r = http
            .post(&url)
            .bearer_auth(&tok)
            .body(format!(r#"{{"item_id":"{item}"}}"#))
            .send()
            .await
            .expect("sent");
        assert_eq!(r.status().as_u16(), 200);
    }
    let mut archived = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let r = http
            .get(format!("{}/v1/sessions/s-idle", server.base))
            .bearer_auth(&tok)
            .send()
            .await
            .expect("sent");
        let doc: serde_json::Value =
            serde_json::from_str(&r.text().await.expect("body")).expect("json");
        if doc["is_active"] == false {
            archived = true;
            break;
        }
    }
    assert!(
        archived,
        "the deadpool archived the idle session within 10 s"
    );
    let r = http
        .post(&url)
        .bearer_auth(&tok)
        .body(r#"{"item_id":"c"}"#)
        .send()
        .await
        .expect("sent");
    assert_eq!(error_code(r).await, (409, "session_archived".into()));
    let db = rusqlite::Connection::open(dir.path().join("warehouse.sqlite")).expect("warehouse");
    let items: Vec<String> = db
        .prepare("SELECT item_id FROM session_views WHERE session_id = 's-idle' ORDER BY seq")
        .expect("query")
        .query_map([], |r| r.get(0))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("read");
    assert_eq!(items, ["a", "b"]);
    let customer: String = db
        .query_row(
            "SELECT customer_id FROM sessions WHERE session_id = 's-idle'",
            [],
            |r| r.get(0),
        )
        .expect("session row");
    assert_eq!(customer, "c-9");
}
