"""Biased random walks, node2vec embeddings, and the check on MORNING's real attribute graph."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from brandmatch.errors import FeatureError
from brandmatch.features.node2vec import (
    Node2VecSettings, WeightedGraph, alias_tables, cosine_matrix, neighbour_overlap, node2vec_embed,
    random_walks, read_edge_list,
)

from brandmatch.features.topics import shared_dir

ATTR_DIR = shared_dir() / "datasets" / "mir-public" / "morning-attributes"


def _two_cliques():
    edges = [(a, b) for a in range(5) for b in range(a + 1, 5)] + [(a, b) for a in range(5, 10) for b in range(a + 1, 10)]
    edges.append((4, 5))
    src, dst = zip(*edges)
    return WeightedGraph(10, np.array(src), np.array(dst), np.ones(len(edges)))


def test_graph_merges_duplicate_directions():
    g = WeightedGraph(3, np.array([0, 1, 1]), np.array([1, 0, 2]), np.array([1.0, 3.0, 2.0]))
    assert g.n_edges == 2 and g.n_duplicates == 1
    assert g.weights[g.indptr[0]] == 2.0  # mean of 1 and 3
    with pytest.raises(FeatureError):
        WeightedGraph(2, np.array([0]), np.array([1]), np.array([0.0]))


def test_alias_tables_reproduce_weights():
    g = WeightedGraph(4, np.array([0, 0, 0]), np.array([1, 2, 3]), np.array([1.0, 2.0, 7.0]))
    prob, alias = alias_tables(g)
    lo, hi = g.indptr[0], g.indptr[1]
    k = hi - lo
    p = np.zeros(k)
    for i in range(k):
        p[i] += prob[lo + i] / k
        p[alias[lo + i]] += (1 - prob[lo + i]) / k
    np.testing.assert_allclose(p, [0.1, 0.2, 0.7])


def test_walks_follow_edges_and_are_deterministic():
    g = _two_cliques()
    s = Node2VecSettings(walk_length=15, num_walks=3, seed=1)
    w1, w2 = random_walks(g, s), random_walks(g, s)
    np.testing.assert_array_equal(w1, w2)
    keys = set(g.edge_keys().tolist())
    for walk in w1:
        for a, b in zip(walk[:-1], walk[1:]):
            assert a * g.n + b in keys


def test_return_parameter_biases_walks():
    g = _two_cliques()
    def returns(p):
        w = random_walks(g, Node2VecSettings(walk_length=30, num_walks=5, p=p, q=1.0, seed=0))
        return float((w[:, 2:] == w[:, :-2]).mean())
    assert returns(0.1) > 2 * returns(10.0)


def test_embedding_separates_communities():
    g = _two_cliques()
    emb, mask = node2vec_embed(g, Node2VecSettings(dim=16, walk_length=20, num_walks=10, window=3, epochs=3))
    assert mask.all()
    c = cosine_matrix(emb)
    within = np.mean([c[0, 1], c[1, 2], c[6, 7], c[7, 8]])
    across = np.mean([c[0, 8], c[1, 9], c[2, 7]])
    assert within > across


def test_real_morning_graph_related_attributes_are_nearer():
    path = ATTR_DIR / "attribute_graph.txt"
    if not path.exists():
        pytest.skip("MORNING attribute graph not in ../shared")
    g = read_edge_list(path)
    assert g.n == 572
    emb, mask = node2vec_embed(g, Node2VecSettings(walk_length=40, num_walks=10, epochs=3, seed=0))
    x = pd.read_excel(ATTR_DIR / "co-occurrence frequencies of attribute pairs.xlsx", header=None)
    names = dict(zip(x[0], x[1])) | dict(zip(x[2], x[3]))
    pairs = [("makeup", "cosmetic"), ("lipstick", "mascara"), ("cake", "dessert"), ("food", "food-blogger"),
             ("whiskey", "bourbon"), ("shoes", "sneaker"), ("wine", "winemaker"), ("car", "auto-enthusiast")]
    c = cosine_matrix(emb)
    related = np.mean([c[names[a], names[b]] for a, b in pairs])
    rng = np.random.default_rng(0)
    r = rng.integers(0, 572, size=(3000, 2))
    r = r[r[:, 0] != r[:, 1]]
    random = c[r[:, 0], r[:, 1]].mean()
    assert related > random + 0.1
    pub = ATTR_DIR / "node2vec_embedding.txt"
    if pub.exists():
        vecs = {}
        with open(pub) as f:
            next(f)
            for line in f:
                p = line.split()
                vecs[int(p[0])] = np.array(p[1:], dtype=float)
        published = np.stack([vecs[i] for i in range(572)])
        overlap = neighbour_overlap(emb, published, k=10)
        assert overlap > 0.1  # random embeddings give ~0.01
