//! The local runner: data-dir layout, the token secret, and the HTTP server that
//! puts the shared API on embedded storage.

mod body;
pub mod demo;
mod error;
pub mod server;
pub mod shop;
pub mod site;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use reco_api::Api;
use reco_core::{Config, Deadpool, SessionService, SessionStore, SystemClock, TokenKeys};

use reco_serving::{ModelSource, Recommender};

use reco_embedded::{FolderArtifactStore, SqliteSessionStore, SqliteWarehouse};

pub use error::{Error, ReplayError};

/// Files under `--data-dir`.
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Opens the folder, creating it readable by the owner only.
    pub fn open(root: &Path) -> std::io::Result<Self> {
        if !root.exists() {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(root)?;
        }
        Ok(DataDir {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn sessions_db(&self) -> PathBuf {
        self.root.join("sessions.sqlite")
    }

    pub fn warehouse_db(&self) -> PathBuf {
        self.root.join("warehouse.sqlite")
    }

    /// Models, manifests and reports (the local stand-in for the S3 bucket).
    pub fn artifacts(&self) -> PathBuf {
        self.root.join("artifacts")
    }

    pub fn token_secret_file(&self) -> PathBuf {
        self.root.join("token-secret")
    }

    /// The operator's secret: admin tokens are signed with it, and only with it.
    pub fn admin_secret_file(&self) -> PathBuf {
        self.root.join("admin-secret")
    }

    /// The configured secret (`RECO_TOKEN_SECRET`) when set; otherwise the data dir's
    /// secret, created with 32 random bytes on first use (mode 0600).
    pub fn token_key(&self, config: &Config) -> Result<TokenKeys, Error> {
        if let Some(secret) = &config.token_secret {
            return TokenKeys::parse(&secret.0)
                .map_err(|e| Error::Usage(format!("RECO_TOKEN_SECRET: {e}")));
        }
        Self::key_file(&self.token_secret_file())
    }

    /// The key admin tokens are signed and verified with: the data dir's
    /// `admin-secret`, created with 32 random bytes on first use (mode 0600). Never the
    /// visitor key: whoever signs visitor tokens cannot sign an admin token.
    pub fn admin_key(&self) -> Result<TokenKeys, Error> {
        Self::key_file(&self.admin_secret_file())
    }

    /// The key set in `path`, created on first use.
    fn key_file(path: &Path) -> Result<TokenKeys, Error> {
        let path = path.to_path_buf();
        match std::fs::read_to_string(&path) {
            Ok(secret) => TokenKeys::parse(&secret)
                .map_err(|e| Error::Usage(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut raw = [0u8; 32];
                getrandom::fill(&mut raw).map_err(Error::Random)?;
                let secret: String = raw.iter().map(|b| format!("{b:02x}")).collect();
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                match options.open(&path) {
                    Ok(mut f) => f.write_all(secret.as_bytes()).map_err(Error::at(&path))?,
                    // Another process created it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        return Self::key_file(&path);
                    }
                    Err(e) => return Err(Error::at(&path)(e)),
                }
                Ok(TokenKeys::new(secret)?)
            }
            Err(e) => Err(Error::at(&path)(e)),
        }
    }
}

/// The use cases on the data dir's embedded storage.
pub struct Local {
    pub api: Arc<Api>,
    pub deadpool: Deadpool,
    /// The session store the API and the deadpool share.
    pub sessions: Arc<SqliteSessionStore>,
    pub warehouse: SqliteWarehouse,
    pub artifacts: FolderArtifactStore,
    /// The model the recommendation routes serve, read from `artifacts`.
    pub models: Arc<ModelSource>,
}

impl Local {
    /// The training pipeline on this storage.
    pub fn pipeline(&self) -> reco_pipeline::train::Pipeline<'_> {
        reco_pipeline::train::Pipeline {
            warehouse: &self.warehouse,
            artifacts: &self.artifacts,
            clock: &SystemClock,
        }
    }
}

/// Opens the data dir at `path` (creating it if needed), naming the path in errors.
pub fn open_dir(path: &Path) -> Result<DataDir, Error> {
    DataDir::open(path).map_err(Error::at(path))
}

/// Opens the data dir at `path` and its storage.
pub fn open_at(config: &Config, path: &Path) -> Result<(DataDir, Local), Error> {
    let dir = open_dir(path)?;
    let local = open(config, &dir)?;
    Ok((dir, local))
}

/// Opens the data dir's storage (creating and migrating it as needed).
pub fn open(config: &Config, dir: &DataDir) -> Result<Local, Error> {
    for db in [dir.sessions_db(), dir.warehouse_db()] {
        owner_only_file(&db)?;
    }
    let sessions_db = dir.sessions_db();
    let sqlite_store =
        Arc::new(SqliteSessionStore::open(&sessions_db).map_err(Error::at(&sessions_db))?);
    let store: Arc<dyn SessionStore> = sqlite_store.clone();
    let lease: Arc<dyn reco_core::JobLease> = sqlite_store.clone();
    let warehouse_db = dir.warehouse_db();
    let warehouse = SqliteWarehouse::open(&warehouse_db).map_err(Error::at(&warehouse_db))?;
    let clock = Arc::new(SystemClock);
    let artifacts = FolderArtifactStore::new(&dir.artifacts());
    // No separate cache locally: the model in memory is the cache.
    let models = Arc::new(ModelSource::new(
        Arc::new(artifacts.clone()),
        None,
        std::time::Duration::from_secs(config.model_refresh_secs),
    ));
    let api = Api {
        sessions: SessionService::new(Arc::clone(&store), clock.clone(), config),
        tokens: dir
            .token_key(config)?
            .with_max_ttl(config.token_max_ttl_secs as i64),
        max_body_bytes: config.max_body_bytes,
        recommender: Some(Arc::new(Recommender::new(Arc::clone(&models)))),
        admin: Some(Arc::new(reco_api::admin::Admin {
            tokens: dir
                .admin_key()?
                .with_max_ttl(config.token_max_ttl_secs as i64),
            artifacts: Arc::new(artifacts.clone()),
            models: Some(Arc::clone(&models)),
            sessions: sqlite_store.clone(),
            warehouse: Arc::new(warehouse.clone()),
            session_timeout_secs: config.session_timeout_secs,
        })),
    };
    let deadpool = Deadpool::new(store, lease, Arc::new(warehouse.clone()), clock, config);
    Ok(Local {
        api: Arc::new(api),
        deadpool,
        sessions: sqlite_store,
        warehouse,
        artifacts,
        models,
    })
}

/// Creates `path` empty and readable by the owner only if it does not exist, so that
/// SQLite (which gives its journal files the database's mode) never makes it readable
/// by others; an existing file is narrowed to the owner.
fn owner_only_file(path: &Path) -> Result<(), Error> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(Error::at(path))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(Error::at(path))?;
    }
    Ok(())
}

