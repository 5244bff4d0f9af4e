//! The `reco` binary end to end: `reco token` issues a token, `reco serve` keeps every
//! one of 50 concurrent views of one session, refuses bad input with the right status,
//! and keeps sessions across restarts.

use std::process::Command;
use std::time::Duration;

mod common;
use common::{
    cli_token, error_code, free_port, get_json, json_of, record_views, start_with, Server, BIN,
};

/// Tests that start a server run one at a time: several measure time (a stalled
/// client, views during training), and a machine with two cores has none to spare.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn start(dir: &std::path::Path) -> Server {
    start_with(dir, &[]).await
}

fn token(dir: &std::path::Path, session: &str, customer: Option<&str>) -> String {
    let mut args = vec!["--session", session];
    if let Some(c) = customer {
        args.extend(["--customer", c]);
    }
    cli_token(dir, &args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_server_keeps_every_concurrent_view() {
    let _serial = SERIAL.lock().await;
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
    let doc = get_json(&http, &format!("{}/v1/sessions/s-local", server.base), &tok).await;
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
    // The session belongs to c-1 now: a token for it without a customer, or for
    // another customer, neither reads nor writes it.
    for other in [
        token(dir.path(), "s-local", None),
        token(dir.path(), "s-local", Some("c-2")),
    ] {
        let read = http
            .get(format!("{}/v1/sessions/s-local", server.base))
            .bearer_auth(&other)
            .send()
            .await
            .expect("sent");
        assert_eq!(error_code(read).await, (403, "customer_mismatch".into()));
        let write = http
            .post(&url)
            .bearer_auth(&other)
            .body(r#"{"item_id":"x"}"#)
            .send()
            .await
            .expect("sent");
        assert_eq!(error_code(write).await, (403, "customer_mismatch".into()));
    }

    // Sessions survive a restart; the data dir's secret still signs valid tokens.
    drop(server);
    let server = start(dir.path()).await;
    let doc = get_json(&http, &format!("{}/v1/sessions/s-local", server.base), &tok).await;
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
    // A 30-day token is not issued: the server would refuse it.
    let out = Command::new(BIN)
        .args(["token", "--session", "ok", "--ttl", "2592000", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("RECO_TOKEN_MAX_TTL_SECS"));
}

/// The data folder, its secret and its databases are the owner's alone.
#[cfg(unix)]
#[tokio::test]
async fn data_folder_is_readable_by_the_owner_only() {
    let _serial = SERIAL.lock().await;
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().expect("temp dir");
    let dir = parent.path().join("data");
    let server = start(&dir).await;
    token(&dir, "s-1", None);
    let mode = |p: std::path::PathBuf| {
        std::fs::metadata(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(dir.clone()), 0o700);
    for file in [
        "token-secret",
        "admin-secret",
        "sessions.sqlite",
        "warehouse.sqlite",
    ] {
        assert_eq!(mode(dir.join(file)), 0o600, "{file}");
    }
    drop(server);
}

/// `--addr` beyond loopback needs `--allow-remote`.
#[tokio::test]
async fn non_loopback_addresses_need_allow_remote() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let out = Command::new(BIN)
        .args(["serve", "--addr", &format!("0.0.0.0:{port}"), "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--allow-remote"), "{stderr}");
    let log = dir.path().join("serve.log");
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--allow-remote",
            "--addr",
            &format!("0.0.0.0:{port}"),
            "--data-dir",
        ])
        .arg(dir.path())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("starts");
    let mut listening = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            listening = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(listening, "serves with --allow-remote");
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.contains("clear text"), "warns: {text}");
}

/// A client that sends one byte of its request and stalls is disconnected; one that
/// sends its head and stalls in its body is answered 408 `body_timeout`. Both stall
/// at once, so the test waits for the timeouts once.
#[tokio::test]
async fn a_stalled_client_is_disconnected() {
    let _serial = SERIAL.lock().await;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path()).await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connects");
    stream.write_all(b"G").await.expect("one byte");
    let mut in_body = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connects");
    in_body
        .write_all(
            b"POST /v1/sessions/s-x/views HTTP/1.1\r\nHost: x\r\n\
              Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
        )
        .await
        .expect("head and one byte of the body");
    let started = std::time::Instant::now();
    // Whatever the server answers (a 408 or nothing), it closes the connection.
    let read_all = |mut s: tokio::net::TcpStream| async move {
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        got
    };
    let both = tokio::time::timeout(Duration::from_secs(15), async {
        tokio::join!(read_all(stream), read_all(in_body))
    })
    .await;
    let (_, answer) = both.expect("still connected after 15 s");
    eprintln!("stalled clients disconnected after {:?}", started.elapsed());
    assert!(
        started.elapsed() <= Duration::from_secs(11),
        "disconnected after {:?}",
        started.elapsed()
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"body_timeout\""), "{answer}");
    // Others are served meanwhile and after.
    let http = reqwest::Client::new();
    let r = http
        .get(format!("{}/v1/sessions/s-x", server.base))
        .send()
        .await
        .expect("served");
    assert_eq!(r.status().as_u16(), 401);
}

