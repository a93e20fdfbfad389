"""node2vec (Grover & Leskovec 2016) on a weighted undirected graph: biased walks + skip-gram.

Walks: second-order random walks with return parameter p and in-out parameter q. From the
previous node t at the current node v, the next node x is drawn with probability proportional to
w_vx * alpha(t, x), alpha = 1/p if x == t, 1 if x is a neighbour of t, 1/q otherwise. We sample it
exactly without the per-edge alias tables of the reference code (memory O(sum deg^2)): x is drawn
from v's first-order alias table (proportional to w_vx) and accepted with probability
alpha(t, x) / max(1/p, 1, 1/q) -- rejection sampling (as KnightKing / PecanPy do), vectorised over
all walks at once with numpy. Edge membership (is x a neighbour of t) is a binary search in the
sorted CSR edge keys.

Embedding: gensim Word2Vec skip-gram (sg=1) over the walks, 128-d, window 10, seeded, one worker
(deterministic for a seed). Defaults are the reference implementation's (10 walks of length 80 per
node, p = q = 1, window 10) with 5 epochs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import scipy.sparse as sp

from brandmatch.errors import FeatureError


@dataclass(frozen=True)
class Node2VecSettings:
    dim: int = 128
    walk_length: int = 80
    num_walks: int = 10
    p: float = 1.0
    q: float = 1.0
    window: int = 10
    epochs: int = 5
    negative: int = 5
    seed: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class WeightedGraph:
    """Undirected weighted graph in CSR form (sorted neighbours, no self-loops).

    Built from (i, j, w) triples over nodes 0..n-1; a pair given more than once (in either
    direction) is merged by ``merge`` over its weights: "mean" (default), "max" or "sum".
    """

    def __init__(self, n: int, src: np.ndarray, dst: np.ndarray, weight: np.ndarray, merge: str = "mean"):
        src = np.asarray(src, dtype=np.int64)
        dst = np.asarray(dst, dtype=np.int64)
        weight = np.asarray(weight, dtype=np.float64)
        if len(src) and (src.min() < 0 or dst.min() < 0 or max(src.max(), dst.max()) >= n):
            raise FeatureError(f"graph: node ids must lie in 0..{n - 1}")
        if np.any(~np.isfinite(weight)) or np.any(weight <= 0):
            raise FeatureError("graph: edge weights must be finite and > 0")
        keep = src != dst
        a, b, w = np.minimum(src, dst)[keep], np.maximum(src, dst)[keep], weight[keep]
        key = a * n + b
        uniq, inv = np.unique(key, return_inverse=True)
        if merge == "mean":
            merged = np.bincount(inv, weights=w) / np.bincount(inv)
        elif merge == "sum":
            merged = np.bincount(inv, weights=w)
        elif merge == "max":
            merged = np.full(len(uniq), -np.inf)
            np.maximum.at(merged, inv, w)
        else:
            raise ValueError(f"unknown merge {merge!r}")
        ua, ub = uniq // n, uniq % n
        rows = np.concatenate([ua, ub])
        cols = np.concatenate([ub, ua])
        data = np.concatenate([merged, merged])
        mat = sp.csr_matrix((data, (rows, cols)), shape=(n, n))
        mat.sort_indices()
        self.n = n
        self.indptr = mat.indptr.astype(np.int64)
        self.indices = mat.indices.astype(np.int64)
        self.weights = mat.data.astype(np.float64)
        self.n_duplicates = int(len(key) - len(uniq))

    @property
    def n_edges(self) -> int:
        return len(self.indices) // 2

    def degree(self) -> np.ndarray:
        return np.diff(self.indptr)

    def edge_keys(self) -> np.ndarray:
        """Sorted int64 keys src * n + dst of every directed edge."""
        src = np.repeat(np.arange(self.n, dtype=np.int64), self.degree())
        return src * self.n + self.indices


def alias_tables(graph: WeightedGraph) -> tuple[np.ndarray, np.ndarray]:
    """Walker/Vose alias tables for every node's neighbour distribution (flat, CSR-aligned).

    prob[e], alias[e] for edge slot e of node v: draw slot i uniformly in v's row, keep it with
    probability prob, else take slot alias (a local index within the row).
    """
    prob = np.zeros(len(graph.indices), dtype=np.float64)
    alias = np.zeros(len(graph.indices), dtype=np.int64)
    for v in range(graph.n):
        lo, hi = graph.indptr[v], graph.indptr[v + 1]
        k = hi - lo
        if k == 0:
            continue
        scaled = graph.weights[lo:hi] * (k / graph.weights[lo:hi].sum())
        pr = np.ones(k)
        al = np.arange(k)
        small = [i for i in range(k) if scaled[i] < 1.0]
        large = [i for i in range(k) if scaled[i] >= 1.0]
        while small and large:
            s, l_ = small.pop(), large.pop()
            pr[s] = scaled[s]
            al[s] = l_
            scaled[l_] -= 1.0 - scaled[s]
            (small if scaled[l_] < 1.0 else large).append(l_)
        prob[lo:hi] = pr
        alias[lo:hi] = al
    return prob, alias


def _draw(graph: WeightedGraph, prob: np.ndarray, alias: np.ndarray, nodes: np.ndarray, rng) -> np.ndarray:
    """One first-order neighbour per node in ``nodes`` (each must have degree > 0)."""
    lo = graph.indptr[nodes]
    deg = graph.indptr[nodes + 1] - lo
    slot = np.minimum((rng.random(len(nodes)) * deg).astype(np.int64), deg - 1)
    keep = rng.random(len(nodes)) < prob[lo + slot]
    local = np.where(keep, slot, alias[lo + slot])
    return graph.indices[lo + local]


def random_walks(graph: WeightedGraph, settings: Node2VecSettings, progress=None) -> np.ndarray:
    """All walks as an int64 array (num_walks * n, walk_length); -1 pads walks that got stuck
    (isolated start nodes). Walk round r starts from every node in a seeded random order."""
    rng = np.random.default_rng(settings.seed)
    prob, alias = alias_tables(graph)
    keys = graph.edge_keys()
    deg = graph.degree()
    inv_p, inv_q = 1.0 / settings.p, 1.0 / settings.q
    amax = max(inv_p, 1.0, inv_q)
    n, length = graph.n, settings.walk_length
    walks = np.full((settings.num_walks * n, length), -1, dtype=np.int64)
    for r in range(settings.num_walks):
        block = walks[r * n:(r + 1) * n]
        block[:, 0] = rng.permutation(n)
        if length > 1:
            ok = deg[block[:, 0]] > 0
            block[ok, 1] = _draw(graph, prob, alias, block[ok, 0], rng)
        for step in range(2, length):
            active = np.flatnonzero(block[:, step - 1] >= 0)
            pending = active
            while len(pending):
                prev, cur = block[pending, step - 2], block[pending, step - 1]
                cand = _draw(graph, prob, alias, cur, rng)
                k = prev * n + cand
                pos = np.minimum(np.searchsorted(keys, k), len(keys) - 1)
                is_nb = keys[pos] == k
                alpha = np.where(cand == prev, inv_p, np.where(is_nb, 1.0, inv_q))
                acc = rng.random(len(pending)) * amax < alpha
                block[pending[acc], step] = cand[acc]
                pending = pending[~acc]
        if progress is not None:
            progress.update(1)
    return walks


def node2vec_embed(
    graph: WeightedGraph, settings: Node2VecSettings = Node2VecSettings(), progress=None
) -> tuple[np.ndarray, np.ndarray]:
    """Node embeddings (n, dim) float32 and a mask (n,) (False for isolated nodes: no walk
    context, their vector is zeros)."""
    from gensim.models import Word2Vec

    from brandmatch.features.text_embed import stable_hash

    deg = graph.degree()
    if graph.n == 0 or not (deg > 0).any():
        raise FeatureError("node2vec: the graph has no edges")
    walks = random_walks(graph, settings, progress)
    sentences = [[str(v) for v in w[w >= 0]] for w in walks if (w >= 0).sum() > 1]
    model = Word2Vec(
        sentences=sentences, vector_size=settings.dim, window=settings.window, min_count=0, sg=1,
        negative=settings.negative, workers=1, seed=settings.seed, epochs=settings.epochs,
        hashfxn=stable_hash,
    )
    out = np.zeros((graph.n, settings.dim), dtype=np.float32)
    mask = deg > 0
    for v in np.flatnonzero(mask):
        out[v] = model.wv[str(v)]
    return out, mask


def cosine_matrix(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    y = np.divide(x, norm, out=np.zeros_like(x, dtype=np.float64), where=norm > 0)
    return y @ y.T


def read_edge_list(path, merge: str = "mean") -> WeightedGraph:
    """A text edge list ``i j w`` per line (MORNING's attribute_graph.txt) as a WeightedGraph."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 3:
                raise FeatureError(f"{path}, row {lineno}: expected 'i j w', got {line.strip()!r}")
            try:
                rows.append((int(parts[0]), int(parts[1]), float(parts[2])))
            except ValueError:
                raise FeatureError(f"{path}, row {lineno}: expected 'i j w', got {line.strip()!r}") from None
    arr = np.array(rows, dtype=np.float64).reshape(-1, 3)
    n = int(arr[:, :2].max()) + 1 if len(arr) else 0
    return WeightedGraph(n, arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), arr[:, 2], merge=merge)


def neighbour_overlap(a: np.ndarray, b: np.ndarray, k: int = 10, nodes: Sequence[int] | None = None) -> float:
    """Mean Jaccard overlap of the cosine top-k neighbour sets of two embeddings of the same nodes."""
    ca, cb = cosine_matrix(a), cosine_matrix(b)
    np.fill_diagonal(ca, -np.inf)
    np.fill_diagonal(cb, -np.inf)
    idx = range(len(a)) if nodes is None else nodes
    scores = []
    for v in idx:
        na = set(np.argsort(-ca[v])[:k].tolist())
        nb = set(np.argsort(-cb[v])[:k].tolist())
        scores.append(len(na & nb) / len(na | nb))
    return float(np.mean(scores))
