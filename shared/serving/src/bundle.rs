//! The serving bundle: what predict needs from a trained version and nothing else (no
//! optimiser state, no feature matrices). One safetensors file,
//! `models/<version>/serving.safetensors`, written by training next to the model:
//!
//! | tensor | dtype, shape | |
//! |---|---|---|
//! | `item_ids` | U8 | item ids joined by `\n` |
//! | `item_vectors` | F32 [items, dim] | each item's representation |
//! | `item_biases` | F32 [items] | |
//! | `item_categories` | U32 [items] | index into `category_names`, `u32::MAX` for none |
//! | `category_names` | U8 | lower-case category names joined by `\n` |
//! | `item_popularity` | F32 [items] | weighted positives in the training data |
//! | `user_feature_names` | U8 | names joined by `\n` (empty without user features) |
//! | `user_feature_vectors` | F32 [features, dim] | each user feature's embedding |
//! | `user_ids` | U8 | customers, joined by `\n` (absent in the cache's items part) |
//! | `user_vectors`, `user_biases` | F32 [users, dim], [users] | |
//! | `user_kinds` | U8 [users] | 1 trained, 2 represented by features only |
//! | `user_positive_offsets`, `user_positives` | U32 [users + 1], U32 | known positives |
//! | `user_feature_offsets`, `user_feature_index`, `user_feature_weight` | U32, U32, F32 | features-only users' features |
//!
//! The cache holds the same file without the user tensors under the version's items
//! key, plus `cached_user_ids` (U8, the customers, sorted,
//! joined by `\n`) and `cached_user_sha256` (U8 [users, 32], the SHA-256 of each
//! customer's record), and each customer as a [`UserRecord`] under their own key
//! (written and read by the `cached` module). The bytes are a function of the bundle
//! (header keys sorted), so every writer of a version's cache entries writes the same
//! bytes, and one digest recorded in the artifact store checks them.

use std::collections::HashMap;

use safetensors::tensor::{Dtype, SafeTensors};

use crate::session_tensors::SessionData;

use crate::tensors::{
    err, f32_bytes, f32s, names_bytes, names_from, open, raw, serialize, u32_bytes, u32s, Owned,
};
pub use crate::tensors::{BundleError, FORMAT, FORMAT_VERSION};

/// No category.
pub const NO_CATEGORY: u32 = u32::MAX;

/// How the model knows a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserKind {
    /// Trained on their interactions.
    Trained,
    /// Known only by their features (no interactions yet): the vector is the sum of
    /// their features' embeddings.
    FeaturesOnly,
}

impl UserKind {
    fn code(self) -> u8 {
        match self {
            UserKind::Trained => 1,
            UserKind::FeaturesOnly => 2,
        }
    }

    fn from_code(c: u8) -> Result<Self, BundleError> {
        match c {
            1 => Ok(UserKind::Trained),
            2 => Ok(UserKind::FeaturesOnly),
            other => Err(err(format!("unknown user kind {other}"))),
        }
    }
}

/// One customer as predict uses them.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub kind: UserKind,
    pub vector: Vec<f32>,
    pub bias: f32,
    /// Items (indices) the customer is known to like: left out of their lists.
    pub positives: Vec<u32>,
    /// For [`UserKind::FeaturesOnly`]: (user feature index, weight), what the vector
    /// is the sum of.
    pub features: Vec<(u32, f32)>,
}

const USER_MAGIC: &[u8; 4] = b"RU1\0";

