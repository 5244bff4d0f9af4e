//! What `reco`'s commands fail with. Each variant names what went wrong in words a
//! user can act on; `main` prints it once and exits with a failure status.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line asks for something that cannot be done.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Something went wrong with the file, folder or database at `path`.
    #[error("{}: {source}", path.display())]
    At {
        path: PathBuf,
        #[source]
        source: Box<Error>,
    },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Config(#[from] reco_core::config::ConfigError),
    #[error("the token secret: {0}")]
    Key(#[from] reco_core::token::KeyError),
    #[error("no randomness for a new token secret: {0}")]
    Random(getrandom::Error),
    #[error("{0}")]
    Secret(#[from] reco_secrets::SecretError),
    #[error("the session store: {0}")]
    Sessions(#[from] reco_core::StoreError),
    #[error("role {role}: {source}")]
    Role {
        role: String,
        #[source]
        source: reco_core::WarehouseError,
    },
    #[error("the warehouse: {0}")]
    Warehouse(#[from] reco_core::WarehouseError),
    #[error(transparent)]
    Train(#[from] reco_pipeline::train::TrainError),
    #[error("{0} sessions could not be archived")]
    NotArchived(usize),
    /// A use case answered with an API error (its message says why).
    #[error("{}", .0.message)]
    Api(reco_api::ApiError),
    /// The demo's replay of its visitors through the HTTP API.
    #[error("replaying the demo's sessions: {0}")]
    Replay(#[from] ReplayError),
}

/// Why the demo's replay of a session through the HTTP API failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{url}: {source}")]
    Request {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url}: {status} {body}")]
    Refused {
        url: String,
        status: reqwest::StatusCode,
        body: String,
    },
    #[error("a replay task stopped: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl Error {
    /// An error about the file, folder or database at `path`.
    pub fn at<E: Into<Error>>(path: &Path) -> impl FnOnce(E) -> Error + '_ {
        move |e| Error::At {
            path: path.to_path_buf(),
            source: Box::new(e.into()),
        }
    }

    /// A JSON error while reading or writing `what`.
    pub fn json(what: impl std::fmt::Display) -> impl FnOnce(serde_json::Error) -> Error {
        move |source| Error::Json {
            what: what.to_string(),
            source,
        }
    }
}

impl From<reco_api::ApiError> for Error {
    fn from(e: reco_api::ApiError) -> Self {
        Error::Api(e)
    }
}
