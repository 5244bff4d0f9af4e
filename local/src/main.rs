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
    /// Serve the HTTP API on embedded storage in DATA_DIR.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Apply the warehouse migrations: to DATA_DIR's SQLite warehouse, or with
    /// --rds-data to Aurora PostgreSQL through the RDS Data API (RECO_RDS_RESOURCE_ARN,
    /// RECO_RDS_SECRET_ARN, RECO_RDS_DATABASE; AWS_ENDPOINT_URL_RDS_DATA for the emulator).
    Migrate {
        #[arg(long, required_unless_present = "rds_data")]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        rds_data: bool,
    },
    /// Archive sessions inactive for RECO_SESSION_TIMEOUT_SECS into the warehouse, once.
    Deadpool {
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Print a visitor token the local server accepts (last line of output).
    Token {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        session: String,
        #[arg(long)]
        customer: Option<String>,
        /// Lifetime in seconds.
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
        Command::Serve { addr, data_dir } => {
            let dir =
                DataDir::open(&data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
            let local = reco::open(&config, &dir)?;
            let api = Arc::clone(&local.api);
            // The deadpool on a timer, as the schedule runs it in AWS.
            let interval = std::time::Duration::from_secs(config.deadpool_interval_secs);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let report = local.deadpool.run(None).await;
                    if report.archived + report.raced + report.failed > 0 {
                        tracing::info!(?report, "deadpool");
                    }
                }
            });
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            let bound = listener.local_addr().map_err(|e| e.to_string())?;
            tracing::info!(addr = %bound, data_dir = %data_dir.display(), "serving");
            reco::server::serve(listener, api, shutdown_signal())
                .await
                .map_err(|e| e.to_string())
        }
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
        Command::Deadpool { data_dir } => {
            let dir =
                DataDir::open(&data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
            let local = reco::open(&config, &dir)?;
            let r = local.deadpool.run(None).await;
            println!(
                "archived {} sessions ({} raced with new views, {} failed)",
                r.archived, r.raced, r.failed
            );
            if r.failed > 0 {
                return Err(format!("{} sessions could not be archived", r.failed));
            }
            Ok(())
        }
        Command::Token {
            data_dir,
            session,
            customer,
            ttl,
        } => {
            if ttl <= 0 {
                return Err("--ttl must be positive".into());
            }
            reco_api::validate::session_id(&session).map_err(|e| e.message)?;
            let dir =
                DataDir::open(&data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
            let key = dir.token_key()?;
            let claims = TokenClaims {
                sid: session,
                cid: customer,
                exp: SystemClock.now().seconds() + ttl,
            };
            println!("{}", key.sign(&claims));
            Ok(())
        }
    }
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
