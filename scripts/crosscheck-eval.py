#!/usr/bin/env python3
"""Evaluates parameters dumped by bench-model (RECO_BENCH_DUMP=DIR) with LightFM's own
`lightfm.evaluation`, so the Rust evaluation can be checked against LightFM's on the
same model. Usage (in the peers virtualenv):
    RECO_BENCH_DUMP=/tmp/d target/release/bench-model DATA warp 10 10 2
    /tmp/reco-peers/bin/python scripts/crosscheck-eval.py DATA /tmp/d 10
"""
import sys
import numpy as np
import scipy.sparse as sp
from lightfm import LightFM
from lightfm.evaluation import auc_score, precision_at_k

data, dump, dim = sys.argv[1], sys.argv[2], int(sys.argv[3])
base = np.loadtxt(f"{data}/ua.base", dtype=np.int64)
test = np.loadtxt(f"{data}/ua.test", dtype=np.int64)
users = np.unique(np.concatenate([base[:, 0], test[:, 0]]))
items = np.unique(np.concatenate([base[:, 1], test[:, 1]]))


def positives(rows):
    rows = rows[rows[:, 2] >= 4]
    u = np.searchsorted(users, rows[:, 0]); i = np.searchsorted(items, rows[:, 1])
    return sp.coo_matrix((np.ones(len(u), dtype=np.float32), (u, i)), shape=(len(users), len(items))).tocsr()


train, held = positives(base), positives(test)
m = LightFM(no_components=dim)
m.fit(train, epochs=0)  # allocates the parameter arrays
load = lambda name, shape: np.fromfile(f"{dump}/{name}.f32", dtype="<f4").reshape(shape)
m.item_embeddings[:] = load("item_embeddings", (len(items), dim))
m.item_biases[:] = load("item_biases", (len(items),))
m.user_embeddings[:] = load("user_embeddings", (len(users), dim))
m.user_biases[:] = load("user_biases", (len(users),))
print({"p10": round(float(precision_at_k(m, held, train_interactions=train, k=10).mean()), 4),
       "auc": round(float(auc_score(m, held, train_interactions=train).mean()), 4)})