impl UserRecord {
    /// The cache value: magic, kind, dim, vector, bias, positives, features, all
    /// little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            16 + 4 * self.vector.len() + 4 * self.positives.len() + 8 * self.features.len(),
        );
        out.extend_from_slice(USER_MAGIC);
        out.push(self.kind.code());
        out.extend_from_slice(&(self.vector.len() as u32).to_le_bytes());
        for v in &self.vector {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.bias.to_le_bytes());
        out.extend_from_slice(&(self.positives.len() as u32).to_le_bytes());
        for p in &self.positives {
            out.extend_from_slice(&p.to_le_bytes());
        }
        out.extend_from_slice(&(self.features.len() as u32).to_le_bytes());
        for (f, w) in &self.features {
            out.extend_from_slice(&f.to_le_bytes());
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BundleError> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(4)? != USER_MAGIC {
            return Err(err("user record: bad magic"));
        }
        let kind = UserKind::from_code(r.take(1)?[0])?;
        let dim = r.u32()? as usize;
        let vector = (0..dim).map(|_| r.f32()).collect::<Result<Vec<_>, _>>()?;
        let bias = r.f32()?;
        let n = r.u32()? as usize;
        let positives = (0..n).map(|_| r.u32()).collect::<Result<Vec<_>, _>>()?;
        let n = r.u32()? as usize;
        let features = (0..n)
            .map(|_| Ok((r.u32()?, r.f32()?)))
            .collect::<Result<Vec<_>, BundleError>>()?;
        if r.at != bytes.len() {
            return Err(err("user record: trailing bytes"));
        }
        Ok(UserRecord {
            kind,
            vector,
            bias,
            positives,
            features,
        })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BundleError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| err("user record: truncated"))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, BundleError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn f32(&mut self) -> Result<f32, BundleError> {
        Ok(f32::from_bits(self.u32()?))
    }
}

/// The catalogue side of a version.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Items {
    pub ids: Vec<String>,
    pub dim: usize,
    /// Row-major, `ids.len() x dim`.
    pub vectors: Vec<f32>,
    pub biases: Vec<f32>,
    pub categories: Vec<u32>,
    pub category_names: Vec<String>,
    pub popularity: Vec<f32>,
    pub user_feature_names: Vec<String>,
    /// Row-major, `user_feature_names.len() x dim`.
    pub user_feature_vectors: Vec<f32>,
    /// The session model (absent in version-1 bundles).
    pub session: Option<SessionData>,
}

/// A whole version: items, and the customers when read from the artifact store.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Bundle {
    pub items: Items,
    pub users: Option<HashMap<String, UserRecord>>,
}

impl Items {
    fn check(&self) -> Result<(), BundleError> {
        let n = self.ids.len();
        if self.vectors.len() != n * self.dim
            || self.biases.len() != n
            || self.categories.len() != n
            || self.popularity.len() != n
            || self.user_feature_vectors.len() != self.user_feature_names.len() * self.dim
        {
            return Err(err("item tensors disagree on the number of items"));
        }
        let c = self.category_names.len() as u32;
        if self.categories.iter().any(|&x| x != NO_CATEGORY && x >= c) {
            return Err(err("an item's category is out of range"));
        }
        if self
            .vectors
            .iter()
            .chain(&self.biases)
            .any(|v| !v.is_finite())
        {
            return Err(err("an item vector is not finite"));
        }
        if let Some(session) = &self.session {
            session.check(n)?;
        }
        Ok(())
    }
}

impl Items {
    /// The item tensors of a bundle file.
    pub(crate) fn tensors(&self) -> Result<Vec<Owned>, BundleError> {
        self.check()?;
        let n = self.ids.len();
        let mut owned = vec![
            (
                "item_ids",
                Dtype::U8,
                vec![],
                names_bytes("item ids", &self.ids)?,
            ),
            (
                "item_vectors",
                Dtype::F32,
                vec![n, self.dim],
                f32_bytes(&self.vectors),
            ),
            ("item_biases", Dtype::F32, vec![n], f32_bytes(&self.biases)),
            (
                "item_categories",
                Dtype::U32,
                vec![n],
                u32_bytes(&self.categories),
            ),
            (
                "category_names",
                Dtype::U8,
                vec![],
                names_bytes("categories", &self.category_names)?,
            ),
            (
                "item_popularity",
                Dtype::F32,
                vec![n],
                f32_bytes(&self.popularity),
            ),
            (
                "user_feature_names",
                Dtype::U8,
                vec![],
                names_bytes("user features", &self.user_feature_names)?,
            ),
            (
                "user_feature_vectors",
                Dtype::F32,
                vec![self.user_feature_names.len(), self.dim],
                f32_bytes(&self.user_feature_vectors),
            ),
        ];
        if let Some(session) = &self.session {
            owned.extend(session.tensors()?);
        }
        Ok(owned)
    }

