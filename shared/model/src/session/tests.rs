use super::*;

fn index(sessions: &[Vec<u32>], params: &SessionParams) -> SessionIndex {
    SessionIndex::fit(6, sessions, params).expect("fits")
}

#[test]
fn postings_list_each_session_once_newest_first() {
    let idx = index(
        &[vec![0, 1, 0], vec![1, 2], vec![3], vec![0, 2]],
        &SessionParams::default(),
    );
    // The one-view session is left out: sessions are [0,1,0], [1,2], [0,2].
    assert_eq!(idx.len(), 3);
    assert_eq!(idx.postings.row(0), &[2, 0]);
    assert_eq!(idx.postings.row(1), &[1, 0]);
    assert_eq!(idx.postings.row(2), &[2, 1]);
    assert!(idx.postings.row(3).is_empty());
}

#[test]
fn transitions_weigh_one_over_the_gap() {
    let params = SessionParams {
        transition_steps: 2,
        ..SessionParams::default()
    };
    let idx = index(&[vec![0, 1, 2], vec![0, 2]], &params);
    // 0 -> 1 once at gap 1; 0 -> 2 at gap 2 and gap 1: 1.5.
    assert_eq!(idx.followers(0), &[(2, 1.5), (1, 1.0)]);
    assert_eq!(idx.followers(1), &[(2, 1.0)]);
    assert!(idx.followers(2).is_empty());
}

#[test]
fn the_next_item_of_similar_sessions_ranks_first_and_is_explained_by_the_shared_view() {
    let sessions = vec![
        vec![0, 1, 2],
        vec![0, 1, 2],
        vec![3, 4, 5],
        vec![3, 4, 5],
        vec![0, 1, 2],
    ];
    let params = SessionParams::default();
    let idx = index(&sessions, &params);
    let scores = idx.score(&params, &[3, 4]);
    // The views themselves lead (what the neighbours share); after them, what followed.
    let top = scores.top_k(3, |_| false);
    assert_eq!(top.len(), 3);
    let top = scores.top_k(3, |i| i == 3 || i == 4);
    assert_eq!(top[0].0, 5);
    assert_eq!(scores.because(5), Some(4));
    // Nothing of the other cluster.
    assert!(scores.items().iter().all(|&(i, _)| i >= 3));
    // Skipped items are left out.
    assert!(scores.top_k(3, |i| i == 5).iter().all(|&(i, _)| i != 5));
}

#[test]
fn an_unknown_or_empty_session_scores_nothing() {
    let params = SessionParams::default();
    let idx = index(&[vec![0, 1]], &params);
    assert!(idx.score(&params, &[]).is_empty());
    assert!(idx.score(&params, &[99]).is_empty());
    assert!(SessionIndex::empty(6).score(&params, &[0]).is_empty());
}

#[test]
fn bad_input_is_refused() {
    let params = SessionParams::default();
    assert!(SessionIndex::fit(2, &[vec![0, 5]], &params).is_err());
    let bad = SessionParams {
        neighbours: 0,
        ..SessionParams::default()
    };
    assert!(SessionIndex::fit(2, &[vec![0, 1]], &bad).is_err());
    let rows = Rows {
        offsets: vec![0, 3],
        values: vec![0, 1],
    };
    assert!(SessionIndex::new(2, rows, Rows::default()).is_err());
}

#[test]
fn weights_are_chosen_on_the_newest_sessions() {
    // Click streams: each session walks a fixed chain a -> a+1 -> a+2 from a random
    // start, so the last view's followers predict the next view and nothing else does
    // as well.
    let mut seed = 7u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let sessions: Vec<Vec<Option<u32>>> = (0..2000)
        .map(|_| {
            let start = (next() % 200) as u32;
            (0..4).map(|k| Some((start + k * 7) % 200)).collect()
        })
        .collect();
    let tuned = tune::tune(200, &sessions, &SessionParams::default(), 2).expect("tunes");
    assert_eq!(tuned.held_out_sessions, 200);
    assert!(tuned.trials.len() > 20);
    let best = tuned
        .trials
        .iter()
        .map(|t| t.scores.hr_at_20 + t.scores.mrr_at_20)
        .fold(f64::MIN, f64::max);
    let chosen = tuned.chosen().expect("the chosen parameters were tried");
    assert_eq!(chosen.scores.hr_at_20 + chosen.scores.mrr_at_20, best);
    // Every next view follows its predecessor: the chosen model ranks it first.
    assert!(chosen.scores.mrr_at_20 > 0.9, "{chosen:?}");
    assert_eq!(chosen.scores.predictions, 600);

    // Too few sessions to hold any out: the given parameters stay.
    let few = &sessions[..100];
    let kept = tune::tune(200, few, &SessionParams::default(), 2).expect("tunes");
    assert!(kept.trials.is_empty());
    assert_eq!(kept.params, SessionParams::default());
}

#[test]
fn explaining_a_whole_list_at_once_agrees_with_one_item_at_a_time() {
    let mut seed = 11u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let sessions: Vec<Vec<u32>> = (0..400)
        .map(|_| (0..2 + next() % 6).map(|_| (next() % 40) as u32).collect())
        .collect();
    for params in [
        SessionParams::default(),
        SessionParams {
            repeat_weight: 0.5,
            shared_weight: 0.5,
            idf_weight: 1.0,
            transition_weight: 2.0,
            ..SessionParams::default()
        },
    ] {
        let index = SessionIndex::fit(40, &sessions, &params).expect("fits");
        for viewed in [vec![3, 9, 3, 17], vec![5], vec![1, 2, 4, 8, 16, 32]] {
            let scores = index.score(&params, &viewed);
            let items: Vec<u32> = scores.top_k(20, |_| false).iter().map(|e| e.0).collect();
            assert!(!items.is_empty());
            let one_by_one: Vec<Option<u32>> = items.iter().map(|&i| scores.because(i)).collect();
            assert_eq!(scores.because_each(&items), one_by_one, "{viewed:?}");
            assert!(one_by_one
                .iter()
                .all(|b| b.is_some_and(|v| viewed.contains(&v))));
        }
    }
}
