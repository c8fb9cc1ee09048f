#!/usr/bin/env python3
"""Peer comparison for clustering face templates into people: scores an assignment, and sweeps
the parameters of three off-the-shelf clusterings (scikit-learn's DBSCAN and HDBSCAN, and a
reimplementation of Immich's face-clustering rule) on the same templates, scored the same way.

Setup (Python 3.11+):

    python3 -m venv /work/venv-peers
    /work/venv-peers/bin/pip install -r crates/bench/peers/requirements-people.txt

Usage:

    people_peers.py score --data DIR --assign FILE
    people_peers.py sweep --data DIR [--methods dbscan hdbscan immich] [--jsonl OUT]
                          [--threads 1] [--force] [--max-graph-entries 200000000]

`score` needs numpy only; `sweep` needs scikit-learn and scipy too.

Input, a directory DIR written by the Rust side:
  templates.npy  float32, shape N x D, every row L2-normalised (|norm - 1| <= 1e-3), finite.
                 `score` only reads its header, to check N (and does without it if absent).
  labels.txt     N lines, the true person label of row i on line i (any non-empty string);
                 used only for scoring.
  images.txt     optional, N lines, the photo id of row i (non-empty). Two faces of one photo
                 are never the same person; no method here uses it, but every score reports
                 how many same-photo pairs the assignment put into one cluster.
  FILE (score)   N lines, a cluster id per row (any string). `-` or an empty line means
                 unassigned: that row is a cluster of its own.
Text files are UTF-8, one newline-terminated line per row; spaces around a line are ignored.
A missing or malformed input (row counts that differ between files, a wrong dtype or shape,
a row whose norm is off by more than 1e-3, ...) ends the script with a one-line error naming
the file on stderr and exit status 2.

Metrics (one JSON object per scored assignment), with C(i) the cluster of item i, L(i) its
label, all sums over items computed from contingency counts of (cluster, label) pairs (no
pairwise loop, so N = 1,000,000 is fine):
  n, clusters (singletons included), singletons (clusters of one row)
  bcubed_precision  mean over i of |{j in C(i): L(j) = L(i)}| / |C(i)|  (j = i included)
  bcubed_recall     mean over i of |{j in C(i): L(j) = L(i)}| / |{j: L(j) = L(i)}|
  bcubed_f          harmonic mean of the two (Bagga & Baldwin 1998; Amigo et al. 2009)
  pairwise_precision  over unordered pairs i < j: pairs in one cluster with one label / pairs in
                      one cluster (1.0 if no two rows share a cluster)
  pairwise_recall     pairs in one cluster with one label / pairs with one label (1.0 if none)
  pairwise_f          harmonic mean (0.0 when both are 0)
  same_photo_pairs, same_photo_merges (with images.txt): pairs of rows from one photo, and how
                      many of them the assignment put in one cluster (each is an error)

Sweep: every method clusters on cosine distance 1 - dot; a row left as noise or unassigned is a
singleton. One JSON line per setting ({"method", "params", "seconds", ...metrics}); then per
method a line {"best": true, "criterion": "bcubed_f", "method", "params", ...} for the setting
with the highest BCubed F, and a second with "criterion": "bcubed_f_at_precision_0.99" for the
highest BCubed F among settings with BCubed precision >= 0.99 (absent if no setting gets
there). --jsonl OUT writes the same lines to OUT as well. Progress goes to stderr.
  dbscan   sklearn.cluster.DBSCAN, eps (cosine distance) 0.300, 0.325, ..., 0.750 x
           min_samples {1, 2, 3, 5}. Exactly DBSCAN(metric="cosine", eps=e), computed the way
           scikit-learn's documentation recommends for repeated runs: the neighbourhoods
           within the largest eps are computed once (a sparse graph of cosine distances, rows
           in blocks through one float32 matrix product; on unit vectors this is the same as
           euclidean eps sqrt(2 e)) and each setting runs DBSCAN(metric="precomputed") on it.
           params also give eps_euclidean = sqrt(2 eps).
  hdbscan  sklearn.cluster.HDBSCAN, metric euclidean on the unit vectors (euclidean d is cosine
           d^2 / 2), min_cluster_size {2, 3, 5, 8} x min_samples {1, 2, 3, 5} x
           cluster_selection_epsilon {0, 0.3, 0.5, 0.7} (euclidean; params also give the cosine
           equivalent), cluster_selection_method "eom". The single-linkage tree depends only on
           min_samples, so it is built once per min_samples by a full HDBSCAN fit and the other
           settings are cut from it with scikit-learn's own tree_to_labels (a private function:
           if a scikit-learn version lacks it, every setting is fitted in full; "reused_tree"
           tells which). scikit-learn's HDBSCAN is O(N^2 D) here (Prim's MST in 512-d), so with
           N > 20,000 the method prints {"method": "hdbscan", "skipped": true, ...} instead,
           unless --force.
  immich   Immich's rule (below), max_distance 0.300, 0.325, ..., 0.700 x min_faces {1, 2, 3, 5};
           Immich's defaults are max_distance 0.5, min_faces 3.

Immich's rule, as read in immich-app/immich server/src/services/person.service.ts
(PersonService.handleRecognizeFaces and handleQueueRecognizeFaces) and
server/src/repositories/search.repository.ts (SearchRepository.searchFaces); the facial
recognition queue is serial (queue.service.ts, isConcurrentQueue). A full run ("force")
unassigns every face and queues one job per face; each job, one at a time:
  1. matches = the min_faces nearest faces of the same owner by cosine distance (pgvector
     `<=>`), kept if distance <= max_distance; the face itself is one of them.
  2. If min_faces > 1 and matches holds only the face itself, the face is skipped for good.
  3. core = len(matches) >= min_faces (and the photo is on the timeline, not archived).
     A face that is not core is re-queued as "deferred", i.e. behind every first-round job.
  4. person = the person of the first match that has one; else the person of the nearest face
     that has a person, if within max_distance (a second search with hasPerson).
  5. If no person was found and the face is core, a new person is created for it. A deferred
     face with no person found stays unassigned.
Steps 1 and 4 together mean "join the person of the nearest face already assigned within
max_distance". Implemented here exactly that way, with rows processed in file order:
  pass 1: core rows (>= min_faces rows within max_distance, itself included), in row order:
          join the person of the nearest earlier core row within max_distance (every earlier
          core row has a person by then), else start a new person. Done at once, not in a loop:
          each core row links to that row, and people are the trees of the resulting forest.
  pass 2: the other rows with at least one other row within max_distance, in row order: join
          the person of the nearest row within max_distance that has a person by then (core
          rows and earlier rows of this pass), else stay unassigned (a singleton).
Where this differs from Immich: neighbours are exact (every row within max_distance, from the
cosine-distance graph above, not a k = 64 nearest-neighbour list, which would miss the nearest
assigned face in a person with more than 64 faces; Immich searches an approximate vector
index, which may miss neighbours); the processing order is the row order (Immich's is the
database's order of the faces); all faces belong to one owner and are on the timeline (no
archived/hidden photos, which Immich never makes core); the birth-date filter of newer Immich
versions (faces in photos taken before a person's birth date do not match that person),
shared spaces of some forks, the nightly incremental runs and any manual correction are not
modelled. Immich's people list hides people with fewer than min_faces faces; that is display
only, the faces stay assigned, and here they are scored as assigned.

Threads: numpy/BLAS and scikit-learn are limited to --threads (default 1) and n_jobs=1.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

NORM_TOLERANCE = 1e-3
HDBSCAN_MAX_N = 20_000
BEST_PRECISION = 0.99

DBSCAN_EPS = [round(0.300 + 0.025 * k, 3) for k in range(19)]  # 0.300 .. 0.750 (cosine)
DBSCAN_MIN_SAMPLES = [1, 2, 3, 5]
HDBSCAN_MIN_CLUSTER_SIZE = [2, 3, 5, 8]
HDBSCAN_MIN_SAMPLES = [1, 2, 3, 5]
HDBSCAN_EPSILON = [0.0, 0.3, 0.5, 0.7]  # euclidean
IMMICH_MAX_DISTANCE = [round(0.300 + 0.025 * k, 3) for k in range(17)]  # 0.300 .. 0.700
IMMICH_MIN_FACES = [1, 2, 3, 5]
METHODS = ("dbscan", "hdbscan", "immich")

UNASSIGNED = -1


class PeerError(Exception):
    """An error reported to the user as one line, without a traceback (exit status 2)."""


class InputError(PeerError):
    """A missing or malformed input file."""


# ----------------------------------------------------------------------------------- inputs


def read_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 text file, stripped; a final newline does not start a line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a file") from None
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.strip() for line in lines]


def factorize(values: Iterable[str]) -> tuple[np.ndarray, int]:
    """Integer codes 0..k-1 for strings, in order of first appearance, and k."""
    codes: dict[str, int] = {}
    out = np.fromiter((codes.setdefault(v, len(codes)) for v in values), dtype=np.int64)
    return out, len(codes)


def check_count(path: Path, lines: Sequence[str], n: int | None, n_source: Path | None) -> None:
    if n is not None and len(lines) != n:
        raise InputError(f"{path}: {len(lines)} lines, but {n_source} has {n} rows")


def read_labels_file(path: Path, n: int | None, n_source: Path | None, what: str) -> np.ndarray:
    """Codes of a file with one non-empty string per row (labels.txt, images.txt)."""
    lines = read_lines(path)
    check_count(path, lines, n, n_source)
    for i, line in enumerate(lines):
        if not line:
            raise InputError(f"{path}: line {i + 1} is empty (every row needs {what})")
    return factorize(lines)[0]


def templates_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of a .npy file, read from its header only."""
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    if magic != b"\x93NUMPY":
        raise InputError(f"{path}: not a .npy file (no NUMPY header)")
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (ValueError, OSError, EOFError) as e:
        raise InputError(f"{path}: not a readable .npy array ({e})") from None
    return arr.shape, arr.dtype


