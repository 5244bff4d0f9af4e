//! The session strategy through the product's own path, on real shop sessions: the
//! Diginetica sample (CIKM Cup 2016; read from the team's data folder, never copied
//! here) replayed through the HTTP API as anonymous visitors, archived by the
//! deadpool, trained with the default options (a warehouse without customers trains
//! on anonymous sessions), then the newest sessions replayed view by view, asking
//! `/v1/recommendations?k=20&exclude_seen=false` after each view. Every live list must
//! be the list the offline evaluation computes for that prefix from the published
//! version (`session_top_k`, then popular fill-ins), so the live hits are the offline
//! hits; and the session model must beat popularity.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reco_core::{Clock, Config, SystemClock, TokenClaims, TokenKeys};
use reco_model::topk::Bitset;
use reco_serving::recommend::session_top_k;
use reco_serving::ServingModel;

const K: usize = 20;
/// Held-out sessions replayed view by view.
const LIVE_SESSIONS: usize = 120;

/// The sample's file: `RECO_SHARED_DATA` or the team kit beside the checkout.
fn sample() -> PathBuf {
    let root = std::env::var_os("RECO_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    let file = root.join("diginetica-sample/sample_train-item-views.csv");
    assert!(
        file.is_file(),
        "{} is missing: this test needs the Diginetica sample (set RECO_SHARED_DATA to the folder \
         holding diginetica-sample/)",
        file.display()
    );
    file
}

/// Sessions of two or more views, oldest date first, each view in time order.
fn sessions() -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(sample()).expect("readable sample");
    let mut by_id: BTreeMap<String, (String, Vec<(i64, String)>)> = BTreeMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(';').collect();
        assert!(f.len() >= 5, "malformed line {line:?}");
        let entry = by_id
            .entry(format!("dg-{}", f[0]))
            .or_insert_with(|| (f[4].to_string(), Vec::new()));
        entry
            .1
            .push((f[3].parse().expect("a timeframe"), f[2].to_string()));
    }
    let mut out: Vec<(String, String, Vec<String>)> = by_id
        .into_iter()
        .filter(|(_, (_, views))| views.len() >= 2)
        .map(|(id, (date, mut views))| {
            views.sort();
            (date, id, views.into_iter().map(|v| v.1).collect())
        })
        .collect();
    out.sort();
    out.into_iter().map(|(_, id, views)| (id, views)).collect()
}

fn token(keys: &TokenKeys, session: &str) -> String {
    let now = SystemClock.now().seconds();
    keys.sign(&TokenClaims {
        sid: session.to_string(),
        cid: None,
        iat: now,
        exp: now + 3600,
        adm: false,
    })
}

