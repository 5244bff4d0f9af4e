//! The cache's copy of a version: the items part (the serving bundle's items, plus
//! each customer's id with the SHA-256 of their record) and each customer's record,
//! built from a verified bundle and read back by predict.

use safetensors::tensor::Dtype;
use sha2::{Digest, Sha256};

use crate::bundle::{Bundle, BundleError, Items};
use crate::tensors::{err, names_bytes, names_from, open, raw, serialize};

/// A version as the cache holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheParts {
    /// The items part: items, and each customer's id with their record's SHA-256.
    pub items: Vec<u8>,
    /// Each customer's id and record ([`UserRecord::to_bytes`]), in id order.
    pub users: Vec<(String, Vec<u8>)>,
}

/// The customers a cached items part lists, each with the SHA-256 of their record:
/// ids sorted in one string, looked up by binary search.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UserDigests {
    ids: String,
    /// End of each id in `ids`.
    ends: Vec<usize>,
    sha256: Vec<[u8; 32]>,
}

impl UserDigests {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    fn id(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.ids[start..self.ends[i]]
    }

    /// The SHA-256 of `customer_id`'s record; `None` when the version has no such
    /// customer.
    pub fn get(&self, customer_id: &str) -> Option<&[u8; 32]> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.id(mid).cmp(customer_id) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return self.sha256.get(mid),
            }
        }
        None
    }
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl Bundle {
    /// The version as the cache holds it: the items part, listing each customer with
    /// the SHA-256 of their record, and each customer's record. The same bundle
    /// always gives the same bytes.
    pub fn cache_parts(&self) -> Result<CacheParts, BundleError> {
        let mut users: Vec<(String, Vec<u8>)> = match &self.users {
            Some(map) => map
                .iter()
                .map(|(id, r)| {
                    if r.vector.len() != self.items.dim {
                        return Err(err(format!("user {id}: vector of the wrong length")));
                    }
                    Ok((id.clone(), r.to_bytes()))
                })
                .collect::<Result<_, BundleError>>()?,
            None => Vec::new(),
        };
        users.sort_by(|a, b| a.0.cmp(&b.0));
        let ids: Vec<String> = users.iter().map(|(id, _)| id.clone()).collect();
        let digests: Vec<u8> = users.iter().flat_map(|(_, r)| sha256(r)).collect();
        let mut owned = self.items.tensors()?;
        owned.extend([
            (
                "cached_user_ids",
                Dtype::U8,
                vec![],
                names_bytes("user ids", &ids)?,
            ),
            (
                "cached_user_sha256",
                Dtype::U8,
                vec![users.len(), 32],
                digests,
            ),
        ]);
        Ok(CacheParts {
            items: serialize(&owned)?,
            users,
        })
    }

    /// Reads a cached items part written by [`Bundle::cache_parts`].
    pub fn from_cache_items(bytes: &[u8]) -> Result<(Items, UserDigests), BundleError> {
        let st = open(bytes)?;
        let items = Items::read(&st)?;
        let ids = names_from(&raw(&st, "cached_user_ids", Dtype::U8)?, "user ids")?;
        let digests = raw(&st, "cached_user_sha256", Dtype::U8)?;
        if digests.len() != ids.len() * 32 {
            return Err(err("cached user digests disagree on the number of users"));
        }
        if ids.windows(2).any(|w| w[0] >= w[1]) {
            return Err(err("cached user ids are not sorted and distinct"));
        }
        let mut users = UserDigests {
            ids: String::with_capacity(ids.iter().map(String::len).sum()),
            ends: Vec::with_capacity(ids.len()),
            sha256: Vec::with_capacity(ids.len()),
        };
        for (id, digest) in ids.iter().zip(digests.chunks_exact(32)) {
            users.ids.push_str(id);
            users.ends.push(users.ids.len());
            let mut d = [0u8; 32];
            d.copy_from_slice(digest);
            users.sha256.push(d);
        }
        Ok((items, users))
    }
}
