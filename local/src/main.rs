//! `reco`: the recommender on one machine.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use reco::DataDir;
use reco_core::{Clock, Config, SystemClock, TokenClaims};

#[derive(Parser)]
#[command(
    name = "reco",
    version,
    about = "Recommendations for websites, on one machine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a demo shop in a new DATA_DIR (a generated shop, or MovieLens), replay its
    /// visitors through the HTTP API, archive, train and publish, then serve the API,
    /// the storefront (/demo/) and reco.js.
    Demo {
        #[arg(long, default_value = "./reco-demo")]
        data_dir: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// The generated shop's seed: the same seed, the same shop.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// A MovieLens 100k folder to use instead of a generated shop.
        #[arg(long)]
        movielens: Option<PathBuf>,
        /// Stop once the model is published (`reco serve --data-dir DATA_DIR` serves it).
        #[arg(long)]
        no_serve: bool,
        /// Products per category (8 categories).
        #[arg(long, default_value_t = 60)]
        items_per_category: usize,
        #[arg(long, default_value_t = 400)]
        customers: usize,
        /// Visitor sessions replayed.
        #[arg(long, default_value_t = 2000)]
        sessions: usize,
    },
    /// Serve the HTTP API on embedded storage in DATA_DIR.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        #[arg(long)]
        data_dir: PathBuf,
        /// Listen on a non-loopback address. Tokens then travel in clear text unless a
        /// TLS proxy sits in front.
        #[arg(long)]
        allow_remote: bool,
    },
    /// Apply the warehouse migrations: to DATA_DIR's SQLite warehouse, or with
    /// --rds-data to Aurora PostgreSQL through the RDS Data API (RECO_RDS_RESOURCE_ARN,
    /// RECO_RDS_SECRET_ARN, RECO_RDS_DATABASE; AWS_ENDPOINT_URL_RDS_DATA for the emulator),
    /// then let the functions' roles log in with the passwords of the secrets listed
    /// in RECO_RDS_ROLE_SECRET_ARNS (comma-separated).
    Migrate {
        #[arg(long, required_unless_present = "rds_data")]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        rds_data: bool,
    },
    /// Load the warehouse from files: CSV (header row) or JSON-lines of customers,
    /// items, purchases, ratings, or a MovieLens 100k folder. All rows are checked
    /// first; if any is bad, each is reported with file and line and nothing is loaded.
    Import {
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Load into Aurora through the RDS Data API instead (RECO_RDS_*).
        #[arg(long)]
        rds_data: bool,
        #[arg(long)]
        movielens: Option<PathBuf>,
        #[arg(long)]
        customers: Vec<PathBuf>,
        #[arg(long)]
        items: Vec<PathBuf>,
        #[arg(long)]
        purchases: Vec<PathBuf>,
        #[arg(long)]
        ratings: Vec<PathBuf>,
    },
    /// Refresh, train, evaluate, gate and publish a model from DATA_DIR's warehouse.
    Train {
        #[arg(long)]
        data_dir: PathBuf,
        /// Training options as JSON (the state machine's input), e.g. '{"epochs": 30}'.
        #[arg(long)]
        options: Option<String>,
        #[arg(long)]
        epochs: Option<usize>,
        #[arg(long)]
        components: Option<usize>,
        #[arg(long)]
        loss: Option<String>,
        /// Publish even if worse than the current model.
        #[arg(long)]
        force: bool,
    },
    /// Republish a previous model version (default: the one before the current).
    Rollback {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        to: Option<String>,
    },
    /// Archive sessions inactive for RECO_SESSION_TIMEOUT_SECS into the warehouse, once.
    Deadpool {
        #[arg(long)]
        data_dir: PathBuf,
        /// Archive every active session now, however recent its last view (before a
        /// training run by hand, or to see click-through at once); a visitor's next
        /// view then starts a new session.
        #[arg(long)]
        all: bool,
    },
    /// Print what the data dir serves and how it does: the current model with its
    /// metrics, the sessions (active, quarantined, archived, archive lag, views per
    /// minute) and click-through per model version and strategy.
    Report {
        #[arg(long)]
        data_dir: PathBuf,
        /// The same as JSON (what GET /v1/admin/models and /v1/admin/activity give).
        #[arg(long)]
        json: bool,
    },
    /// Print a visitor token the local server accepts (last line of output).
    Token {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long, required_unless_present = "admin")]
        session: Option<String>,
        #[arg(long, conflicts_with = "admin")]
        customer: Option<String>,
        /// An operator's token for the /v1/admin routes and the /admin page.
        #[arg(long, conflicts_with = "session")]
        admin: bool,
        /// Lifetime in seconds (at most RECO_TOKEN_MAX_TTL_SECS).
        #[arg(long, default_value_t = 3600)]
        ttl: i64,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    match cli.command {
        Command::Demo {
            data_dir,
            addr,
            seed,
            movielens,
            no_serve,
            items_per_category,
            customers,
            sessions,
        } => {
            if items_per_category == 0 || items_per_category > 10_000 {
                return Err("--items-per-category must be 1..=10000".into());
            }
            if customers > 1_000_000 || sessions > 1_000_000 {
                return Err("--customers and --sessions must be at most 1000000".into());
            }
            let options = reco::demo::DemoOptions {
                data_dir: data_dir.clone(),
                seed,
                movielens,
                size: reco::shop::ShopSize {
                    items_per_category,
                    customers,
                    sessions,
                },
            };
            let report = reco::demo::run(&config, &options).await?;
            println!(
                "demo shop ready in {:.1} s: {} views replayed, {} sessions archived",
                report.seconds, report.views_sent, report.archived
            );
            if no_serve {
                println!(
                    "serve it with: reco serve --data-dir {}",
                    data_dir.display()
                );
                return Ok(());
            }
            serve(&config, addr, &data_dir, false).await
        }
        Command::Serve {
            addr,
            data_dir,
            allow_remote,
        } => serve(&config, addr, &data_dir, allow_remote).await,
        Command::Migrate { data_dir, rds_data } => {
            if rds_data {
                let target = reco_rdsdata::Target::from_env()?;
                let aws = aws_config::load_from_env().await;
                let rds = reco_rdsdata::RdsData::new(aws_sdk_rdsdata::Client::new(&aws), target);
                let applied = reco_rdsdata::migrate::apply(&rds)
                    .await
                    .map_err(|e| e.to_string())?;
                println!(
                    "applied {} migration(s) to {}: {:?}",
                    applied.len(),
                    rds.target().database,
                    applied
                );
                let arns = std::env::var("RECO_RDS_ROLE_SECRET_ARNS").unwrap_or_default();
                for arn in arns.split(',').map(str::trim).filter(|a| !a.is_empty()) {
                    let (role, password) = reco_secrets::database_credentials(&aws, arn)
                        .await
                        .map_err(|e| e.to_string())?;
                    reco_rdsdata::migrate::set_role_password(&rds, &role, &password)
                        .await
                        .map_err(|e| format!("{role}: {e}"))?;
                    println!("role {role} logs in with the password of {arn}");
                }
            } else if let Some(data_dir) = data_dir {
                let dir =
                    DataDir::open(&data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
                reco::open(&config, &dir)?;
                println!(
                    "warehouse at {} is up to date",
                    dir.warehouse_db().display()
                );
            }
            Ok(())
        }
        Command::Import {
            data_dir,
            rds_data,
            movielens,
            customers,
            items,
            purchases,
            ratings,
        } => {
            use reco_pipeline::import::{read_files, read_movielens, Kind};
            let mut batch = match &movielens {
                Some(dir) => read_movielens(dir).map_err(|e| e.to_string())?,
                None => reco_core::warehouse::ImportBatch::default(),
            };
            let mut files = Vec::new();
            for (list, kind) in [
                (customers, Kind::Customers),
                (items, Kind::Items),
                (purchases, Kind::Purchases),
                (ratings, Kind::Ratings),
            ] {
                files.extend(list.into_iter().map(|p| (p, kind)));
            }
            let more =
                read_files(&files).map_err(|e| format!("nothing was loaded; bad rows:\n{e}"))?;
            batch.customers.extend(more.customers);
            batch.items.extend(more.items);
            batch.purchases.extend(more.purchases);
            batch.ratings.extend(more.ratings);
            if batch.is_empty() {
                return Err("nothing to import: give --movielens or --customers/--items/--purchases/--ratings files".into());
            }
            let warehouse: Box<dyn reco_core::Warehouse> = if rds_data {
                let target = reco_rdsdata::Target::from_env()?;
                let aws = aws_config::load_from_env().await;
                Box::new(reco_rdsdata::RdsData::new(
                    aws_sdk_rdsdata::Client::new(&aws),
                    target,
                ))
            } else {
                let data_dir = data_dir.ok_or("give --data-dir, or --rds-data")?;
                let dir =
                    DataDir::open(&data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
                Box::new(reco::open(&config, &dir)?.warehouse)
            };
            warehouse
                .load(&batch)
                .await
                .map_err(|e| format!("nothing was loaded: {e}"))?;
            println!(
                "loaded {} customers, {} items, {} purchases, {} ratings",
                batch.customers.len(),
                batch.items.len(),
                batch.purchases.len(),
                batch.ratings.len()
            );
            Ok(())
        }
        Command::Train {
            data_dir,
            options,
            epochs,
            components,
            loss,
            force,
        } => {
            let mut opts: reco_pipeline::train::TrainOptions = match options {
                Some(json) => serde_json::from_str(&json).map_err(|e| format!("--options: {e}"))?,
                None => Default::default(),
            };
            if let Some(e) = epochs {
                opts.epochs = e;
            }
            if let Some(c) = components {
                opts.components = c;
            }
            if let Some(l) = loss {
                opts.loss = l;
            }
            opts.force |= force;
            let dir =
                DataDir::open(&data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
            let local = reco::open(&config, &dir)?;
            let outcome = reco::train(&local, &opts).await?;
            reco::print_summary(&outcome, &dir);
            Ok(())
        }
        Command::Rollback { data_dir, to } => {
            let dir =
                DataDir::open(&data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
            let local = reco::open(&config, &dir)?;
            let pointer =
                reco_pipeline::train::rollback(&local.artifacts, to.as_deref(), SystemClock.now())
                    .await
                    .map_err(|e| e.to_string())?;
            println!(
                "published {} (previous: {:?})",
                pointer.version, pointer.previous
            );
            Ok(())
        }
        Command::Deadpool { data_dir, all } => {
            let dir =
                DataDir::open(&data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
            let config = if all {
                Config {
                    session_timeout_secs: 0,
                    ..config
                }
            } else {
                config
            };
            let local = reco::open(&config, &dir)?;
            let r = local.deadpool.run(None).await;
            println!(
                "archived {} sessions ({} raced with new views, {} quarantined, {} failed)",
                r.archived, r.raced, r.quarantined, r.failed
            );
            if r.failed > 0 {
                return Err(format!("{} sessions could not be archived", r.failed));
            }
            Ok(())
        }
        Command::Report { data_dir, json } => {
            let dir =
                DataDir::open(&data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
            let local = reco::open(&config, &dir)?;
            let admin = local
                .api
                .admin
                .as_ref()
                .ok_or("the local API has no admin routes")?;
            let now = SystemClock.now();
            let models = admin.models().await.map_err(|e| e.message)?;
            let activity = admin.activity(now).await.map_err(|e| e.message)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"models": models, "activity": activity})
                );
            } else {
                reco::print_report(&models, &activity);
            }
            Ok(())
        }
        Command::Token {
            data_dir,
            session,
            customer,
            admin,
            ttl,
        } => {
            if ttl <= 0 || ttl > config.token_max_ttl_secs as i64 {
                return Err(format!(
                    "--ttl must be 1..={} seconds (RECO_TOKEN_MAX_TTL_SECS)",
                    config.token_max_ttl_secs
                ));
            }
            // An admin token names no visitor session; "admin" fills the field.
            let session = session.unwrap_or_else(|| "admin".to_string());
            reco_api::validate::session_id(&session).map_err(|e| e.message)?;
            if let Some(c) = &customer {
                reco_core::ids::customer_id(c).map_err(|e| format!("--customer {e}"))?;
            }
            let dir =
                DataDir::open(&data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
            let key = dir.token_key()?;
            let now = SystemClock.now().seconds();
            let claims = TokenClaims {
                sid: session,
                cid: customer,
                iat: now,
                exp: now + ttl,
                adm: admin,
            };
            println!("{}", key.sign(&claims));
            Ok(())
        }
    }
}

/// Serves the API (and, for a demo shop, the storefront) on the data dir, with the
/// deadpool and retraining on timers as the schedules run them in AWS.
async fn serve(
    config: &Config,
    addr: SocketAddr,
    data_dir: &std::path::Path,
    allow_remote: bool,
) -> Result<(), String> {
    if !addr.ip().is_loopback() {
        if !allow_remote {
            return Err(format!(
                "--addr {addr} is not a loopback address: visitor tokens would cross the \
         network in clear text. Give --allow-remote to listen there anyway \
         (behind a TLS proxy)."
            ));
        }
        tracing::warn!(%addr, "listening beyond loopback: tokens travel in clear text unless a TLS proxy is in front");
    }
    let dir = DataDir::open(data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let local = reco::open(config, &dir)?;
    let api = Arc::clone(&local.api);
    // The deadpool on a timer, as the schedule runs it in AWS.
    let interval = std::time::Duration::from_secs(config.deadpool_interval_secs);
    let local = Arc::new(local);
    let archiver = Arc::clone(&local);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let report = archiver.deadpool.run(None).await;
            if report.archived + report.raced + report.failed + report.quarantined > 0 {
                tracing::info!(?report, "deadpool");
            }
        }
    });
    // Retraining on a timer, as the daily schedule runs it in AWS.
    if config.train_interval_secs > 0 {
        let every = std::time::Duration::from_secs(config.train_interval_secs);
        let trainer = Arc::clone(&local);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                // Fitting is CPU-bound: it runs on a thread of its own, at a
                // lower scheduling priority that its worker threads inherit,
                // so the runtime's workers keep answering requests meanwhile.
                let local = Arc::clone(&trainer);
                let handle = tokio::runtime::Handle::current();
                let (done, result) = tokio::sync::oneshot::channel();
                tracing::info!("retraining started");
                let spawned =
                    std::thread::Builder::new()
                        .name("retraining".into())
                        .spawn(move || {
                            reco::lower_thread_priority();
                            let pipeline = reco_pipeline::train::Pipeline {
                                warehouse: &local.warehouse,
                                artifacts: &local.artifacts,
                                clock: &SystemClock,
                            };
                            let outcome =
                                handle.block_on(pipeline.run(&Default::default(), None, |_| {}));
                            let _ = done.send(outcome);
                        });
                let run = match spawned {
                    Ok(_) => result.await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                match run {
                    Ok(Ok(o)) => {
                        if o.published {
                            trainer.models.invalidate();
                        }
                        tracing::info!(version = %o.version, published = o.published, reason = %o.reason, "retrained")
                    }
                    Ok(Err(e)) => tracing::warn!(error = %e, "retraining failed"),
                    Err(e) => tracing::error!(error = %e, "retraining task failed"),
                }
            }
        });
    }
    let demo = if reco::demo::is_demo(&dir) {
        Some(Arc::new(reco::demo::site(&dir)?))
    } else {
        None
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    if demo.is_some() {
        println!("storefront: http://{bound}/demo/  (API and /reco.js at http://{bound}/)");
    }
    tracing::info!(addr = %bound, data_dir = %data_dir.display(), "serving");
    reco::server::serve(listener, reco::server::router(api, demo), shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