/// Serves `local`'s API on a loopback port until the returned sender is dropped.
async fn serve(local: &reco::Local) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let router = reco::server::router(Arc::clone(&local.api), None);
    tokio::spawn(reco::server::serve(
        listener,
        router,
        reco::server::Limits::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    (format!("http://{addr}"), stop)
}

/// What the route answers for `viewed` with nothing excluded: the session strategy's
/// list, then the most popular items not in it.
fn offline_list(model: &ServingModel, viewed: &[String]) -> Vec<String> {
    let viewed: Vec<usize> = viewed.iter().filter_map(|v| model.item_index(v)).collect();
    let none = Bitset::new(model.len());
    let mut list: Vec<usize> = session_top_k(model, &viewed, K, &none)
        .into_iter()
        .map(|e| e.0)
        .collect();
    for &i in model.popular_order(None) {
        if list.len() >= K {
            break;
        }
        if !list.contains(&(i as usize)) {
            list.push(i as usize);
        }
    }
    list.into_iter()
        .map(|i| model.item_id(i).to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_shop_sessions_get_the_offline_lists_live() {
    let all = sessions();
    assert!(all.len() > 1000, "{} sessions", all.len());
    let (train, test) = all.split_at(all.len() - LIVE_SESSIONS);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config::default();
    let (data, local) = reco::open_at(&config, dir.path()).expect("data dir");
    let keys = data.token_key(&config).expect("token key");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");

    // Capture: every training session as one batch of anonymous views.
    let (base, stop) = serve(&local).await;
    for (id, views) in train {
        for batch in views.chunks(25) {
            let body = serde_json::json!({
                "views": batch.iter().map(|v| serde_json::json!({"item_id": v})).collect::<Vec<_>>()
            });
            let r = http
                .post(format!("{base}/v1/sessions/{id}/views"))
                .bearer_auth(token(&keys, id))
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .expect("sent");
            let status = r.status();
            assert!(
                status.is_success(),
                "{id}: {status} {}",
                r.text().await.unwrap_or_default()
            );
        }
    }
    drop(stop);
    drop(local);

    // Archive (the sessions end now) and train with the defaults.
    let archiving = Config {
        session_timeout_secs: 0,
        ..config.clone()
    };
    let local = reco::open(&archiving, &data).expect("reopens");
    let mut archived = 0;
    loop {
        let r = local.deadpool.run(None).await;
        assert_eq!(r.failed, 0);
        archived += r.archived;
        if r.archived + r.raced == 0 {
            break;
        }
    }
    assert_eq!(archived, train.len());
    let outcome = reco::train(&local, &Default::default())
        .await
        .expect("trains");
    assert!(outcome.published, "{}", outcome.reason);
    assert!(
        outcome.counts.users >= train.len() / 2,
        "anonymous sessions train by default: {:?}",
        outcome.counts
    );
    let held = outcome.session.clone().expect("session scores");
    assert!(
        held.hr_at_20 > held.popular_hr_at_20,
        "the session model beats popularity on held-out sessions: {held:?}"
    );
    drop(local);

    // Serve the published version and replay the newest sessions view by view.
    let local = reco::open(&config, &data).expect("reopens");
    let model = local.models.current().await.expect("published model");
    let (base, _stop) = serve(&local).await;
    let (mut predictions, mut live_hits, mut offline_hits, mut popular_hits) = (0, 0, 0, 0);
    let popular: Vec<String> = offline_list(&model, &[]);
    for (id, views) in test {
        let tok = token(&keys, id);
        for t in 0..views.len() - 1 {
            let r = http
                .post(format!("{base}/v1/sessions/{id}/views"))
                .bearer_auth(&tok)
                .header("content-type", "application/json")
                .body(serde_json::json!({"item_id": views[t]}).to_string())
                .send()
                .await
                .expect("sent");
            assert!(r.status().is_success(), "{id}: {}", r.status());
            let text = http
                .get(format!(
                    "{base}/v1/recommendations?session_id={id}&k={K}&exclude_seen=false"
                ))
                .bearer_auth(&tok)
                .send()
                .await
                .expect("sent")
                .text()
                .await
                .expect("a body");
            let answer: serde_json::Value = serde_json::from_str(&text).expect("json");
            let live: Vec<String> = answer["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|i| i["item_id"].as_str().expect("an id").to_string())
                .collect();
            let offline = offline_list(&model, &views[..=t]);
            assert_eq!(live, offline, "{id} after {} views", t + 1);
            if model.item_index(&views[t]).is_some() {
                assert_eq!(answer["strategy"], "session", "{answer}");
                assert!(
                    answer["items"][0]["reason"]["because_viewed"].is_string(),
                    "{answer}"
                );
            }
            let next = &views[t + 1];
            predictions += 1;
            live_hits += usize::from(live.contains(next));
            offline_hits += usize::from(offline.contains(next));
            popular_hits += usize::from(popular.contains(next));
        }
    }
    eprintln!(
        "held out at training: {held:?}; live: {predictions} predictions, {live_hits} hits, \
         popular {popular_hits}"
    );
    assert!(predictions > 200, "{predictions} predictions");
    assert_eq!(live_hits, offline_hits);
    assert!(
        live_hits > 2 * popular_hits,
        "session lists hit {live_hits} of {predictions}, popular {popular_hits}"
    );
}