    /// Reads the item tensors, refusing anything inconsistent.
    pub(crate) fn read(st: &SafeTensors<'_>) -> Result<Items, BundleError> {
        let ids = names_from(&raw(st, "item_ids", Dtype::U8)?, "item ids")?;
        let dim = st
            .tensor("item_vectors")
            .map_err(|_| err("missing tensor item_vectors"))?
            .shape()
            .get(1)
            .copied()
            .ok_or_else(|| err("item_vectors is not 2-d"))?;
        let items = Items {
            vectors: f32s(st, "item_vectors")?,
            biases: f32s(st, "item_biases")?,
            categories: u32s(st, "item_categories")?,
            category_names: names_from(&raw(st, "category_names", Dtype::U8)?, "categories")?,
            popularity: f32s(st, "item_popularity")?,
            user_feature_names: names_from(
                &raw(st, "user_feature_names", Dtype::U8)?,
                "user features",
            )?,
            user_feature_vectors: f32s(st, "user_feature_vectors")?,
            session: SessionData::read(st)?,
            ids,
            dim,
        };
        items.check()?;
        Ok(items)
    }
}

impl Bundle {
    /// The bundle as a safetensors file; without users when `users` is `None`.
    pub fn to_bytes(&self) -> Result<Vec<u8>, BundleError> {
        let it = &self.items;
        let mut owned = it.tensors()?;
        if let Some(users) = &self.users {
            let mut ids: Vec<&String> = users.keys().collect();
            ids.sort();
            let u = ids.len();
            let (mut vectors, mut biases, mut kinds) = (Vec::new(), Vec::new(), Vec::new());
            let (mut pos_off, mut pos) = (vec![0u32], Vec::new());
            let (mut feat_off, mut feat_i, mut feat_w) = (vec![0u32], Vec::new(), Vec::new());
            for id in &ids {
                let r = &users[*id];
                if r.vector.len() != it.dim {
                    return Err(err(format!("user {id}: vector of the wrong length")));
                }
                vectors.extend_from_slice(&r.vector);
                biases.push(r.bias);
                kinds.push(r.kind.code());
                pos.extend_from_slice(&r.positives);
                pos_off.push(pos.len() as u32);
                for &(f, w) in &r.features {
                    feat_i.push(f);
                    feat_w.push(w);
                }
                feat_off.push(feat_i.len() as u32);
            }
            let names: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
            owned.extend([
                (
                    "user_ids",
                    Dtype::U8,
                    vec![],
                    names_bytes("user ids", &names)?,
                ),
                (
                    "user_vectors",
                    Dtype::F32,
                    vec![u, it.dim],
                    f32_bytes(&vectors),
                ),
                ("user_biases", Dtype::F32, vec![u], f32_bytes(&biases)),
                ("user_kinds", Dtype::U8, vec![u], kinds),
                (
                    "user_positive_offsets",
                    Dtype::U32,
                    vec![u + 1],
                    u32_bytes(&pos_off),
                ),
                (
                    "user_positives",
                    Dtype::U32,
                    vec![pos.len()],
                    u32_bytes(&pos),
                ),
                (
                    "user_feature_offsets",
                    Dtype::U32,
                    vec![u + 1],
                    u32_bytes(&feat_off),
                ),
                (
                    "user_feature_index",
                    Dtype::U32,
                    vec![feat_i.len()],
                    u32_bytes(&feat_i),
                ),
                (
                    "user_feature_weight",
                    Dtype::F32,
                    vec![feat_w.len()],
                    f32_bytes(&feat_w),
                ),
            ]);
        }
        serialize(&owned)
    }