def check_templates_header(path: Path, shape: tuple[int, ...], dtype: np.dtype) -> None:
    if dtype != np.float32:
        raise InputError(f"{path}: dtype {dtype}, expected float32")
    if len(shape) != 2:
        raise InputError(f"{path}: shape {shape}, expected 2 dimensions (N x D)")
    if shape[0] == 0 or shape[1] == 0:
        raise InputError(f"{path}: shape {shape}, expected at least one row and one column")


def load_templates(path: Path) -> np.ndarray:
    """The N x D float32 templates, checked: finite, L2 norm within NORM_TOLERANCE of 1."""
    shape, dtype = templates_header(path)
    check_templates_header(path, shape, dtype)
    try:
        x = np.ascontiguousarray(np.load(path, allow_pickle=False))
    except (ValueError, OSError, EOFError) as e:
        raise InputError(f"{path}: not a readable .npy array ({e})") from None
    finite = np.isfinite(x).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise InputError(f"{path}: row {row} has a non-finite value")
    norms = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))
    bad = np.abs(norms - 1.0) > NORM_TOLERANCE
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{path}: {int(bad.sum())} row(s) not L2-normalised (row {row} has norm "
            f"{norms[row]:.6f}; tolerance {NORM_TOLERANCE})"
        )
    return x


