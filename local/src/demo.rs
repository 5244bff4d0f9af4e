//! `reco demo`: a shop from nothing to recommendations on one machine. Generates a shop
//! (or reads MovieLens), loads its catalogue, customers, purchases and ratings into the
//! warehouse, replays its visitor sessions through the HTTP API (tokens and all, the
//! real capture path), archives them with the deadpool, trains with a progress bar,
//! prints the evaluation against popularity and publishes. The caller then serves.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reco_core::{Clock, Config, SystemClock, TokenClaims, TokenKeys};
use serde::Serialize;

use crate::shop::{self, Product, Session, ShopSize};
use crate::{DataDir, Error, Local, ReplayError};

/// The file that marks a data dir as a demo shop and holds what the storefront shows.
pub const CATALOGUE_FILE: &str = "demo-catalogue.json";

/// What `reco demo` was asked for.
pub struct DemoOptions {
    pub data_dir: PathBuf,
    pub seed: u64,
    pub movielens: Option<PathBuf>,
    pub size: ShopSize,
}

/// The storefront's catalogue: products, the customers one can log in as.
#[derive(Serialize)]
pub struct Catalogue {
    pub seed: u64,
    pub products: Vec<Product>,
    pub customers: Vec<String>,
}

/// What the run did, for the summary and the tests.
pub struct DemoReport {
    pub views_sent: usize,
    pub sessions: usize,
    pub archived: usize,
    pub outcome: reco_pipeline::train::Outcome,
    pub seconds: f64,
}

/// Whether `dir` holds a demo shop.
pub fn is_demo(dir: &DataDir) -> bool {
    dir.root().join(CATALOGUE_FILE).is_file()
}

