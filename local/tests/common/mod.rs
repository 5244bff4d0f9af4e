//! What the binary's end-to-end tests share: `reco serve` started on a free loopback
//! port and stopped when dropped.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_reco");

pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `reco serve` on `dir` with `env` added, once it accepts connections.
pub async fn start_with(dir: &std::path::Path, env: &[(&str, &str)]) -> Server {
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

/// `reco token ARGS --data-dir DIR`'s token (its last line).
pub fn cli_token(dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("token")
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("RECO_TOKEN_SECRET")
        .output()
        .expect("reco token runs");
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

/// The status and the error code of a JSON error response.
pub async fn error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: serde_json::Value =
        serde_json::from_str(&response.text().await.expect("body")).expect("JSON error body");
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_string(),
    )
}

/// A response's JSON body.
pub async fn json_of(response: reqwest::Response) -> serde_json::Value {
    serde_json::from_str(&response.text().await.expect("body")).expect("JSON body")
}

/// `GET url` with `token`, which must answer 200: its JSON body.
pub async fn get_json(http: &reqwest::Client, url: &str, token: &str) -> serde_json::Value {
    let r = http.get(url).bearer_auth(token).send().await.expect("sent");
    assert_eq!(r.status().as_u16(), 200, "{url}");
    serde_json::from_str(&r.text().await.expect("body")).expect("JSON")
}

/// Records `items` as views of `session`, one request each; each must be accepted.
pub async fn record_views(
    http: &reqwest::Client,
    base: &str,
    session: &str,
    token: &str,
    items: &[&str],
) {
    for item in items {
        let r = http
            .post(format!("{base}/v1/sessions/{session}/views"))
            .bearer_auth(token)
            .body(format!(r#"{{"item_id":"{item}"}}"#))
            .send()
            .await
            .expect("sent");
        assert_eq!(r.status().as_u16(), 200, "{item}");
    }
}
