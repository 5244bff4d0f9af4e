//! The local server's limits, on a real data folder and loopback TCP with short
//! timeouts: a body that does not come (the API's routes and `POST /demo/token` alike)
//! is answered 408 `body_timeout`, `POST /demo/token` has the API's size cap, a client
//! that stops reading loses its connection and the slot it held, and an idle keep-alive
//! connection is closed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reco::server::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `reco::server::serve` on a new data folder (a demo shop's when `demo`), stopped when
/// dropped.
struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn start(limits: Limits, demo: bool) -> Running {
    let dir = tempfile::tempdir().expect("temp dir");
    if demo {
        let catalogue = r#"{"seed":1,"products":[],"customers":["c-1"]}"#;
        std::fs::write(dir.path().join(reco::demo::CATALOGUE_FILE), catalogue).expect("catalogue");
    }
    let config = reco_core::Config::default();
    let (data, local) = reco::open_at(&config, dir.path()).expect("data folder opens");
    let site = demo.then(|| Arc::new(reco::demo::site(&config, &data).expect("demo site")));
    let router = reco::server::router(Arc::clone(&local.api), site);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(reco::server::serve(listener, router, limits, async move {
        let _ = stopped.await;
    }));
    Running {
        addr,
        stop: Some(stop),
        _dir: dir,
    }
}

/// Short limits, so that the tests wait fractions of a second.
fn short() -> Limits {
    Limits {
        header: Duration::from_secs(2),
        body: Duration::from_millis(300),
        write: Duration::from_millis(300),
        connections: 8,
        shutdown: Duration::from_secs(1),
    }
}

/// Everything `stream` receives until the server closes it (or `within` passes: then
/// `None`), and when it closed.
async fn until_closed(mut stream: TcpStream, within: Duration) -> Option<(Vec<u8>, Instant)> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let read_all = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(within, read_all).await.ok()?;
    Some((got, Instant::now()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_come_is_answered_408_on_every_route() {
    let limits = short();
    let server = start(limits, true).await;
    let head = |path: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: 40\r\n\r\n"
        )
    };
    // The demo's token route with no body at all, with half a body, and an API route.
    let mut clients = Vec::new();
    for (path, sent) in [
        ("/demo/token", ""),
        ("/demo/token", r#"{"session_id":"#),
        ("/v1/sessions/s-1/views", ""),
    ] {
        let mut stream = TcpStream::connect(server.addr).await.expect("connects");
        stream
            .write_all(format!("{}{sent}", head(path)).as_bytes())
            .await
            .expect("head sent");
        clients.push((path, stream));
    }
    let started = Instant::now();
    for (path, stream) in clients {
        let (answer, closed) = until_closed(stream, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("{path}: still open after 5 s"));
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(answer.contains("\"body_timeout\""), "{path}: {answer}");
        let waited = closed - started;
        assert!(
            waited >= limits.body - Duration::from_millis(50),
            "{path}: answered after {waited:?}, before the body time"
        );
        assert!(
            waited <= Duration::from_secs(3),
            "{path}: closed after {waited:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_token_bodies_have_the_api_size_cap() {
    let server = start(short(), true).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let url = format!("http://{}/demo/token", server.addr);
    let max = reco_core::Config::default().max_body_bytes;
    let padded = format!(r#"{{"session_id":"s-1","pad":"{}"}}"#, "x".repeat(max));
    let r = http.post(&url).body(padded).send().await.expect("sent");
    assert_eq!(r.status().as_u16(), 413);
    let body: serde_json::Value =
        serde_json::from_str(&r.text().await.expect("body")).expect("JSON");
    assert_eq!(body["error"]["code"], "payload_too_large");
    // Within the cap, a token as before.
    let r = http
        .post(&url)
        .body(r#"{"session_id":"s-1","customer_id":"c-1"}"#)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status().as_u16(), 200);
    let body: serde_json::Value =
        serde_json::from_str(&r.text().await.expect("body")).expect("JSON");
    assert!(
        body["token"]
            .as_str()
            .is_some_and(|t| t.split('.').count() == 3),
        "{body}"
    );
}

/// A client asks for far more than the socket buffers hold (pipelined requests for
/// `/reco.js`) and never reads: the server closes its connection once a write has
/// waited the write time, and the one connection slot serves the next client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_loses_its_connection_and_slot() {
    let limits = Limits {
        connections: 1,
        ..short()
    };
    let server = start(limits, false).await;
    const REQUESTS: usize = 1000;
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .set_recv_buffer_size(4096)
        .expect("small receive buffer");
    let stalled = socket.connect(server.addr).await.expect("connects");
    let (mut reader, mut writer) = stalled.into_split();
    // Written by a task of its own: once the server stops reading, this write waits.
    tokio::spawn(async move {
        let requests = "GET /reco.js HTTP/1.1\r\nHost: x\r\n\r\n".repeat(REQUESTS);
        let _ = writer.write_all(requests.as_bytes()).await;
        writer
    });
    tokio::time::sleep(Duration::from_millis(100)).await;

    // The only slot is the stalled client's until the server gives up on it.
    let started = Instant::now();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let r = http
        .get(format!("http://{}/reco.js", server.addr))
        .send()
        .await
        .expect("the next client is served");
    assert_eq!(r.status().as_u16(), 200);
    let served_after = started.elapsed();
    assert!(
        served_after <= Duration::from_secs(5),
        "the next client waited {served_after:?}"
    );

    // The stalled client finds its connection closed part way through the responses.
    let mut got = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    let drained = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
    })
    .await;
    assert!(drained.is_ok(), "the stalled connection is still open");
    assert!(
        got < REQUESTS * reco::site::RECO_JS.len(),
        "all {REQUESTS} responses were sent ({got} bytes): the connection was not cut"
    );
}

/// After a response, a keep-alive connection that sends nothing more is closed once
/// the head time has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed() {
    let limits = Limits {
        header: Duration::from_millis(500),
        ..short()
    };
    let server = start(limits, false).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connects");
    stream
        .write_all(b"GET /reco.js HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("request sent");
    // Read the whole response: head, then Content-Length bytes.
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let response_end = loop {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("answered")
            .expect("reads");
        assert!(n > 0, "closed before the whole response");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        if let Some(head_end) = text.find("\r\n\r\n") {
            let length: usize = text[..head_end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .expect("a Content-Length");
            if got.len() >= head_end + 4 + length {
                assert!(text.starts_with("HTTP/1.1 200"), "{text}");
                break Instant::now();
            }
        }
    };
    let (rest, closed) = until_closed(stream, Duration::from_secs(5))
        .await
        .expect("the idle connection is still open after 5 s");
    assert!(rest.is_empty(), "nothing more is sent");
    let idle = closed - response_end;
    assert!(
        idle >= limits.header - Duration::from_millis(100),
        "closed after {idle:?} idle, before the head time"
    );
}