class Dataset:
    """labels (codes), optional images (codes) and, for sweeps, the templates."""

    def __init__(self, directory: Path, need_templates: bool):
        if not directory.is_dir():
            raise InputError(f"{directory}: data directory not found")
        self.dir = directory
        tpath = directory / "templates.npy"
        self.templates: np.ndarray | None = None
        n: int | None = None
        n_source: Path | None = None
        if need_templates:
            self.templates = load_templates(tpath)
            n, n_source = self.templates.shape[0], tpath
        elif tpath.exists():
            shape, dtype = templates_header(tpath)
            check_templates_header(tpath, shape, dtype)
            n, n_source = shape[0], tpath
        lpath = directory / "labels.txt"
        self.labels = read_labels_file(lpath, n, n_source, "a label")
        if n is None:
            n, n_source = len(self.labels), lpath
        if n == 0:
            raise InputError(f"{lpath}: no rows")
        self.n = n
        self.n_source = n_source
        ipath = directory / "images.txt"
        self.images = (
            read_labels_file(ipath, n, n_source, "a photo id") if ipath.exists() else None
        )


def read_assignment(path: Path, n: int, n_source: Path | None) -> np.ndarray:
    """Cluster ids of an assignment file: codes >= 0, UNASSIGNED for `-` and empty lines."""
    lines = read_lines(path)
    check_count(path, lines, n, n_source)
    assigned = [line for line in lines if line and line != "-"]
    codes, _ = factorize(assigned)
    out = np.full(n, UNASSIGNED, dtype=np.int64)
    mask = np.fromiter((bool(line) and line != "-" for line in lines), dtype=bool, count=n)
    out[mask] = codes
    return out


