//! The safetensors container of the serving bundle and its cached copy: writing with
//! this format's metadata and a header whose keys are sorted (the same tensors always
//! give the same bytes), and typed reading of named tensors.

use std::collections::HashMap;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

pub const FORMAT: &str = "reco-serving";
/// The version written. Version 2 added the session model's tensors.
pub const FORMAT_VERSION: &str = "2";
/// Versions read: a version-1 bundle serves without a session model.
pub const FORMAT_VERSIONS_READ: [&str; 2] = ["1", "2"];
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("serving bundle: {0}")]
pub struct BundleError(pub String);

pub(crate) fn err(m: impl Into<String>) -> BundleError {
    BundleError(m.into())
}

pub(crate) fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(crate) fn u32_bytes(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(crate) fn names_bytes(what: &str, names: &[String]) -> Result<Vec<u8>, BundleError> {
    if names.iter().any(|n| n.contains('\n')) {
        return Err(err(format!("{what}: a name contains a newline")));
    }
    Ok(names.join("\n").into_bytes())
}

pub(crate) fn names_from(bytes: &[u8], what: &str) -> Result<Vec<String>, BundleError> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let text = std::str::from_utf8(bytes).map_err(|_| err(format!("{what}: not UTF-8")))?;
    Ok(text.split('\n').map(str::to_string).collect())
}

/// A tensor to write: name, dtype, shape (empty: one dimension, the byte length).
pub(crate) type Owned = (&'static str, Dtype, Vec<usize>, Vec<u8>);

/// Serializes `owned` as a safetensors file with this format's metadata. The header's
/// keys are sorted, so the same tensors always give the same bytes.
pub(crate) fn serialize(owned: &[Owned]) -> Result<Vec<u8>, BundleError> {
    let mut views = Vec::with_capacity(owned.len());
    for (name, dtype, shape, bytes) in owned {
        let shape = if shape.is_empty() {
            vec![bytes.len()]
        } else {
            shape.clone()
        };
        let view =
            TensorView::new(*dtype, shape, bytes).map_err(|e| err(format!("{name}: {e}")))?;
        views.push((name.to_string(), view));
    }
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), FORMAT.to_string());
    meta.insert("format_version".to_string(), FORMAT_VERSION.to_string());
    let bytes =
        safetensors::tensor::serialize(views, Some(meta)).map_err(|e| err(e.to_string()))?;
    canonical_header(bytes)
}

/// `bytes` with its JSON header rewritten with sorted keys (the library writes the
/// metadata map in hash order); the tensor data is unchanged.
fn canonical_header(bytes: Vec<u8>) -> Result<Vec<u8>, BundleError> {
    let n = bytes
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_le_bytes)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| err("serialized header length"))?;
    let header = bytes
        .get(8..8 + n)
        .ok_or_else(|| err("serialized header out of range"))?;
    let mut value: serde_json::Value =
        serde_json::from_slice(header).map_err(|e| err(format!("serialized header: {e}")))?;
    value.sort_all_objects();
    let mut header = serde_json::to_vec(&value).map_err(|e| err(e.to_string()))?;
    header.resize(header.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + header.len() + bytes.len() - 8 - n);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&bytes[8 + n..]);
    Ok(out)
}

/// Opens a file of this format.
pub(crate) fn open(bytes: &[u8]) -> Result<SafeTensors<'_>, BundleError> {
    let (_, meta) =
        SafeTensors::read_metadata(bytes).map_err(|e| err(format!("not safetensors: {e}")))?;
    let meta = meta.metadata().clone().unwrap_or_default();
    let version = meta.get("format_version").map(String::as_str);
    if meta.get("format").map(String::as_str) != Some(FORMAT)
        || !version.is_some_and(|v| FORMAT_VERSIONS_READ.contains(&v))
    {
        return Err(err(format!(
            "not a {FORMAT} file of version {} (found {}); train a new version",
            FORMAT_VERSIONS_READ.join(" or "),
            version.unwrap_or("none")
        )));
    }
    SafeTensors::deserialize(bytes).map_err(|e| err(e.to_string()))
}

pub(crate) fn raw(st: &SafeTensors<'_>, name: &str, dtype: Dtype) -> Result<Vec<u8>, BundleError> {
    let t = st
        .tensor(name)
        .map_err(|_| err(format!("missing tensor {name}")))?;
    if t.dtype() != dtype {
        return Err(err(format!("{name}: expected {dtype:?}")));
    }
    Ok(t.data().to_vec())
}

pub(crate) fn f32s(st: &SafeTensors<'_>, name: &str) -> Result<Vec<f32>, BundleError> {
    Ok(raw(st, name, Dtype::F32)?
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

pub(crate) fn u32s(st: &SafeTensors<'_>, name: &str) -> Result<Vec<u32>, BundleError> {
    Ok(raw(st, name, Dtype::U32)?
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}
