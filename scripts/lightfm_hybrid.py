#!/usr/bin/env python3
"""LightFM 1.17 on a MovieLens-format split with the same hybrid features as
bench-hybrid: identity + genres for items; identity + age band, gender, occupation
for users; rows L1-normalised by lightfm.data.Dataset. Same universe, positives and
metrics as ../shared/bench/lightfm_ua.py. Usage (peers virtualenv):
    python scripts/lightfm_hybrid.py DIR LOSS COMPONENTS EPOCHS THREADS
"""
import json, sys, time
import numpy as np
import scipy.sparse as sp
from lightfm import LightFM
from lightfm.data import Dataset
from lightfm.evaluation import auc_score, precision_at_k

GENRES = ["unknown", "action", "adventure", "animation", "children", "comedy", "crime", "documentary",
          "drama", "fantasy", "film-noir", "horror", "musical", "mystery", "romance", "sci-fi", "thriller",
          "war", "western"]


def band(age):
    for hi, name in ((17, "under-18"), (24, "18-24"), (34, "25-34"), (44, "35-44"), (49, "45-49"), (55, "50-55")):
        if age <= hi:
            return name
    return "56+"


d, loss, dim, epochs, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
base = np.loadtxt(f"{d}/ua.base", dtype=np.int64)
test = np.loadtxt(f"{d}/ua.test", dtype=np.int64)
users = np.unique(np.concatenate([base[:, 0], test[:, 0]]))
items = np.unique(np.concatenate([base[:, 1], test[:, 1]]))
item_attrs = {}
with open(f"{d}/u.item", encoding="latin-1") as f:
    for line in f:
        p = line.rstrip("\n").split("|")
        item_attrs[int(p[0])] = [f"genre:{g}" for g, flag in zip(GENRES, p[5:24]) if flag == "1"]
user_attrs = {}
with open(f"{d}/u.user", encoding="latin-1") as f:
    for line in f:
        p = line.rstrip("\n").split("|")
        user_attrs[int(p[0])] = [f"age:{band(int(p[1]))}", f"gender:{p[2]}", f"occupation:{p[3]}"]

ds = Dataset()
ds.fit(users.tolist(), items.tolist(),
       user_features=sorted({a for v in user_attrs.values() for a in v}),
       item_features=sorted({a for v in item_attrs.values() for a in v}))
uf = ds.build_user_features([(u, user_attrs.get(int(u), [])) for u in users.tolist()])
itf = ds.build_item_features([(i, item_attrs.get(int(i), [])) for i in items.tolist()])
umap, _, imap, _ = ds.mapping()


def positives(rows):
    rows = rows[rows[:, 2] >= 4]
    u = [umap[x] for x in rows[:, 0].tolist()]
    i = [imap[x] for x in rows[:, 1].tolist()]
    return sp.coo_matrix((np.ones(len(u), dtype=np.float32), (u, i)), shape=(len(users), len(items))).tocsr()


train, held = positives(base), positives(test)
model = LightFM(loss=loss, no_components=dim, learning_rate=0.05, random_state=42)
start = time.perf_counter()
model.fit(train, user_features=uf, item_features=itf, epochs=epochs, num_threads=threads)
fit_s = time.perf_counter() - start
kw = dict(train_interactions=train, user_features=uf, item_features=itf, num_threads=threads)
print(json.dumps({"peer": "lightfm-1.17", "features": "hybrid", "loss": loss, "dim": dim, "epochs": epochs,
                  "threads": threads, "fit_s": round(fit_s, 3),
                  "p10": round(float(precision_at_k(model, held, k=10, **kw).mean()), 4),
                  "auc": round(float(auc_score(model, held, **kw).mean()), 4)}))