/// Lowers the calling thread's scheduling priority (nice 10), which threads it starts
/// inherit: background training then yields the CPU to request handling.
pub fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: setpriority with who = 0 changes only the calling thread on Linux; it
        // takes no pointers.
        let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) };
        if rc != 0 {
            tracing::debug!("could not lower the training thread's priority");
        }
    }
}

/// Refresh, train, evaluate, gate and publish on the data dir, with a progress bar.
pub async fn train(
    local: &Local,
    options: &reco_pipeline::train::TrainOptions,
) -> Result<reco_pipeline::train::Outcome, Error> {
    let bar = indicatif::ProgressBar::new(options.epochs as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} epoch {pos}/{len} [{bar:30}] {msg} ({elapsed})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let outcome = local
        .pipeline()
        .run(options, None, |p| {
            bar.set_position(p.epoch as u64);
            bar.set_message(format!("loss {:.3}, P@10 {:.4}", p.loss, p.precision_at_10));
        })
        .await
        .map_err(Error::from);
    bar.finish_and_clear();
    outcome
}

/// `reco report`'s text: the current model, the sessions and click-through, from the
/// admin routes' JSON (`models`, `activity`).
pub fn print_report(models: &serde_json::Value, activity: &serde_json::Value) {
    let current = models["versions"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["current"] == true));
    match current {
        Some(v) => {
            let p = |x: &serde_json::Value| x.as_f64().map_or("-".into(), |x| format!("{x:.4}"));
            println!(
                "model {} (current of {}): P@10 {} (popularity {}), AUC {}",
                v["version"].as_str().unwrap_or("?"),
                models["versions"].as_array().map_or(0, Vec::len),
                p(&v["metrics"]["precision_at_10"]),
                p(&v["baseline"]["popular"]["precision_at_10"]),
                p(&v["metrics"]["auc"]),
            );
        }
        None => println!("no model published yet: run `reco train`"),
    }
    let s = &activity["sessions"];
    println!(
        "sessions: {} active, {} quarantined, {} archived; {} awaiting archive (lag {} s); \
         views: {} in the last minute, {} in the last hour",
        s["active"],
        s["quarantined"],
        s["archived"],
        s["awaiting_archive"],
        s["archive_lag_secs"],
        s["views_last_minute"],
        s["views_last_hour"]
    );
    let rows = activity["click_through"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if rows.is_empty() {
        println!("click-through: no impressions archived yet");
        return;
    }
    println!("click-through (archived sessions):");
    println!(
        "| {:<28} | {:<13} | {:>6} | {:>11} | {:>6} | {:>7} |",
        "model version", "strategy", "lists", "impressions", "clicks", "CTR"
    );
    println!(
        "|{:-<30}|{:-<15}|{:-<8}|{:-<13}|{:-<8}|{:-<9}|",
        "", "", "", "", "", ""
    );
    for r in rows {
        println!(
            "| {:<28} | {:<13} | {:>6} | {:>11} | {:>6} | {:>6.1}% |",
            r["model_version"].as_str().unwrap_or("?"),
            r["strategy"].as_str().unwrap_or("?"),
            r["recommendations"],
            r["impressions"],
            r["clicks"],
            100.0 * r["click_through"].as_f64().unwrap_or(0.0)
        );
    }
}

