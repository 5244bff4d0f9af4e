//! `reco demo` end to end: it builds a shop in a new folder, replays its visitors
//! through the HTTP API, archives, trains a model that beats popularity and publishes
//! it; `reco serve` then serves the storefront, reco.js and the demo's token route,
//! and a visitor who views three products of one category gets a `session` list that
//! leans to it.

use std::process::Command;
use std::time::Duration;

mod common;
use common::{cli_token, error_code, get_json, json_of, record_views, start_with, Server, BIN};

async fn serve(dir: &std::path::Path) -> Server {
    start_with(dir, &[]).await
}

/// The P@10 column of the summary table's row starting with `name`.
fn precision(stdout: &str, name: &str) -> f64 {
    let line = stdout
        .lines()
        .find(|l| l.trim_start_matches("| ").starts_with(name))
        .unwrap_or_else(|| panic!("no {name} row in:\n{stdout}"));
    line.split('|')
        .nth(2)
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or_else(|| panic!("no P@10 in {line}"))
}

fn demo(dir: &std::path::Path, seed: &str) -> std::process::Output {
    Command::new(BIN)
        .args(["demo", "--no-serve", "--seed", seed])
        .args(["--items-per-category", "30", "--customers", "300"])
        .args(["--sessions", "1500", "--data-dir"])
        .arg(dir)
        .env_remove("RECO_TOKEN_SECRET")
        .output()
        .expect("reco demo runs")
}

