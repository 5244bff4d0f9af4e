//! The artifact store on S3: one object per key under an optional prefix. A `PutObject`
//! is atomic, so publishing `models/current.json` is a single write.
//! `AWS_S3_FORCE_PATH_STYLE=true` selects path-style addressing (moto, MinIO).

use async_trait::async_trait;
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use reco_core::{ArtifactError, ArtifactStore};

/// The IAM actions this adapter calls (a test holds template.yaml to it): objects
/// under the prefix, and listing the bucket so that a missing key answers NoSuchKey
/// rather than AccessDenied.
pub mod iam {
    pub const OBJECTS: &[&str] = &["s3:GetObject", "s3:PutObject"];
    /// `get` only.
    pub const OBJECTS_READ: &[&str] = &["s3:GetObject"];
    /// Lets a missing key read as "not found" rather than "access denied".
    pub const BUCKET: &[&str] = &["s3:ListBucket"];
}

/// Largest object read: a model of a million items by 128 components is ~1 GiB with
/// its optimiser state; anything larger is refused rather than filling the memory.
pub const MAX_OBJECT_BYTES: u64 = 2 << 30;

#[derive(Debug, Clone)]
pub struct S3ArtifactStore {
    client: Client,
    bucket: String,
    prefix: String,
}

/// An S3 client from the shared SDK config; `path_style` for S3 emulators
/// (`AWS_S3_FORCE_PATH_STYLE`).
pub fn client(config: &aws_config::SdkConfig, path_style: bool) -> Client {
    let conf = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(path_style)
        .build();
    Client::from_conf(conf)
}

fn error<E: std::error::Error + 'static, R: std::fmt::Debug>(e: SdkError<E, R>) -> ArtifactError {
    let transient = matches!(
        e,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
    );
    let text = DisplayErrorContext(&e).to_string();
    if transient {
        ArtifactError::Unavailable(text)
    } else {
        ArtifactError::Other(text)
    }
}

impl S3ArtifactStore {
    pub fn new(client: Client, bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        let mut prefix: String = prefix.into();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        S3ArtifactStore {
            client,
            bucket: bucket.into(),
            prefix,
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

#[async_trait]
impl ArtifactStore for S3ArtifactStore {
    async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), ArtifactError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.key(key))
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map(|_| ())
            .map_err(error)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ArtifactError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.key(key))
            .send()
            .await
        {
            Ok(out) => {
                let too_large = |n: u64| {
                    ArtifactError::Other(format!(
                        "{key}: {n} bytes is over the {MAX_OBJECT_BYTES}-byte limit for reads"
                    ))
                };
                let declared = out.content_length().unwrap_or(0).max(0) as u64;
                if declared > MAX_OBJECT_BYTES {
                    return Err(too_large(declared));
                }
                // The declared length is the server's word: count what arrives too.
                let mut body = out.body;
                let mut data = Vec::with_capacity(declared as usize);
                while let Some(chunk) = body
                    .try_next()
                    .await
                    .map_err(|e| ArtifactError::Unavailable(e.to_string()))?
                {
                    if (data.len() + chunk.len()) as u64 > MAX_OBJECT_BYTES {
                        return Err(too_large((data.len() + chunk.len()) as u64));
                    }
                    data.extend_from_slice(&chunk);
                }
                Ok(Some(data))
            }
            Err(SdkError::ServiceError(e)) if matches!(e.err(), GetObjectError::NoSuchKey(_)) => {
                Ok(None)
            }
            Err(e) => Err(error(e)),
        }
    }
}