/// The end-of-run summary table.
pub fn print_summary(o: &reco_pipeline::train::Outcome, dir: &DataDir) {
    let row = |name: &str, s: Option<&reco_pipeline::train::Scores>| match s {
        Some(s) => println!(
            "| {name:<18} | {:>8.4} | {:>8.4} | {:>6.4} | {:>8.4} |",
            s.precision_at_10, s.recall_at_10, s.auc, s.ndcg_at_10
        ),
        None => println!(
            "| {name:<18} | {:>8} | {:>8} | {:>6} | {:>8} |",
            "-", "-", "-", "-"
        ),
    };
    println!(
        "data: {} users, {} items, {} positives ({} train, {} held out); fit {:.1} s",
        o.counts.users,
        o.counts.items,
        o.counts.positives,
        o.counts.train,
        o.counts.holdout,
        o.fit_seconds
    );
    println!(
        "| {:<18} | {:>8} | {:>8} | {:>6} | {:>8} |",
        "model", "P@10", "R@10", "AUC", "NDCG@10"
    );
    println!(
        "|{:-<20}|{:-<10}|{:-<10}|{:-<8}|{:-<10}|",
        "", "", "", "", ""
    );
    row(
        &format!("candidate {}", &o.version[..o.version.len().min(8)]),
        Some(&o.metrics),
    );
    row("current", o.current_metrics.as_ref());
    row("popularity", Some(&o.baseline_popular));
    match &o.session {
        Some(s) => println!(
            "session model: next view in the top 20 for {:.1}% of {} held-out views \
             (MRR@20 {:.1}%; popular items {:.1}%); view decay {}, transitions {}, repeats {}, \
             viewed items in neighbours {}, rarity {}",
            100.0 * s.hr_at_20,
            s.predictions,
            100.0 * s.mrr_at_20,
            100.0 * s.popular_hr_at_20,
            s.params.position_decay,
            s.params.transition_weight,
            s.params.repeat_weight,
            s.params.shared_weight,
            s.params.idf_weight
        ),
        None => println!("session model: too few archived sessions to hold any out"),
    }
    println!(
        "{} {}: {}",
        if o.published {
            "published"
        } else {
            "NOT published"
        },
        o.version,
        o.reason
    );
    println!(
        "artifacts: {}/models/{}/",
        dir.artifacts().display(),
        o.version
    );
}