    /// Reads a bundle written by [`Bundle::to_bytes`], refusing anything inconsistent.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BundleError> {
        let st = open(bytes)?;
        let items = Items::read(&st)?;
        let dim = items.dim;
        let users = if st.tensor("user_ids").is_ok() {
            let ids = names_from(&raw(&st, "user_ids", Dtype::U8)?, "user ids")?;
            let vectors = f32s(&st, "user_vectors")?;
            let biases = f32s(&st, "user_biases")?;
            let kinds = raw(&st, "user_kinds", Dtype::U8)?;
            let pos_off = u32s(&st, "user_positive_offsets")?;
            let pos = u32s(&st, "user_positives")?;
            let feat_off = u32s(&st, "user_feature_offsets")?;
            let feat_i = u32s(&st, "user_feature_index")?;
            let feat_w = f32s(&st, "user_feature_weight")?;
            let u = ids.len();
            if vectors.len() != u * dim
                || biases.len() != u
                || kinds.len() != u
                || pos_off.len() != u + 1
                || feat_off.len() != u + 1
                || feat_i.len() != feat_w.len()
            {
                return Err(err("user tensors disagree on the number of users"));
            }
            let range = |off: &[u32], i: usize, len: usize| {
                let (a, b) = (off[i] as usize, off[i + 1] as usize);
                if a <= b && b <= len {
                    Ok(a..b)
                } else {
                    Err(err("user offsets out of range"))
                }
            };
            let n_items = items.ids.len() as u32;
            let n_feat = items.user_feature_names.len() as u32;
            let mut map = HashMap::with_capacity(u);
            for (i, id) in ids.into_iter().enumerate() {
                let positives = pos[range(&pos_off, i, pos.len())?].to_vec();
                if positives.iter().any(|&p| p >= n_items) {
                    return Err(err("a user's positive is out of range"));
                }
                let fr = range(&feat_off, i, feat_i.len())?;
                let features: Vec<(u32, f32)> = feat_i[fr.clone()]
                    .iter()
                    .copied()
                    .zip(feat_w[fr].iter().copied())
                    .collect();
                if features.iter().any(|&(f, _)| f >= n_feat) {
                    return Err(err("a user's feature is out of range"));
                }
                let record = UserRecord {
                    kind: UserKind::from_code(kinds[i])?,
                    vector: vectors[i * dim..(i + 1) * dim].to_vec(),
                    bias: biases[i],
                    positives,
                    features,
                };
                map.insert(id, record);
            }
            Some(map)
        } else {
            None
        };
        Ok(Bundle { items, users })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Bundle {
        let mut users = HashMap::new();
        users.insert(
            "c1".to_string(),
            UserRecord {
                kind: UserKind::Trained,
                vector: vec![1.0, 0.0],
                bias: 0.5,
                positives: vec![0, 2],
                features: vec![],
            },
        );
        users.insert(
            "c2".to_string(),
            UserRecord {
                kind: UserKind::FeaturesOnly,
                vector: vec![0.0, 2.0],
                bias: 0.0,
                positives: vec![],
                features: vec![(0, 1.0)],
            },
        );
        Bundle {
            items: Items {
                ids: vec!["a".into(), "b".into(), "c".into()],
                dim: 2,
                vectors: vec![1.0, 0.0, 0.0, 1.0, 0.5, 0.5],
                biases: vec![0.1, 0.2, 0.3],
                categories: vec![0, NO_CATEGORY, 1],
                category_names: vec!["shoes".into(), "hats".into()],
                popularity: vec![3.0, 1.0, 2.0],
                user_feature_names: vec!["region:north".into()],
                user_feature_vectors: vec![0.0, 2.0],
                session: None,
            },
            users: Some(users),
        }
    }