#[tokio::test]
async fn the_demo_builds_a_shop_that_beats_popularity_and_serves_its_storefront() {
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path().join("shop");
    let out = demo(&dir, "5");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("published"), "{stdout}");
    let model = precision(&stdout, "candidate");
    let popular = precision(&stdout, "popularity");
    assert!(
        model > popular * 1.2,
        "model P@10 {model} vs popularity {popular}"
    );
    // Every replayed session reached the warehouse.
    let replayed: usize = stdout
        .lines()
        .find_map(|l| l.strip_prefix("replayed "))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse().ok())
        .expect("a replayed line");
    assert_eq!(replayed, 1500);
    assert!(stdout.contains("archived 1500 sessions"), "{stdout}");

    // A second run refuses the folder and leaves it as it was.
    let before = std::fs::read(dir.join("demo-catalogue.json")).expect("catalogue");
    let again = demo(&dir, "6");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("is not empty"));
    assert_eq!(
        std::fs::read(dir.join("demo-catalogue.json")).expect("catalogue"),
        before
    );

    let server = serve(&dir).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let get = |path: &str| http.get(format!("{}{path}", server.base)).send();

    let js = get("/reco.js").await.expect("sent");
    assert_eq!(js.status().as_u16(), 200);
    assert!(js.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/javascript"));
    assert!(js
        .text()
        .await
        .expect("body")
        .contains("export function createReco"));
    let page = get("/demo/").await.expect("sent");
    assert_eq!(page.status().as_u16(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe"));
    let catalogue = json_of(get("/demo/catalogue.json").await.expect("sent")).await;
    assert_eq!(
        catalogue["products"].as_array().expect("products").len(),
        8 * 30
    );

    // The demo's token route: plays the site's backend, refuses what it should.
    let token = |body: &'static str| {
        http.post(format!("{}/demo/token", server.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let bad = token(r#"{"session_id":"s-demo","customer_id":"nobody"}"#)
        .await
        .expect("sent");
    assert_eq!(bad.status().as_u16(), 400);
    let body = json_of(bad).await;
    assert!(body["error"]["message"]
        .as_str()
        .expect("message")
        .contains("customer_id"));
    let bad = token(r#"{"session_id":""}"#).await.expect("sent");
    assert_eq!(bad.status().as_u16(), 400);
    let issued = json_of(token(r#"{"session_id":"s-demo"}"#).await.expect("sent")).await;
    let tok = issued["token"].as_str().expect("a token").to_string();

    let url = format!("{}/v1/recommendations?session_id=s-demo&k=10", server.base);
    let first = get_json(&http, &url, &tok).await;
    assert_eq!(first["strategy"], "popular");
    record_views(
        &http,
        &server.base,
        "s-demo",
        &tok,
        &["watches-001", "watches-004", "watches-007"],
    )
    .await;
    let after = get_json(&http, &url, &tok).await;
    assert_eq!(after["strategy"], "session");
    let items = after["items"].as_array().expect("items");
    let watches = items
        .iter()
        .filter(|i| {
            i["item_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("watches-"))
        })
        .count();
    assert!(watches >= 6, "{items:?}");

    // The site shows that list (an impression) and the visitor opens its first item
    // (a click); once archived, both are in the click-through of the admin route and
    // of `reco report`.
    let rid = after["recommendation_id"]
        .as_str()
        .expect("rid")
        .to_string();
    let version = after["model_version"]
        .as_str()
        .expect("version")
        .to_string();
    let shown: Vec<&str> = items.iter().filter_map(|i| i["item_id"].as_str()).collect();
    let impressions = serde_json::json!({"impressions": [{
        "recommendation_id": rid, "model_version": version, "strategy": "session",
        "item_ids": shown,
    }]});
    let r = http
        .post(format!("{}/v1/sessions/s-demo/impressions", server.base))
        .bearer_auth(&tok)
        .body(impressions.to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status().as_u16(), 200);
    let r = http
        .post(format!("{}/v1/sessions/s-demo/views", server.base))
        .bearer_auth(&tok)
        .body(format!(
            r#"{{"item_id":"{}","recommendation_id":"{rid}"}}"#,
            shown[0]
        ))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status().as_u16(), 200);
    let archived = Command::new(BIN)
        .args(["deadpool", "--all", "--data-dir"])
        .arg(&dir)
        .output()
        .expect("reco deadpool runs");
    assert!(archived.status.success());
    assert!(
        String::from_utf8_lossy(&archived.stdout).contains("archived 1 sessions"),
        "{}",
        String::from_utf8_lossy(&archived.stdout)
    );
    let admin = cli_token(&dir, &["--admin"]);
    let activity = get_json(&http, &format!("{}/v1/admin/activity", server.base), &admin).await;
    let row = serde_json::json!({
        "model_version": version, "strategy": "session", "recommendations": 1,
        "impressions": 10, "clicks": 1, "click_through": 0.1,
    });
    assert_eq!(
        activity["click_through"],
        serde_json::json!([row]),
        "{activity}"
    );
    assert_eq!(activity["sessions"]["active"], 0, "{activity}");
    assert_eq!(activity["sessions"]["archived"], 1501, "{activity}");
    let report = Command::new(BIN)
        .args(["report", "--data-dir"])
        .arg(&dir)
        .output()
        .expect("reco report runs");
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(report.status.success(), "{text}");
    assert!(
        text.contains(&format!("model {version} (current of 1)")),
        "{text}"
    );
    let line = text
        .lines()
        .find(|l| l.contains("| session"))
        .unwrap_or_else(|| panic!("no session row in:\n{text}"));
    let cells: Vec<&str> = line.split('|').map(str::trim).collect();
    assert_eq!(cells[3..7], ["1", "10", "1", "10.0%"], "{line}");
    let json = Command::new(BIN)
        .args(["report", "--json", "--data-dir"])
        .arg(&dir)
        .output()
        .expect("reco report --json runs");
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(json["activity"]["click_through"][0], row);
    assert_eq!(json["models"]["current"], serde_json::json!(version));
}

#[tokio::test]
async fn a_folder_that_is_not_a_demo_serves_reco_js_but_no_storefront() {
    let root = tempfile::tempdir().expect("temp dir");
    let server = serve(root.path()).await;
    let http = reqwest::Client::new();
    let js = http
        .get(format!("{}/reco.js", server.base))
        .send()
        .await
        .expect("sent");
    assert_eq!(js.status().as_u16(), 200);
    for path in ["/demo/", "/demo/catalogue.json"] {
        let r = http
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .expect("sent");
        assert_eq!(r.status().as_u16(), 404, "{path}");
    }
    let r = http
        .post(format!("{}/demo/token", server.base))
        .body(r#"{"session_id":"s-1"}"#)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status().as_u16(), 404);
}

/// The admin routes answer admin tokens only, list the published versions with their
/// metrics and learning curves, and roll back to an earlier version, which the running
/// server then serves.
#[tokio::test]
async fn admin_routes_list_versions_and_roll_back() {
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path().join("shop");
    let out = Command::new(BIN)
        .args(["demo", "--no-serve", "--items-per-category", "15"])
        .args(["--customers", "150", "--sessions", "600", "--data-dir"])
        .arg(&dir)
        .env_remove("RECO_TOKEN_SECRET")
        .output()
        .expect("reco demo runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = serve(&dir).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let admin = cli_token(&dir, &["--admin"]);
    let url = |path: &str| format!("{}{path}", server.base);

    // The page itself, under the strict policy.
    let page = http.get(url("/admin")).send().await.expect("sent");
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.headers().contains_key("content-security-policy"));

    // Tokens: none, a visitor's, an admin's on a visitor route.
    let r = http
        .get(url("/v1/admin/models"))
        .send()
        .await
        .expect("sent");
    assert_eq!(error_code(r).await, (401, "unauthorized".into()));
    let issued = json_of(
        http.post(url("/demo/token"))
            .body(r#"{"session_id":"s-admin-test"}"#)
            .send()
            .await
            .expect("sent"),
    )
    .await;
    let visitor = issued["token"].as_str().expect("token").to_string();
    let r = http
        .get(url("/v1/admin/models"))
        .bearer_auth(&visitor)
        .send()
        .await
        .expect("sent");
    assert_eq!(error_code(r).await, (403, "admin_required".into()));
    let r = http
        .get(url("/v1/popular"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("sent");
    assert_eq!(error_code(r).await, (403, "admin_token".into()));

    let models = |http: reqwest::Client, admin: String, url: String| async move {
        let r = http
            .get(url)
            .bearer_auth(&admin)
            .send()
            .await
            .expect("sent");
        assert_eq!(r.status().as_u16(), 200);
        json_of(r).await
    };
    let list = models(http.clone(), admin.clone(), url("/v1/admin/models")).await;
    let first = list["current"].as_str().expect("current").to_string();
    assert_eq!(list["versions"].as_array().expect("versions").len(), 1);
    assert_eq!(list["versions"][0]["version"], first.as_str());
    assert!(
        list["versions"][0]["metrics"]["precision_at_10"]
            .as_f64()
            .expect("P@10")
            > 0.0
    );
    assert!(list["versions"][0]["baseline"]["popular"]["precision_at_10"].is_number());
    let svg = http
        .get(url(&format!("/v1/admin/models/{first}/report.svg")))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("sent");
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    assert!(svg.text().await.expect("body").contains("<svg"));
    for (path, code) in [
        (
            "/v1/admin/models/no-such-version/report.svg",
            (404, "not_found"),
        ),
        ("/v1/admin/models/..%2Fx/report.svg", (400, "invalid_field")),
        ("/v1/admin/models?x=1", (400, "unknown_parameter")),
    ] {
        let r = http
            .get(url(path))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("sent");
        let (status, got) = error_code(r).await;
        assert_eq!((status, got.as_str()), (code.0, code.1), "{path}");
    }
    let rollback = |body: &'static str| {
        http.post(url("/v1/admin/rollback"))
            .bearer_auth(&admin)
            .body(body)
            .send()
    };
    let r = rollback("").await.expect("sent");
    assert_eq!(error_code(r).await, (409, "no_earlier_version".into()));
    let r = rollback(r#"{"to": 7}"#).await.expect("sent");
    assert_eq!(error_code(r).await, (400, "invalid_field".into()));

    // A second version, then back to the first: the server serves it at once.
    let out = Command::new(BIN)
        .args(["train", "--force", "--data-dir"])
        .arg(&dir)
        .output()
        .expect("train runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = models(http.clone(), admin.clone(), url("/v1/admin/models")).await;
    let second = list["current"].as_str().expect("current").to_string();
    assert_ne!(second, first);
    assert_eq!(list["versions"][1]["version"], first.as_str());
    let r = rollback(r#"{"to": "no-such-version"}"#)
        .await
        .expect("sent");
    assert_eq!(error_code(r).await, (400, "invalid_field".into()));
    let r = rollback("{}").await.expect("sent");
    assert_eq!(r.status().as_u16(), 200);
    let list = models(http.clone(), admin.clone(), url("/v1/admin/models")).await;
    assert_eq!(list["current"], first.as_str());
    assert_eq!(list["versions"][1]["version"], second.as_str());
    let popular = http
        .get(url("/v1/popular?k=1"))
        .bearer_auth(&visitor)
        .send()
        .await
        .expect("sent");
    let popular = json_of(popular).await;
    assert_eq!(popular["model_version"], first.as_str());
}
