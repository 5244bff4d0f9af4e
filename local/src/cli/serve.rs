//! `reco serve`: the API (and, for a demo shop, the storefront) on the data dir, with
//! the deadpool (and the deletion of expired archived sessions) and retraining on
//! timers as the schedules run them in AWS.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reco_core::{Clock, Config, SystemClock};

use super::schedule::every;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Listen on a non-loopback address. Tokens then travel in clear text unless a
    /// TLS proxy sits in front.
    #[arg(long)]
    pub allow_remote: bool,
}

pub async fn run(config: &Config, args: Args) -> Result<(), reco::Error> {
    serve(config, args.addr, &args.data_dir, args.allow_remote).await
}

/// Serves the API (and, for a demo shop, the storefront) on the data dir, with the
/// deadpool and retraining on timers as the schedules run them in AWS.
pub async fn serve(
    config: &Config,
    addr: SocketAddr,
    data_dir: &std::path::Path,
    allow_remote: bool,
) -> Result<(), reco::Error> {
    if !addr.ip().is_loopback() {
        if !allow_remote {
            return Err(reco::Error::Usage(format!(
                "--addr {addr} is not a loopback address: visitor tokens would cross the \
         network in clear text. Give --allow-remote to listen there anyway \
         (behind a TLS proxy)."
            )));
        }
        tracing::warn!(%addr, "listening beyond loopback: tokens travel in clear text unless a TLS proxy is in front");
    }
    let (dir, local) = reco::open_at(config, data_dir)?;
    let api = Arc::clone(&local.api);
    let local = Arc::new(local);
    // The deadpool on a timer, as the schedule runs it in AWS.
    let archiver = Arc::clone(&local);
    let period = Duration::from_secs(config.deadpool_interval_secs);
    every(period, Duration::ZERO, move || {
        let archiver = Arc::clone(&archiver);
        async move {
            let report = archiver.deadpool.run(None).await;
            if report.archived + report.raced + report.failed + report.quarantined > 0 {
                tracing::info!(?report, "deadpool");
            }
            // Archived sessions past RECO_ARCHIVED_TTL_DAYS go, as DynamoDB's TTL
            // deletes them in AWS.
            let now = SystemClock.now();
            let batch = reco_embedded::sessions::EXPIRED_BATCH;
            match archiver.sessions.delete_expired(now, batch).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "expired archived sessions deleted"),
                Err(e) => tracing::warn!(error = %e, "deleting expired archived sessions failed"),
            }
        }
    });
    // Retraining on a timer, as the daily schedule runs it in AWS.
    if config.train_interval_secs > 0 {
        let period = Duration::from_secs(config.train_interval_secs);
        let trainer = Arc::clone(&local);
        every(period, period, move || retrain(Arc::clone(&trainer)));
    }
    let demo = if reco::demo::is_demo(&dir) {
        Some(Arc::new(reco::demo::site(config, &dir)?))
    } else {
        None
    };
    let listen = |source| reco::Error::Listen {
        addr: addr.to_string(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(listen)?;
    let bound = listener.local_addr().map_err(listen)?;
    if demo.is_some() {
        println!("storefront: http://{bound}/demo/  (API and /reco.js at http://{bound}/)");
    }
    tracing::info!(addr = %bound, data_dir = %data_dir.display(), "serving");
    let router = reco::server::router(api, demo);
    let limits = reco::server::Limits::default();
    reco::server::serve(listener, router, limits, shutdown_signal())
        .await
        .map_err(|source| reco::Error::Listen {
            addr: bound.to_string(),
            source,
        })
}

/// One retraining run. Fitting is CPU-bound: it runs on a thread of its own, at a lower
/// scheduling priority that its worker threads inherit, so the runtime's workers keep
/// answering requests meanwhile.
async fn retrain(local: Arc<reco::Local>) {
    let handle = tokio::runtime::Handle::current();
    let (done, result) = tokio::sync::oneshot::channel();
    tracing::info!("retraining started");
    let worker = Arc::clone(&local);
    let spawned = std::thread::Builder::new()
        .name("retraining".into())
        .spawn(move || {
            reco::lower_thread_priority();
            let outcome = handle.block_on(worker.pipeline().run(&Default::default(), None, |_| {}));
            let _ = done.send(outcome);
        });
    let run = match spawned {
        Ok(_) => result.await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match run {
        Ok(Ok(o)) => {
            if o.published {
                local.models.invalidate();
            }
            tracing::info!(version = %o.version, published = o.published, reason = %o.reason, "retrained")
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "retraining failed"),
        Err(e) => tracing::error!(error = %e, "retraining task failed"),
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
