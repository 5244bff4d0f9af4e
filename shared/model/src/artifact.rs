//! The model artifact: one safetensors file (a JSON header followed by raw
//! little-endian tensors) holding every parameter, the schedule state (so training
//! can continue), the feature matrices, the id maps and feature names, the
//! hyperparameters, a format version and a SHA-256 of all tensor bytes. The layout is
//! documented in docs/model-format.md. Loading refuses truncated, corrupted or
//! unknown-version files with a clear error.

use std::collections::HashMap;

use ndarray::{Array1, Array2};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use sha2::{Digest, Sha256};

use crate::csr::Csr;
use crate::model::{Model, ModelError, SideParams};
use crate::params::Params;

pub const FORMAT: &str = "reco-model";
pub const FORMAT_VERSION: &str = "1";

/// External names of the model's rows and features.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Catalog {
    pub user_ids: Vec<String>,
    pub item_ids: Vec<String>,
    pub user_feature_names: Vec<String>,
    pub item_feature_names: Vec<String>,
}

fn err(m: impl Into<String>) -> ModelError {
    ModelError::Artifact(m.into())
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn u32_bytes(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn u64_bytes(values: &[usize]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|&v| (v as u64).to_le_bytes())
        .collect()
}

fn names_bytes(what: &str, names: &[String]) -> Result<Vec<u8>, ModelError> {
    if let Some(n) = names.iter().find(|n| n.contains('\n')) {
        return Err(err(format!(
            "{what}: `{}` contains a newline",
            n.escape_debug()
        )));
    }
    Ok(names.join("\n").into_bytes())
}

struct Owned {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

fn tensors(model: &Model, catalog: &Catalog) -> Result<Vec<Owned>, ModelError> {
    let mut out = Vec::new();
    let mut add = |name: &str, dtype: Dtype, shape: Vec<usize>, data: Vec<u8>| {
        out.push(Owned {
            name: name.to_string(),
            dtype,
            shape,
            data,
        })
    };
    for (side, p) in [("user", &model.users), ("item", &model.items)] {
        let two = |a: &Array2<f32>| {
            (
                vec![a.nrows(), a.ncols()],
                f32_bytes(&a.iter().copied().collect::<Vec<_>>()),
            )
        };
        let one = |a: &Array1<f32>| (vec![a.len()], f32_bytes(&a.to_vec()));
        for (suffix, (shape, data)) in [
            ("embeddings", two(&p.embeddings)),
            ("emb_acc", two(&p.emb_acc)),
            ("emb_step", two(&p.emb_step)),
        ] {
            add(&format!("{side}_{suffix}"), Dtype::F32, shape, data);
        }
        for (suffix, (shape, data)) in [
            ("biases", one(&p.biases)),
            ("bias_acc", one(&p.bias_acc)),
            ("bias_step", one(&p.bias_step)),
        ] {
            add(&format!("{side}_{suffix}"), Dtype::F32, shape, data);
        }
    }
    for (side, f) in [
        ("user", &model.user_features),
        ("item", &model.item_features),
    ] {
        add(
            &format!("{side}_features.indptr"),
            Dtype::U64,
            vec![f.indptr().len()],
            u64_bytes(f.indptr()),
        );
        add(
            &format!("{side}_features.indices"),
            Dtype::U32,
            vec![f.nnz()],
            u32_bytes(f.indices()),
        );
        add(
            &format!("{side}_features.data"),
            Dtype::F32,
            vec![f.nnz()],
            f32_bytes(f.data()),
        );
    }
    for (name, names) in [
        ("user_ids", &catalog.user_ids),
        ("item_ids", &catalog.item_ids),
        ("user_feature_names", &catalog.user_feature_names),
        ("item_feature_names", &catalog.item_feature_names),
    ] {
        let bytes = names_bytes(name, names)?;
        add(name, Dtype::U8, vec![bytes.len()], bytes);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn checksum<'a>(parts: impl Iterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut h = Sha256::new();
    for (name, data) in parts {
        h.update(name.as_bytes());
        h.update((data.len() as u64).to_le_bytes());
        h.update(data);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Serialises a model and its catalog.
pub fn to_bytes(model: &Model, catalog: &Catalog) -> Result<Vec<u8>, ModelError> {
    if catalog.user_ids.len() != model.n_users() && !catalog.user_ids.is_empty() {
        return Err(err(format!(
            "catalog names {} users; the model has {}",
            catalog.user_ids.len(),
            model.n_users()
        )));
    }
    if catalog.item_ids.len() != model.n_items() && !catalog.item_ids.is_empty() {
        return Err(err(format!(
            "catalog names {} items; the model has {}",
            catalog.item_ids.len(),
            model.n_items()
        )));
    }
    let owned = tensors(model, catalog)?;
    let sum = checksum(owned.iter().map(|t| (t.name.as_str(), t.data.as_slice())));
    let metadata = HashMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("format_version".to_string(), FORMAT_VERSION.to_string()),
        (
            "params".to_string(),
            serde_json::to_string(&model.params).map_err(|e| err(e.to_string()))?,
        ),
        ("epochs".to_string(), model.epochs.to_string()),
        (
            "user_features_shape".to_string(),
            format!(
                "{},{}",
                model.user_features.n_rows(),
                model.user_features.n_cols()
            ),
        ),
        (
            "item_features_shape".to_string(),
            format!(
                "{},{}",
                model.item_features.n_rows(),
                model.item_features.n_cols()
            ),
        ),
        ("sha256".to_string(), sum),
    ]);
    let views = owned
        .iter()
        .map(|t| {
            TensorView::new(t.dtype, t.shape.clone(), &t.data)
                .map(|v| (t.name.clone(), v))
                .map_err(|e| err(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    safetensors::tensor::serialize(views, Some(metadata)).map_err(|e| err(e.to_string()))
}

fn tensor<'a>(
    st: &SafeTensors<'a>,
    name: &str,
    dtype: Dtype,
) -> Result<TensorView<'a>, ModelError> {
    let t = st
        .tensor(name)
        .map_err(|_| err(format!("tensor `{name}` is missing")))?;
    if t.dtype() != dtype {
        return Err(err(format!(
            "tensor `{name}` is {:?}, expected {dtype:?}",
            t.dtype()
        )));
    }
    Ok(t)
}

fn read_f32(t: &TensorView<'_>) -> Vec<f32> {
    t.data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn array2(st: &SafeTensors<'_>, name: &str) -> Result<Array2<f32>, ModelError> {
    let t = tensor(st, name, Dtype::F32)?;
    let shape = t.shape().to_vec();
    if shape.len() != 2 {
        return Err(err(format!("tensor `{name}` is not a matrix")));
    }
    let values = finite(name, read_f32(&t))?;
    Array2::from_shape_vec((shape[0], shape[1]), values).map_err(|e| err(format!("{name}: {e}")))
}

fn array1(st: &SafeTensors<'_>, name: &str) -> Result<Array1<f32>, ModelError> {
    let t = tensor(st, name, Dtype::F32)?;
    if t.shape().len() != 1 {
        return Err(err(format!("tensor `{name}` is not a vector")));
    }
    Ok(Array1::from(finite(name, read_f32(&t))?))
}

/// Refuses NaN and infinities: a model holding one scores every item as NaN.
fn finite(name: &str, values: Vec<f32>) -> Result<Vec<f32>, ModelError> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(values),
        Some(i) => Err(err(format!(
            "tensor `{name}` holds a non-finite value at {i}"
        ))),
    }
}

fn names(st: &SafeTensors<'_>, name: &str) -> Result<Vec<String>, ModelError> {
    let t = tensor(st, name, Dtype::U8)?;
    let text = std::str::from_utf8(t.data()).map_err(|_| err(format!("`{name}` is not UTF-8")))?;
    Ok(if text.is_empty() {
        Vec::new()
    } else {
        text.split('\n').map(str::to_string).collect()
    })
}

fn shape(meta: &HashMap<String, String>, key: &str) -> Result<(usize, usize), ModelError> {
    let v = meta
        .get(key)
        .ok_or_else(|| err(format!("metadata `{key}` is missing")))?;
    let (r, c) = v
        .split_once(',')
        .ok_or_else(|| err(format!("metadata `{key}` is malformed")))?;
    let parse = |s: &str| {
        s.parse::<usize>()
            .map_err(|_| err(format!("metadata `{key}` is malformed")))
    };
    Ok((parse(r)?, parse(c)?))
}

fn features(
    st: &SafeTensors<'_>,
    side: &str,
    (rows, cols): (usize, usize),
) -> Result<Csr, ModelError> {
    let indptr = tensor(st, &format!("{side}_features.indptr"), Dtype::U64)?;
    let indptr: Vec<usize> = indptr
        .data()
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as usize)
        .collect();
    let indices: Vec<u32> = tensor(st, &format!("{side}_features.indices"), Dtype::U32)?
        .data()
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let name = format!("{side}_features.data");
    let data = finite(&name, read_f32(&tensor(st, &name, Dtype::F32)?))?;
    if rows.checked_add(1).is_none() {
        return Err(err(format!(
            "metadata `{side}_features_shape` is out of range"
        )));
    }
    Csr::from_parts(rows, cols, indptr, indices, data)
        .map_err(|e| err(format!("{side}_features: {e}")))
}

/// Reads a model and its catalog, checking format, version, checksum and shapes.
pub fn from_bytes(bytes: &[u8]) -> Result<(Model, Catalog), ModelError> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| {
        err(format!(
            "not a readable model file (truncated or corrupted?): {e}"
        ))
    })?;
    let (_, header) =
        SafeTensors::read_metadata(bytes).map_err(|e| err(format!("unreadable header: {e}")))?;
    let meta = header
        .metadata()
        .clone()
        .ok_or_else(|| err("header has no metadata"))?;
    if meta.get("format").map(String::as_str) != Some(FORMAT) {
        return Err(err("not a reco model file"));
    }
    match meta.get("format_version").map(String::as_str) {
        Some(FORMAT_VERSION) => {}
        other => {
            return Err(err(format!(
                "format version {other:?} is not supported (expected {FORMAT_VERSION})"
            )))
        }
    }
    let mut names_sorted: Vec<String> = st.names().into_iter().map(str::to_string).collect();
    names_sorted.sort();
    let views: Vec<(String, TensorView<'_>)> = names_sorted
        .iter()
        .map(|n| {
            st.tensor(n)
                .map(|t| (n.clone(), t))
                .map_err(|e| err(e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    let sum = checksum(views.iter().map(|(n, t)| (n.as_str(), t.data())));
    if meta.get("sha256") != Some(&sum) {
        return Err(err("checksum mismatch: the file is corrupted"));
    }
    let params: Params = serde_json::from_str(
        meta.get("params")
            .ok_or_else(|| err("metadata `params` is missing"))?,
    )
    .map_err(|e| err(format!("params: {e}")))?;
    params.validate()?;
    let epochs = meta
        .get("epochs")
        .and_then(|e| e.parse().ok())
        .ok_or_else(|| err("metadata `epochs` is missing"))?;
    let side = |s: &str| -> Result<SideParams, ModelError> {
        Ok(SideParams {
            embeddings: array2(&st, &format!("{s}_embeddings"))?,
            biases: array1(&st, &format!("{s}_biases"))?,
            emb_acc: array2(&st, &format!("{s}_emb_acc"))?,
            bias_acc: array1(&st, &format!("{s}_bias_acc"))?,
            emb_step: array2(&st, &format!("{s}_emb_step"))?,
            bias_step: array1(&st, &format!("{s}_bias_step"))?,
        })
    };
    let users = side("user")?;
    let items = side("item")?;
    let user_features = features(&st, "user", shape(&meta, "user_features_shape")?)?;
    let item_features = features(&st, "item", shape(&meta, "item_features_shape")?)?;
    let catalog = Catalog {
        user_ids: names(&st, "user_ids")?,
        item_ids: names(&st, "item_ids")?,
        user_feature_names: names(&st, "user_feature_names")?,
        item_feature_names: names(&st, "item_feature_names")?,
    };
    let d = params.no_components;
    for (what, p, f, ids, feature_names) in [
        (
            "user",
            &users,
            &user_features,
            &catalog.user_ids,
            &catalog.user_feature_names,
        ),
        (
            "item",
            &items,
            &item_features,
            &catalog.item_ids,
            &catalog.item_feature_names,
        ),
    ] {
        let rows = f.n_cols();
        let mismatch = |tensor: &str, found: String, expected: String| {
            Err(err(format!(
                "tensor `{what}_{tensor}` has shape {found}, expected {expected}"
            )))
        };
        // Adadelta keeps a step per row; adagrad none.
        let steps = match params.schedule {
            crate::params::Schedule::Adagrad { .. } => 0,
            crate::params::Schedule::Adadelta { .. } => rows,
        };
        for (tensor, m, n, width) in [
            ("embeddings", &p.embeddings, rows, d),
            ("emb_acc", &p.emb_acc, rows, params.acc_width()),
            ("emb_step", &p.emb_step, steps, d),
        ] {
            if m.dim() != (n, width) {
                return mismatch(tensor, format!("{:?}", m.dim()), format!("({n}, {width})"));
            }
        }
        for (tensor, v, n) in [
            ("biases", &p.biases, rows),
            ("bias_acc", &p.bias_acc, rows),
            ("bias_step", &p.bias_step, steps),
        ] {
            if v.len() != n {
                return mismatch(tensor, format!("[{}]", v.len()), format!("[{n}]"));
            }
        }
        if !ids.is_empty() && ids.len() != f.n_rows() {
            return Err(err(format!(
                "tensor `{what}_ids` names {} {what}s, the feature matrix has {} rows",
                ids.len(),
                f.n_rows()
            )));
        }
        if !feature_names.is_empty() && feature_names.len() != f.n_cols() {
            return Err(err(format!(
                "tensor `{what}_feature_names` names {} features, the feature matrix has {} columns",
                feature_names.len(),
                f.n_cols()
            )));
        }
    }
    let model = Model {
        params,
        users,
        items,
        user_features,
        item_features,
        epochs,
    };
    Ok((model, catalog))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csr::Interactions;

    fn fitted() -> (Vec<u8>, Catalog) {
        let pairs: Vec<(u32, u32)> = (0..40u32).map(|u| (u % 8, (u * 7) % 10)).collect();
        let train = Interactions::from_pairs(8, 10, &pairs);
        let params = Params {
            no_components: 4,
            threads: 1,
            ..Params::default()
        };
        let model = params
            .fit(&train, Csr::identity(8), Csr::identity(10), 2)
            .expect("fits");
        let catalog = Catalog {
            user_ids: (0..8).map(|u| format!("u{u}")).collect(),
            item_ids: (0..10).map(|i| format!("i{i}")).collect(),
            user_feature_names: Vec::new(),
            item_feature_names: Vec::new(),
        };
        (to_bytes(&model, &catalog).expect("serialises"), catalog)
    }

    /// Rewrites a model file with one tensor changed and a checksum that matches the
    /// change, as a buggy writer (not a corrupted disk) would produce it.
    fn rewritten(
        bytes: &[u8],
        name: &str,
        change: impl Fn(&mut Vec<usize>, &mut Vec<u8>),
    ) -> Vec<u8> {
        let st = SafeTensors::deserialize(bytes).expect("valid");
        let (_, header) = SafeTensors::read_metadata(bytes).expect("header");
        let mut meta = header.metadata().clone().expect("metadata");
        let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = st
            .names()
            .into_iter()
            .map(|n| {
                let t = st.tensor(n).expect("tensor");
                (
                    n.to_string(),
                    t.dtype(),
                    t.shape().to_vec(),
                    t.data().to_vec(),
                )
            })
            .collect();
        owned.sort_by(|a, b| a.0.cmp(&b.0));
        let target = owned
            .iter_mut()
            .find(|t| t.0 == name)
            .expect("named tensor");
        change(&mut target.2, &mut target.3);
        meta.insert(
            "sha256".into(),
            checksum(owned.iter().map(|t| (t.0.as_str(), t.3.as_slice()))),
        );
        let views: Vec<(String, TensorView<'_>)> = owned
            .iter()
            .map(|t| {
                (
                    t.0.clone(),
                    TensorView::new(t.1, t.2.clone(), &t.3).expect("view"),
                )
            })
            .collect();
        safetensors::tensor::serialize(views, Some(meta)).expect("serialises")
    }

    fn refusal(bytes: &[u8]) -> String {
        from_bytes(bytes).expect_err("refused").to_string()
    }

    #[test]
    fn shapes_ids_and_values_must_agree_and_the_error_names_the_tensor() {
        let (bytes, catalog) = fitted();
        let (_, loaded) = from_bytes(&bytes).expect("loads as written");
        assert_eq!(loaded, catalog);

        // An id map one short of the feature matrix.
        let short = rewritten(&bytes, "item_ids", |shape, data| {
            let text = "i0\ni1\ni2";
            *data = text.as_bytes().to_vec();
            *shape = vec![data.len()];
        });
        assert!(refusal(&short).contains("item_ids"), "{}", refusal(&short));

        // A NaN in the item embeddings.
        let nan = rewritten(&bytes, "item_embeddings", |_, data| {
            data[0..4].copy_from_slice(&f32::NAN.to_le_bytes());
        });
        let e = refusal(&nan);
        assert!(
            e.contains("item_embeddings") && e.contains("non-finite"),
            "{e}"
        );

        // Optimiser state of the wrong length.
        let acc = rewritten(&bytes, "user_bias_acc", |shape, data| {
            data.truncate(4 * 3);
            *shape = vec![3];
        });
        assert!(refusal(&acc).contains("user_bias_acc"), "{}", refusal(&acc));

        // Feature names that do not match the columns.
        let names = rewritten(&bytes, "item_feature_names", |shape, data| {
            *data = b"a\nb".to_vec();
            *shape = vec![data.len()];
        });
        assert!(
            refusal(&names).contains("item_feature_names"),
            "{}",
            refusal(&names)
        );
    }
}
