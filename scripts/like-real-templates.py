#!/usr/bin/env python3
"""Mean and covariance factor of real templates, for `index-bench --like DIR`.

Reads the JSON lines of `gabarit faces --pack buffalo_s --embeddings PHOTOS...` (every face of
every photo), L2-normalises the templates and writes DIR/mean.npy (512 float32) and
DIR/factor.npy (512 x 512 float32, F with F F^T = the covariance), and prints how many
dimensions hold 90% of the variance and the genuine and impostor cosines (by the photos'
folders, LFW-style: one folder per person; the largest face of each photo).

    find ../shared/eval/lfw-dev -name '*.jpg' | sort | xargs -n 500 gabarit faces --pack buffalo_s --embeddings > lfw-dev.jsonl
    python3 scripts/like-real-templates.py lfw-dev.jsonl DIR        # needs numpy
"""
import collections
import json
import os
import sys

import numpy as np


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    source, out = sys.argv[1], sys.argv[2]
    every, largest = [], []
    with open(source) as fh:
        for line in fh:
            photo = json.loads(line)
            faces = [f for f in photo.get("faces") or [] if f.get("embedding")]
            if not faces:
                continue
            every.extend(f["embedding"] for f in faces)
            area = lambda f: (f["bbox"][2] - f["bbox"][0]) * (f["bbox"][3] - f["bbox"][1])
            person = os.path.basename(os.path.dirname(photo["path"]))
            largest.append((person, np.asarray(max(faces, key=area)["embedding"], dtype=np.float64)))
    x = np.asarray(every, dtype=np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    mean = x.mean(axis=0)
    values, vectors = np.linalg.eigh(np.cov(x.T))
    order = np.argsort(values)[::-1]
    values, vectors = np.clip(values[order], 0.0, None), vectors[:, order]
    share = np.cumsum(values) / values.sum()
    os.makedirs(out, exist_ok=True)
    np.save(os.path.join(out, "mean.npy"), mean.astype(np.float32))
    np.save(os.path.join(out, "factor.npy"), np.ascontiguousarray(vectors * np.sqrt(values), dtype=np.float32))
    by = collections.defaultdict(list)
    for person, e in largest:
        by[person].append(e / np.linalg.norm(e))
    genuine = [a @ b for es in by.values() for i, a in enumerate(es) for b in es[i + 1:]]
    e = np.asarray([v / np.linalg.norm(v) for _, v in largest])
    names = [p for p, _ in largest]
    pairs = np.random.default_rng(1).integers(0, len(e), (20000, 2))
    impostor = [e[a] @ e[b] for a, b in pairs if names[a] != names[b]]
    print(json.dumps({
        "faces": len(x), "dims_for_90pct_variance": int(np.searchsorted(share, 0.9)) + 1,
        "mean_norm": round(float(np.linalg.norm(mean)), 4),
        "genuine": [round(float(np.mean(genuine)), 3), round(float(np.std(genuine)), 3), len(genuine)],
        "impostor": [round(float(np.mean(impostor)), 3), round(float(np.std(impostor)), 3)],
    }))


if __name__ == "__main__":
    main()