/// Views are recorded promptly while the server retrains: fitting runs on a blocking
/// thread, not on the threads that answer requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_are_recorded_promptly_during_training() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("temp dir");
    // A warehouse with enough ratings that a fit takes a while.
    let ratings = dir.path().join("ratings.csv");
    let mut csv = String::from("customer_id,item_id,rating,rated_at\n");
    for u in 0..600 {
        for k in 0..40 {
            let item = (u * 7 + k * 13) % 900;
            csv.push_str(&format!(
                "c{u},i{item},{},2026-11-{:02}T10:00:00Z\n",
                1 + (u + k) % 5,
                1 + k % 28
            ));
        }
    }
    std::fs::write(&ratings, csv).expect("ratings written");
    let out = Command::new(BIN)
        .args(["import", "--ratings"])
        .arg(&ratings)
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .expect("import runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let port = free_port();
    let log = dir.path().join("serve.log");
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path())
        .env("RECO_TRAIN_INTERVAL_SECS", "1")
        .env("RUST_LOG", "info")
        .env_remove("RECO_TOKEN_SECRET")
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("starts");
    let base = format!("http://127.0.0.1:{port}");
    let tok = token(dir.path(), "s-during", None);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    let mut waited = 0;
    while !log_text().contains("retraining started") {
        assert!(waited < 200, "training never started: {}", log_text());
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    let mut times = Vec::new();
    for i in 0..20 {
        let finished_before = log_text().matches("retrain").count() > 1;
        let started = std::time::Instant::now();
        let r = http
            .post(format!("{base}/v1/sessions/s-during/views"))
            .bearer_auth(&tok)
            .body(format!(r#"{{"item_id":"i{i}"}}"#))
            .send()
            .await
            .expect("sent");
        let took = started.elapsed();
        assert_eq!(r.status().as_u16(), 200);
        if !finished_before {
            times.push(took);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    times.sort();
    eprintln!("views during training: {times:?}");
    assert!(
        times.len() >= 5,
        "only {} views fell inside the training run: {}",
        times.len(),
        log_text()
    );
    // A fit that held the request threads would hold every view it overlaps; one
    // slow view alone is the shared machine's noise (a scheduling hiccup).
    let second_slowest = times[times.len() - 2];
    assert!(
        second_slowest <= Duration::from_millis(100),
        "views took {times:?} during training"
    );
}

/// The server's deadpool archives an idle session into the warehouse; the session then
/// refuses new views with 409.
#[tokio::test]
async fn idle_sessions_are_archived_and_then_refuse_views() {
    let _serial = SERIAL.lock().await;
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
        let doc = json_of(r).await;
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

/// Before training: 503 `no_model`. After `reco train` (another process) the running
/// server serves the new model without a restart, and a visitor's list follows what
/// they just viewed.
#[tokio::test]
async fn recommendations_follow_the_session_through_reco_serve() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let shop = tempfile::tempdir().expect("shop dir");
    let mut import = Command::new(BIN);
    import.arg("import").arg("--data-dir").arg(dir.path());
    for (path, kind) in reco_testkit::shop::write_shop(shop.path()) {
        import.arg(format!("--{kind}")).arg(path);
    }
    let out = import.output().expect("import runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let server = start_with(dir.path(), &[("RECO_MODEL_REFRESH_SECS", "0")]).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let tok = token(dir.path(), "s-shop", None);
    let r = http
        .get(format!("{}/v1/popular", server.base))
        .bearer_auth(&tok)
        .send()
        .await
        .expect("sent");
    assert_eq!(error_code(r).await, (503, "no_model".to_string()));

    let out = Command::new(BIN)
        .args(["train", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("train runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let url = format!("{}/v1/recommendations?session_id=s-shop&k=10", server.base);
    let before = get_json(&http, &url, &tok).await;
    assert_eq!(before["strategy"], "popular");
    record_views(&http, &server.base, "s-shop", &tok, &["i4", "i10", "i16"]).await;
    let after = get_json(&http, &url, &tok).await;
    assert_eq!(after["strategy"], "session");
    let items: Vec<String> = after["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["item_id"].as_str().expect("id").to_string())
        .collect();
    // The shop's item iN is in category N % 6: the views were all category 4.
    let leaning = items
        .iter()
        .filter(|i| i.trim_start_matches('i').parse::<usize>().expect("id") % 6 == 4)
        .count();
    assert!(leaning >= 5, "{items:?}");
    assert!(after["items"][0]["reason"]["because_viewed"].is_string());
    assert_ne!(before["recommendation_id"], after["recommendation_id"]);
}