/// Builds the shop in a new data dir and publishes a model trained on it.
pub async fn run(config: &Config, options: &DemoOptions) -> Result<DemoReport, Error> {
    let started = Instant::now();
    let root = &options.data_dir;
    if root.exists()
        && std::fs::read_dir(root)
            .map_err(Error::at(root))?
            .next()
            .is_some()
    {
        return Err(Error::Usage(format!(
            "{} is not empty: the demo builds its shop in a new folder. `reco serve --data-dir {}` \
             serves a shop built before; or give another --data-dir.",
            root.display(),
            root.display()
        )));
    }
    let dir = crate::open_dir(root)?;
    let now = SystemClock.now();
    let (batch, sessions, products) = match &options.movielens {
        Some(ml) => movielens_shop(ml, options.seed)?,
        None => {
            let shop = shop::generate(options.seed, options.size, now);
            (shop.batch, shop.sessions, shop.products)
        }
    };
    let customers: Vec<String> = batch
        .customers
        .iter()
        .map(|c| c.customer_id.clone())
        .collect();
    println!(
        "shop: {} items, {} customers, {} purchases, {} ratings, {} visitor sessions",
        batch.items.len(),
        batch.customers.len(),
        batch.purchases.len(),
        batch.ratings.len(),
        sessions.len()
    );

    let local = crate::open(config, &dir)?;
    // Anonymous visitors' sessions train too: their co-views are most of the signal
    // the `session` strategy folds in.
    local.warehouse.include_anonymous_sessions(true)?;
    reco_core::Warehouse::load(&local.warehouse, &batch).await?;
    let views_sent = replay(&local, &dir.token_key(config)?, &sessions).await?;
    println!(
        "replayed {views_sent} views of {} sessions through the HTTP API",
        sessions.len()
    );
    drop(local);

    // The sessions end now: archive them as the deadpool would once they are idle.
    let archiving = Config {
        session_timeout_secs: 0,
        ..config.clone()
    };
    let local = crate::open(&archiving, &dir)?;
    let mut archived = 0;
    loop {
        let r = local.deadpool.run(None).await;
        if r.failed > 0 {
            return Err(Error::NotArchived(r.failed));
        }
        archived += r.archived;
        if r.archived + r.raced == 0 {
            break;
        }
    }
    println!("archived {archived} sessions into the warehouse");

    let outcome = crate::train(&local, &Default::default()).await?;
    crate::print_summary(&outcome, &dir);
    let catalogue = Catalogue {
        seed: options.seed,
        products,
        customers,
    };
    let json = serde_json::to_vec(&catalogue).map_err(Error::json(CATALOGUE_FILE))?;
    let path = dir.root().join(CATALOGUE_FILE);
    std::fs::write(&path, json).map_err(Error::at(&path))?;
    Ok(DemoReport {
        views_sent,
        sessions: sessions.len(),
        archived,
        outcome,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Sends every session's views through the API on a loopback port, 16 sessions at a
/// time, each view as the site would (customers log in part way: the token and the
/// body then name them). Returns the views accepted.
async fn replay(local: &Local, keys: &TokenKeys, sessions: &[Session]) -> Result<usize, Error> {
    let listen = |source| Error::Listen {
        addr: "127.0.0.1:0".into(),
        source,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(listen)?;
    let addr = listener.local_addr().map_err(listen)?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let router = crate::server::router(Arc::clone(&local.api), None);
    let limits = crate::server::Limits::default();
    let server = tokio::spawn(crate::server::serve(listener, router, limits, async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|source| ReplayError::Request {
            url: format!("http://{addr}"),
            source,
        })?;
    let bar = indicatif::ProgressBar::new(sessions.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("replaying sessions [{bar:30}] {pos}/{len}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let now = SystemClock.now().seconds();
    let mut tasks = tokio::task::JoinSet::new();
    let mut sent = 0;
    let mut next = sessions.iter();
    loop {
        while tasks.len() < 16 {
            let Some(session) = next.next() else { break };
            let http = http.clone();
            let base = format!("http://{addr}");
            let sign = |cid: Option<&String>| {
                keys.sign(&TokenClaims {
                    sid: session.session_id.clone(),
                    cid: cid.cloned(),
                    iat: now,
                    exp: now + 3600,
                    adm: false,
                })
            };
            let anonymous = sign(None);
            let named = session.customer_id.as_ref().map(|c| sign(Some(c)));
            let session = session.clone();
            tasks.spawn(async move {
                let url = format!("{base}/v1/sessions/{}/views", session.session_id);
                let mut accepted = 0;
                for (i, item) in session.views.iter().enumerate() {
                    let logged_in = session.customer_id.is_some() && i >= session.login_at;
                    let (token, body) = match (&named, &session.customer_id) {
                        (Some(t), Some(c)) if logged_in => {
                            (t, serde_json::json!({"item_id": item, "customer_id": c}))
                        }
                        _ => (&anonymous, serde_json::json!({"item_id": item})),
                    };
                    let response = http
                        .post(&url)
                        .bearer_auth(token)
                        .header("content-type", "application/json")
                        .body(body.to_string())
                        .send()
                        .await
                        .map_err(|source| ReplayError::Request {
                            url: url.clone(),
                            source,
                        })?;
                    let status = response.status();
                    if !status.is_success() {
                        let body = response.text().await.unwrap_or_default();
                        return Err(ReplayError::Refused { url, status, body });
                    }
                    accepted += 1;
                }
                Ok::<usize, ReplayError>(accepted)
            });
        }
        match tasks.join_next().await {
            Some(Ok(Ok(n))) => {
                sent += n;
                bar.inc(1);
            }
            Some(Ok(Err(e))) => return Err(e.into()),
            Some(Err(e)) => return Err(ReplayError::Task(e).into()),
            None => break,
        }
    }
    bar.finish_and_clear();
    let _ = stop.send(());
    let _ = server.await;
    Ok(sent)
}

/// MovieLens as a shop: its users, films and ratings as the warehouse's, and for every
/// fifth user a visit replaying their last ten rated films as views (the session
/// anonymous, the visitor logging in before the last three).
fn movielens_shop(
    dir: &Path,
    seed: u64,
) -> Result<
    (
        reco_core::warehouse::ImportBatch,
        Vec<Session>,
        Vec<Product>,
    ),
    Error,
> {
    let mut batch = reco_pipeline::import::read_movielens(dir)
        .map_err(|e| Error::Usage(format!("{}: {e}", dir.display())))?;
    let mut by_user: std::collections::BTreeMap<String, Vec<(i64, String)>> =
        std::collections::BTreeMap::new();
    for r in &batch.ratings {
        by_user
            .entry(r.customer_id.clone())
            .or_default()
            .push((r.rated_at.millis(), r.item_id.clone()));
    }
    let mut sessions = Vec::new();
    for (n, (user, mut rated)) in by_user.into_iter().enumerate() {
        if !(n as u64 + seed).is_multiple_of(5) || rated.len() < 12 {
            continue;
        }
        rated.sort();
        let views: Vec<String> = rated[rated.len() - 10..]
            .iter()
            .map(|(_, i)| i.clone())
            .collect();
        sessions.push(Session {
            session_id: format!("visit-{user}"),
            customer_id: Some(user),
            login_at: 7,
            views,
        });
    }
    // The replayed views are the visits; the ratings they came from stay out.
    let replayed: std::collections::HashSet<(String, String)> = sessions
        .iter()
        .flat_map(|s| {
            let c = s.customer_id.clone().unwrap_or_default();
            s.views.iter().map(move |v| (c.clone(), v.clone()))
        })
        .collect();
    batch
        .ratings
        .retain(|r| !replayed.contains(&(r.customer_id.clone(), r.item_id.clone())));
    // Titles from u.item (Latin-1 in the original files; read leniently).
    let titles: std::collections::HashMap<String, String> = std::fs::read(dir.join("u.item"))
        .map(|bytes| {
            String::from_utf8_lossy(&bytes)
                .lines()
                .filter_map(|l| {
                    let mut f = l.split('|');
                    Some((f.next()?.to_string(), f.next()?.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    let products = batch
        .items
        .iter()
        .map(|i| Product {
            item_id: i.item_id.clone(),
            name: titles
                .get(&i.item_id)
                .cloned()
                .unwrap_or_else(|| format!("Film {}", i.item_id)),
            category: i.category.clone().unwrap_or_default(),
            style: i.tags.split(',').next().unwrap_or("").to_string(),
            brand: i.brand.clone().unwrap_or_default(),
            price: i.price.unwrap_or(0.0),
        })
        .collect();
    Ok((batch, sessions, products))
}

/// The storefront's side of a demo data dir: its catalogue and the token key.
pub fn site(config: &reco_core::Config, dir: &DataDir) -> Result<crate::site::DemoSite, Error> {
    let path = dir.root().join(CATALOGUE_FILE);
    let bytes = std::fs::read(&path).map_err(Error::at(&path))?;
    #[derive(serde::Deserialize)]
    struct Customers {
        customers: Vec<String>,
    }
    let parsed: Customers = serde_json::from_slice(&bytes).map_err(Error::json(path.display()))?;
    Ok(crate::site::DemoSite {
        catalogue: bytes.into(),
        customers: parsed.customers.into_iter().collect(),
        keys: dir.token_key(config)?,
        max_body_bytes: config.max_body_bytes,
    })
}
