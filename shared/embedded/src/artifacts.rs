//! The artifact store on a folder: each key is a file under the root; writes go to a
//! temporary file that is renamed into place, so readers never see a partial object.

use std::path::{Component, Path, PathBuf};

use async_trait::async_trait;
use reco_core::{ArtifactError, ArtifactStore};

#[derive(Debug, Clone)]
pub struct FolderArtifactStore {
    root: PathBuf,
}

impl FolderArtifactStore {
    pub fn new(root: &Path) -> Self {
        FolderArtifactStore {
            root: root.to_path_buf(),
        }
    }

    fn path(&self, key: &str) -> Result<PathBuf, ArtifactError> {
        let rel = Path::new(key);
        if key.is_empty() || rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(ArtifactError::Other(format!(
                "invalid artifact key `{key}`"
            )));
        }
        Ok(self.root.join(rel))
    }
}

#[async_trait]
impl ArtifactStore for FolderArtifactStore {
    async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        _content_type: &str,
    ) -> Result<(), ArtifactError> {
        let path = self.path(key)?;
        tokio::task::spawn_blocking(move || {
            let dir = path
                .parent()
                .ok_or_else(|| ArtifactError::Other("no parent".into()))?;
            std::fs::create_dir_all(dir)
                .map_err(|e| ArtifactError::Other(format!("{}: {e}", dir.display())))?;
            let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
            std::fs::write(&tmp, &bytes)
                .map_err(|e| ArtifactError::Other(format!("{}: {e}", tmp.display())))?;
            std::fs::rename(&tmp, &path)
                .map_err(|e| ArtifactError::Other(format!("{}: {e}", path.display())))
        })
        .await
        .map_err(|e| ArtifactError::Other(e.to_string()))?
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ArtifactError> {
        let path = self.path(key)?;
        tokio::task::spawn_blocking(move || match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ArtifactError::Other(format!("{}: {e}", path.display()))),
        })
        .await
        .map_err(|e| ArtifactError::Other(e.to_string()))?
    }
}