    #[test]
    fn a_session_model_round_trips_and_a_version_1_bundle_still_loads() {
        let params = reco_model::session::SessionParams {
            transition_weight: 2.0,
            ..Default::default()
        };
        let index =
            reco_model::session::SessionIndex::fit(3, &[vec![0, 2, 1], vec![2, 1]], &params)
                .unwrap();
        let mut b = sample();
        b.items.session = Some(SessionData::from_index(&index, &params));
        let back = Bundle::from_bytes(&b.to_bytes().unwrap()).unwrap();
        assert_eq!(back, b);
        let (served, served_params) = back.items.session.unwrap().into_index(3).unwrap();
        assert_eq!((served, served_params), (index, params));

        // A session pointing past the catalogue is refused.
        let mut bad = b.clone();
        if let Some(s) = bad.items.session.as_mut() {
            s.sessions.values[0] = 7;
        }
        assert!(bad.to_bytes().is_err());

        // Version 1 (before session models): the same tensors without the session part.
        let v1 = Bundle {
            items: Items {
                session: None,
                ..b.items.clone()
            },
            users: b.users.clone(),
        };
        let bytes = v1.to_bytes().unwrap();
        let header = br#""format_version":"2""#;
        let at = bytes
            .windows(header.len())
            .position(|w| w == header)
            .unwrap();
        let mut old = bytes.clone();
        old[at + header.len() - 2] = b'1';
        assert_eq!(Bundle::from_bytes(&old).unwrap(), v1);
        old[at + header.len() - 2] = b'3';
        let refused = Bundle::from_bytes(&old).unwrap_err().to_string();
        assert!(refused.contains("found 3"), "{refused}");
    }

    #[test]
    fn a_bundle_round_trips_with_and_without_users() {
        let b = sample();
        let back = Bundle::from_bytes(&b.to_bytes().unwrap()).unwrap();
        assert_eq!(back, b);
        let items_only = Bundle {
            items: b.items.clone(),
            users: None,
        };
        let back = Bundle::from_bytes(&items_only.to_bytes().unwrap()).unwrap();
        assert_eq!(back, items_only);
    }

    #[test]
    fn damaged_bundles_are_refused() {
        let bytes = sample().to_bytes().unwrap();
        for cut in [0, 8, bytes.len() / 2, bytes.len() - 1] {
            assert!(Bundle::from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut b = sample();
        b.items.categories[0] = 7;
        assert!(b.to_bytes().unwrap_err().0.contains("category"));
    }

    #[test]
    fn the_same_bundle_always_gives_the_same_bytes() {
        let b = sample();
        let first = b.to_bytes().unwrap();
        let parts = b.cache_parts().unwrap();
        // The metadata map is a new hash map every time: its order would vary.
        for _ in 0..20 {
            assert_eq!(b.to_bytes().unwrap(), first);
            assert_eq!(b.cache_parts().unwrap(), parts);
        }
    }

    #[test]
    fn the_cached_items_part_lists_each_customer_with_their_record_digest() {
        let b = sample();
        let parts = b.cache_parts().unwrap();
        let ids: Vec<&str> = parts.users.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["c1", "c2"]);
        let (items, digests) = Bundle::from_cache_items(&parts.items).unwrap();
        assert_eq!(items, b.items);
        assert_eq!(digests.len(), 2);
        for (id, record) in &parts.users {
            assert_eq!(digests.get(id), Some(&crate::cached::sha256(record)));
            assert_eq!(
                UserRecord::from_bytes(record).unwrap(),
                b.users.as_ref().unwrap()[id]
            );
        }
        for unknown in ["", "c0", "c11", "c3", "d"] {
            assert_eq!(digests.get(unknown), None, "{unknown}");
        }
        // Read as a bundle, the items part is the items alone.
        let plain = Bundle::from_bytes(&parts.items).unwrap();
        assert_eq!(plain.items, b.items);
        assert!(plain.users.is_none());
        // A full bundle is not an items part.
        assert!(Bundle::from_cache_items(&b.to_bytes().unwrap()).is_err());
        let no_users = Bundle {
            items: b.items.clone(),
            users: None,
        };
        let (_, digests) =
            Bundle::from_cache_items(&no_users.cache_parts().unwrap().items).unwrap();
        assert!(digests.is_empty());
    }

    #[test]
    fn user_records_round_trip_and_refuse_damage() {
        for r in sample().users.unwrap().into_values() {
            let bytes = r.to_bytes();
            assert_eq!(UserRecord::from_bytes(&bytes).unwrap(), r);
            assert!(UserRecord::from_bytes(&bytes[..bytes.len() - 1]).is_err());
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(UserRecord::from_bytes(&longer).is_err());
        }
    }
}
