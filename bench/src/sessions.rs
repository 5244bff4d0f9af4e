//! The public session-based recommendation benchmarks as their papers split them:
//! `train.txt` and `test.txt` are Python pickles of `(prefixes, targets)`, each session
//! already expanded into every prefix and the item that followed it (SR-GNN's
//! `process_seqs`, also used by GCE-GNN). Training sessions are recovered from the
//! expansion; every test pair is one prediction.

use std::path::Path;

use reco_serving::bundle::{Bundle, Items, NO_CATEGORY};
use reco_serving::SessionData;

/// One benchmark split, item ids as in the files.
pub struct SessionSplit {
    /// Training sessions in file order (chronological), each whole.
    pub train: Vec<Vec<u64>>,
    /// Test `(prefix, next item)` pairs.
    pub test: Vec<(Vec<u64>, u64)>,
}

type Pairs = (Vec<Vec<u64>>, Vec<u64>);

fn read_pairs(path: &Path) -> Result<Pairs, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (prefixes, targets): Pairs =
        serde_pickle::from_slice(&bytes, serde_pickle::DeOptions::new())
            .map_err(|e| format!("{}: {e}", path.display()))?;
    if prefixes.len() != targets.len() {
        return Err(format!(
            "{}: {} prefixes but {} targets",
            path.display(),
            prefixes.len(),
            targets.len()
        ));
    }
    Ok((prefixes, targets))
}

/// The sessions an expansion came from: the expansion of `s` lists `(s[..n-1], s[n-1])`,
/// then `(s[..n-2], s[n-2])`, down to `(s[..1], s[1])`, so a pair continues the
/// previous session when its prefix plus target is the previous prefix.
pub fn recover_sessions(prefixes: &[Vec<u64>], targets: &[u64]) -> Vec<Vec<u64>> {
    let mut sessions: Vec<Vec<u64>> = Vec::new();
    let mut previous: Option<&Vec<u64>> = None;
    for (prefix, &target) in prefixes.iter().zip(targets) {
        let continues = previous.is_some_and(|p| {
            p.len() == prefix.len() + 1
                && p[..prefix.len()] == prefix[..]
                && p[prefix.len()] == target
        });
        if !continues {
            let mut whole = prefix.clone();
            whole.push(target);
            sessions.push(whole);
        }
        previous = Some(prefix);
    }
    sessions
}

/// A bundle for anonymous sessions: the model's item vectors (sessions as users, no
/// customers), the items' popularity, and the session model when given.
pub fn sessions_bundle(
    ids: &[String],
    model: &reco_model::Model,
    popularity: &[f32],
    session: Option<SessionData>,
) -> Bundle {
    let (vectors, biases) = model.item_representations();
    Bundle {
        items: Items {
            ids: ids.to_vec(),
            dim: vectors.ncols(),
            vectors: vectors.iter().copied().collect(),
            biases: biases.to_vec(),
            categories: vec![NO_CATEGORY; ids.len()],
            popularity: popularity.to_vec(),
            session,
            ..Items::default()
        },
        users: None,
    }
}

pub fn load_session_split(dir: &Path) -> Result<SessionSplit, String> {
    let (prefixes, targets) = read_pairs(&dir.join("train.txt"))?;
    let train = recover_sessions(&prefixes, &targets);
    let (prefixes, targets) = read_pairs(&dir.join("test.txt"))?;
    Ok(SessionSplit {
        train,
        test: prefixes.into_iter().zip(targets).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_recovered_from_their_expansion() {
        // [1,2,3,4] then [5,6] then [1,2] (a session equal to the start of the first).
        let prefixes = vec![vec![1, 2, 3], vec![1, 2], vec![1], vec![5], vec![1]];
        let targets = vec![4, 3, 2, 6, 2];
        assert_eq!(
            recover_sessions(&prefixes, &targets),
            vec![vec![1, 2, 3, 4], vec![5, 6], vec![1, 2]]
        );
    }
}
