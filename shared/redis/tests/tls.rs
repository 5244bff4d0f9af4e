//! `rediss://`: the cache over TLS, as ElastiCache Serverless requires, against a real
//! redis-server with TLS on loopback and a certificate authority made for the test.
//! Its own test binary: it points the process's trust store (`SSL_CERT_FILE`, read by
//! the native root loader) at the test authority.

use std::process::{Command, Stdio};
use std::time::Duration;

use reco_core::EmbeddingCache;
use reco_redis::RedisCache;

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("{cmd:?}: {e} (scripts/setup installs openssl and redis-server)")
    });
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_cache_works_over_tls() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = |f: &str| dir.path().join(f);
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=reco test CA",
            "-keyout",
        ])
        .arg(p("ca.key"))
        .arg("-out")
        .arg(p("ca.pem")));
    run(Command::new("openssl")
        .args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
        ])
        .arg(p("server.key"))
        .arg("-out")
        .arg(p("server.csr")));
    std::fs::write(p("ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").expect("ext");
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "1", "-CAcreateserial", "-in"])
        .arg(p("server.csr"))
        .arg("-CA")
        .arg(p("ca.pem"))
        .arg("-CAkey")
        .arg(p("ca.key"))
        .arg("-out")
        .arg(p("server.pem"))
        .arg("-extfile")
        .arg(p("ext.cnf")));

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let _server = Server(
        Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--tls-auth-clients",
                "no",
            ])
            .arg("--tls-port")
            .arg(port.to_string())
            .arg("--tls-cert-file")
            .arg(p("server.pem"))
            .arg("--tls-key-file")
            .arg(p("server.key"))
            .arg("--tls-ca-cert-file")
            .arg(p("ca.pem"))
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server starts (scripts/setup installs it)"),
    );
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // This test binary has one test: no other thread reads the environment.
    std::env::set_var("SSL_CERT_FILE", p("ca.pem"));

    let cache = RedisCache::connect(&format!("rediss://localhost:{port}"))
        .await
        .expect("TLS handshake against the test authority");
    let big = vec![42u8; reco_redis::CHUNK_BYTES + 10];
    cache
        .put_many(
            vec![("k".into(), b"v".to_vec()), ("big".into(), big.clone())],
            Some(60),
        )
        .await
        .expect("set over TLS");
    assert_eq!(cache.get("k").await.expect("get"), Some(b"v".to_vec()));
    assert_eq!(cache.get("big").await.expect("get"), Some(big));

    // Plain text to the TLS port is not a cache.
    let plain = RedisCache::new(&format!("redis://localhost:{port}")).expect("url");
    assert!(matches!(
        plain.get("k").await,
        Err(reco_core::CacheError::Unavailable(_))
    ));
}