# ---------------------------------------------------------------------------------- scoring


def normalise_clusters(raw: np.ndarray) -> np.ndarray:
    """Contiguous cluster ids 0..k-1; every negative id (noise, unassigned) becomes its own."""
    raw = np.asarray(raw, dtype=np.int64)
    out = np.empty_like(raw)
    neg = raw < 0
    _, inv = np.unique(raw[~neg], return_inverse=True)
    out[~neg] = inv
    start = int(inv.max()) + 1 if inv.size else 0
    out[neg] = start + np.arange(int(neg.sum()), dtype=np.int64)
    return out


def pairs(counts: np.ndarray) -> int:
    c = counts.astype(np.int64)
    return int((c * (c - 1) // 2).sum())


def cell_counts(a: np.ndarray, b: np.ndarray, b_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (a, b) pairs as codes a * b_size + b, and how many items each has."""
    return np.unique(a * np.int64(b_size) + b, return_counts=True)


def harmonic(p: float, r: float) -> float:
    return 2.0 * p * r / (p + r) if p + r > 0 else 0.0


def score(raw_clusters: np.ndarray, labels: np.ndarray, images: np.ndarray | None) -> dict:
    """BCubed and pairwise precision/recall/F of an assignment against the labels."""
    # Worked example (checked by hand and against this code): 7 rows,
    #   labels   a  a  a  b  b  c  c
    #   assign   1  1  2  2  2  2  -          images p1 p2 p1 p3 p3 p4 p4
    # clusters {0,1} {2,3,4,5} {6}: clusters 3, singletons 1.
    # BCubed precision (1 + 1 + 1/4 + 2/4 + 2/4 + 1/4 + 1) / 7 = 9/14 = 0.642857,
    # recall (2/3 + 2/3 + 1/3 + 1 + 1 + 1/2 + 1/2) / 7 = 2/3 = 0.666667, F 36/55 = 0.654545.
    # Pairwise: same cluster 1 + 6 = 7 pairs, of which 2 share a label ((0,1) and (3,4));
    # same label 3 + 1 + 1 = 5 pairs: precision 2/7 = 0.285714, recall 2/5 = 0.4, F 1/3.
    # Same photo: (0,2), (3,4), (5,6) = 3 pairs, of which (3,4) is merged: 1.
    clusters = normalise_clusters(raw_clusters)
    n = len(clusters)
    c_size = np.bincount(clusters)
    n_labels = int(labels.max()) + 1
    l_size = np.bincount(labels, minlength=n_labels)
    cells, n_cell = cell_counts(clusters, labels, n_labels)
    cell_cluster, cell_label = cells // n_labels, cells % n_labels
    n_cell_f = n_cell.astype(np.float64)
    # sum over items of n_cell / |C| = sum over cells of n_cell^2 / |C|; same for recall
    bp = float((n_cell_f**2 / c_size[cell_cluster]).sum() / n)
    br = float((n_cell_f**2 / l_size[cell_label]).sum() / n)
    tp, same_cluster, same_label = pairs(n_cell), pairs(c_size), pairs(l_size)
    pp = tp / same_cluster if same_cluster else 1.0
    pr = tp / same_label if same_label else 1.0
    out = {
        "n": n,
        "clusters": int(len(c_size)),
        "singletons": int((c_size == 1).sum()),
        "bcubed_precision": bp,
        "bcubed_recall": br,
        "bcubed_f": harmonic(bp, br),
        "pairwise_precision": pp,
        "pairwise_recall": pr,
        "pairwise_f": harmonic(pp, pr),
    }
    if images is not None:
        n_images = int(images.max()) + 1
        out["same_photo_pairs"] = pairs(np.bincount(images))
        out["same_photo_merges"] = pairs(cell_counts(clusters, images, n_images)[1])
    return out


def rounded(d: dict) -> dict:
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in d.items()}


# ------------------------------------------------------------------------ neighbour graph


def cosine_radius_graph(x: np.ndarray, radius: float, max_entries: int, log: Callable):
    """CSR graph of cosine distances <= radius (self included), each row sorted by distance.

    Blocks of rows go through one float32 matrix product with all rows (<= 256 MB a block).
    """
    from scipy.sparse import csr_matrix

    n = x.shape[0]
    block = max(1, min(n, (256 << 20) // (4 * n)))
    indptr = np.zeros(n + 1, dtype=np.int64)
    indices: list[np.ndarray] = []
    data: list[np.ndarray] = []
    total = 0
    for start in range(0, n, block):
        stop = min(n, start + block)
        dist = x[start:stop] @ x.T
        np.subtract(np.float32(1.0), dist, out=dist)
        r, c = np.nonzero(dist <= radius)
        d = np.maximum(dist[r, c], np.float32(0.0))
        order = np.lexsort((c, d, r))  # by row, then distance, then column
        indices.append(c[order].astype(np.int32))
        data.append(d[order])
        indptr[start + 1 : stop + 1] = total + np.cumsum(np.bincount(r, minlength=stop - start))
        total += len(r)
        if total > max_entries:
            raise PeerError(
                f"the graph of cosine distances <= {radius} has more than {max_entries} "
                f"entries after {stop} of {n} rows; raise --max-graph-entries if memory allows"
            )
    graph = csr_matrix(
        (np.concatenate(data), np.concatenate(indices), indptr), shape=(n, n), copy=False
    )
    log(f"graph: {n} rows, {total} entries within cosine distance {radius} "
        f"({total / n:.1f} a row)")
    return graph


# ---------------------------------------------------------------------------------- methods


Setting = tuple[dict, np.ndarray, float, dict]  # params, raw clusters, seconds, extra fields


def run_dbscan(graph) -> Iterator[Setting]:
    from sklearn.cluster import DBSCAN

    for eps in DBSCAN_EPS:
        for min_samples in DBSCAN_MIN_SAMPLES:
            t = time.perf_counter()
            model = DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed", n_jobs=1)
            labels = model.fit(graph).labels_
            params = {
                "eps": eps,
                "eps_euclidean": round(math.sqrt(2 * eps), 6),
                "min_samples": min_samples,
            }
            yield params, labels, time.perf_counter() - t, {}


def run_hdbscan(x: np.ndarray) -> Iterator[Setting]:
    from sklearn.cluster import HDBSCAN

    try:
        from sklearn.cluster._hdbscan.hdbscan import tree_to_labels
    except ImportError:
        tree_to_labels = None
    n = x.shape[0]
    for min_samples in HDBSCAN_MIN_SAMPLES:
        if min_samples > n:
            continue
        tree = None
        for min_cluster_size in HDBSCAN_MIN_CLUSTER_SIZE:
            for epsilon in HDBSCAN_EPSILON:
                t = time.perf_counter()
                reused = False
                labels = None
                if tree is not None and tree_to_labels is not None:
                    try:
                        labels, _ = tree_to_labels(
                            tree, min_cluster_size, "eom", False, epsilon, None
                        )
                        reused = True
                    except (TypeError, ValueError):  # a private function: its signature moved
                        tree_to_labels = None
                if labels is None:
                    try:
                        model = HDBSCAN(
                            min_cluster_size=min_cluster_size,
                            min_samples=min_samples,
                            cluster_selection_epsilon=epsilon,
                            metric="euclidean",
                            n_jobs=1,
                            copy=True,
                        ).fit(x)
                    except (TypeError, ValueError) as e:
                        # scikit-learn 1.9.1's epsilon search fails on some trees ("only
                        # 0-dimensional arrays can be converted to Python scalars"): that
                        # setting is left out and said so.
                        print(
                            f"hdbscan min_cluster_size={min_cluster_size} min_samples={min_samples} "
                            f"epsilon={epsilon}: scikit-learn failed ({e}); setting skipped",
                            file=sys.stderr,
                        )
                        continue
                    labels = model.labels_
                    tree = getattr(model, "_single_linkage_tree_", None)
                params = {
                    "min_cluster_size": min_cluster_size,
                    "min_samples": min_samples,
                    "cluster_selection_epsilon": epsilon,
                    "cluster_selection_epsilon_cosine": round(epsilon * epsilon / 2, 6),
                }
                yield params, labels, time.perf_counter() - t, {"reused_tree": reused}


def immich_cluster(graph, max_distance: float, min_faces: int) -> np.ndarray:
    """Immich's face-clustering rule (see the module docstring): person per row, -1 if none."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    n = graph.shape[0]
    indptr, indices, data = graph.indptr, graph.indices, graph.data
    row = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    within = data <= max_distance
    count = np.bincount(row[within], minlength=n)  # the row itself included
    core = count >= min_faces

    # pass 1: each core row links to its nearest earlier core row within max_distance (rows are
    # sorted by distance, so the first such entry of a row); people are the trees.
    link = within & core[row] & core[indices] & (indices < row)
    pos = np.flatnonzero(link)
    child, first = np.unique(row[pos], return_index=True)
    parent = indices[pos[first]]
    forest = csr_matrix((np.ones(len(child), dtype=np.int8), (child, parent)), shape=(n, n))
    _, tree = connected_components(forest, directed=False)
    person = np.where(core, tree, UNASSIGNED).astype(np.int64)

    # pass 2: the deferred rows, in order, join the nearest row that has a person by then
    for i in np.flatnonzero(~core & (count >= 2)):
        a, b = indptr[i], indptr[i + 1]
        for j in indices[a:b][data[a:b] <= max_distance]:
            if person[j] != UNASSIGNED:
                person[i] = person[j]
                break
    return person


def run_immich(graph) -> Iterator[Setting]:
    for max_distance in IMMICH_MAX_DISTANCE:
        for min_faces in IMMICH_MIN_FACES:
            t = time.perf_counter()
            person = immich_cluster(graph, max_distance, min_faces)
            params = {"max_distance": max_distance, "min_faces": min_faces}
            yield params, person, time.perf_counter() - t, {}


# ------------------------------------------------------------------------------- commands


def cmd_score(args: argparse.Namespace) -> None:
    ds = Dataset(Path(args.data), need_templates=False)
    assignment = read_assignment(Path(args.assign), ds.n, ds.n_source)
    print(json.dumps(rounded(score(assignment, ds.labels, ds.images))), flush=True)


def best_lines(method: str, results: list[dict]) -> list[dict]:
    out = []
    if results:
        top = max(results, key=lambda r: r["bcubed_f"])  # first of equals
        out.append({"best": True, "criterion": "bcubed_f", **top})
    precise = [r for r in results if r["bcubed_precision"] >= BEST_PRECISION]
    if precise:
        top = max(precise, key=lambda r: r["bcubed_f"])
        out.append({"best": True, "criterion": f"bcubed_f_at_precision_{BEST_PRECISION}", **top})
    return out


def cmd_sweep(args: argparse.Namespace) -> None:
    try:
        import scipy  # noqa: F401
        import sklearn  # noqa: F401
        from threadpoolctl import threadpool_limits
    except ImportError as e:
        raise PeerError(
            f"sweep needs scikit-learn ({e}); install with: pip install -r "
            "crates/bench/peers/requirements-people.txt"
        ) from None
    if args.threads < 1:
        raise PeerError("--threads must be at least 1")

    def log(msg: str) -> None:
        print(f"people_peers: {msg}", file=sys.stderr, flush=True)

    ds = Dataset(Path(args.data), need_templates=True)
    x = ds.templates
    assert x is not None
    if ds.n < 2:
        raise InputError(f"{ds.n_source}: {ds.n} row; a sweep needs at least 2")
    methods = list(dict.fromkeys(args.methods))  # unique, in the order given
    try:
        out_file = open(args.jsonl, "w", encoding="utf-8") if args.jsonl else None
    except OSError as e:
        raise PeerError(f"{args.jsonl}: cannot write: {e.strerror}") from None

    def emit(obj: dict) -> None:
        line = json.dumps(rounded(obj))
        print(line, flush=True)
        if out_file:
            out_file.write(line + "\n")
            out_file.flush()

    try:
        with threadpool_limits(limits=args.threads):
            graph = None
            radius = max(
                [DBSCAN_EPS[-1]] * ("dbscan" in methods)
                + [IMMICH_MAX_DISTANCE[-1]] * ("immich" in methods),
                default=None,
            )
            if radius is not None:
                t = time.perf_counter()
                graph = cosine_radius_graph(x, radius, args.max_graph_entries, log)
                log(f"graph built in {time.perf_counter() - t:.2f} s")
            for method in methods:
                if method == "hdbscan" and ds.n > HDBSCAN_MAX_N and not args.force:
                    emit({"method": method, "skipped": True, "n": ds.n,
                          "reason": f"N = {ds.n} > {HDBSCAN_MAX_N}: scikit-learn's HDBSCAN is "
                                    "O(N^2 D) per min_samples here; pass --force to run it"})
                    continue
                runs = {"dbscan": lambda: run_dbscan(graph), "hdbscan": lambda: run_hdbscan(x),
                        "immich": lambda: run_immich(graph)}[method]()
                log(f"{method}: sweeping")
                t = time.perf_counter()
                results = []
                for params, raw, seconds, extra in runs:
                    result = {"method": method, "params": params, "seconds": seconds, **extra,
                              **score(raw, ds.labels, ds.images)}
                    results.append(result)
                    emit(result)
                log(f"{method}: {len(results)} settings in {time.perf_counter() - t:.2f} s")
                for line in best_lines(method, results):
                    emit(line)
    finally:
        if out_file:
            out_file.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="people_peers.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("score", help="score an assignment file against labels.txt")
    p.add_argument("--data", required=True, metavar="DIR",
                   help="directory with labels.txt, [templates.npy], [images.txt]")
    p.add_argument("--assign", required=True, metavar="FILE",
                   help="one cluster id per row; '-' or empty = unassigned (singleton)")
    p.set_defaults(func=cmd_score)
    p = sub.add_parser("sweep", help="sweep the peers' parameters and score every setting")
    p.add_argument("--data", required=True, metavar="DIR",
                   help="directory with templates.npy, labels.txt, [images.txt]")
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--jsonl", metavar="OUT", help="also write the JSON lines to OUT")
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS/OpenMP threads (default 1); scikit-learn runs with n_jobs=1")
    p.add_argument("--force", action="store_true",
                   help=f"run hdbscan even with N > {HDBSCAN_MAX_N}")
    p.add_argument("--max-graph-entries", type=int, default=200_000_000, metavar="M",
                   help="stop if the neighbour graph (dbscan, immich) grows past M entries "
                        "(about 8 bytes each; default 200,000,000)")
    p.set_defaults(func=cmd_sweep)
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except PeerError as e:
        print(f"people_peers.py: error: {e}", file=sys.stderr)
        return 2
    except MemoryError:
        print("people_peers.py: error: out of memory", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
