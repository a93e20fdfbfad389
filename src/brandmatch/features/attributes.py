"""Bio -> attributes -> co-occurrence graph (MORNING eq. 13-17) -> node2vec -> account vector (eq. 18).

1. Keywords (:func:`bio_keywords`): a bio is lower-cased and folded to ASCII; URLs, @mentions,
   emails and emoji dropped; hashtags kept as words; tokens are runs of letters with inner hyphens
   or '&' (``makeup-artist``, ``food-blogger``, ``fashion&shoes``), a trailing plural 's' is reduced
   by WordNet morphology for single words; stop words and words shorter than 3 letters dropped. A
   keyword is kept when at least ``min_df`` bios use it.
2. Merging (:func:`merge_keywords`): every single-word keyword is mapped to its most frequent
   WordNet 3.0 noun sense (Debian package ``wordnet-base``, read directly by :class:`WordNetNouns`),
   and its hypernym chain is walked up at most ``max_up`` levels, never above depth ``min_depth``
   from the root. The keyword is merged into the nearest ancestor that subsumes at least
   ``min_group`` keywords of the vocabulary (e.g. lipstick, mascara, eyeliner -> makeup; cake,
   ice-cream, pudding -> dessert); the attribute is named by that synset's first lemma. Keywords
   not merged, people (WordNet's noun.person: occupations such as photographer, chef) and
   compounds WordNet does not know (makeup-artist) are attributes of their own. Keywords that WordNet does not know stay as they are.
3. Co-occurrence (:func:`cooccurrence`): over the TRAINING cooperations only (brands whose split
   is "train"), for unordered attribute pairs i != j, eq. 13-16:
   coocf(i, j) = sum_k q_b + q_m + q_bm, q_b = [i, j in S_b], q_m = [i, j in S_m],
   q_bm = [(i in S_b and j in S_m) or (i in S_m and j in S_b)].
4. Edge weights w_ij = sqrt(coocf / eta), eta = 2 (eq. 17); node2vec embeddings; an account's
   vector is the mean of its attributes' embeddings (eq. 18 before the MLP beta). Accounts with no
   attribute in the graph are masked.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from brandmatch.errors import FeatureError

#: eq. 17 scaling factor (the MORNING release: w = sqrt(coocf / 2)).
ETA = 2.0
WORDNET_DIRS = ("/usr/share/wordnet",)
_WORDNET_CACHE: dict[str, "WordNetNouns"] = {}
#: WordNet lexicographer file number of noun.person.
NOUN_PERSON = 18

_URL_RE = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+\.\S+", re.IGNORECASE)
_MENTION_RE = re.compile(r"@[\w.]+")
_TOKEN_RE = re.compile(r"[a-z]+(?:[-&][a-z]+)*")


# ---------------------------------------------------------------------- WordNet


class WordNetNouns:
    """The noun part of a WordNet 3.0 database directory (index.noun, data.noun, noun.exc).

    Only what attribute merging needs: lemma -> synsets (most frequent sense first), synset ->
    hypernyms (including instance hypernyms), synset names, depth (longest path to the root
    ``entity``) and WordNet's noun morphology (exception list + suffix rules).
    """

    _RULES = (("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"),
              ("men", "man"), ("ies", "y"))

    def __init__(self, directory: str | os.PathLike):
        d = Path(directory)
        for f in ("index.noun", "data.noun"):
            if not (d / f).is_file():
                raise FeatureError(f"{d / f}: WordNet noun file missing (apt-get install wordnet-base)")
        self.index: dict[str, list[int]] = {}
        with open(d / "index.noun", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(" "):
                    continue
                p = line.split()
                n_syn, n_ptr = int(p[2]), int(p[3])
                self.index[p[0]] = [int(x) for x in p[6 + n_ptr:6 + n_ptr + n_syn]]
        self.hypernyms: dict[int, list[int]] = {}
        self.lemmas: dict[int, list[str]] = {}
        self.lexfile: dict[int, int] = {}
        with open(d / "data.noun", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(" "):
                    continue
                p = line.split(" | ")[0].split()
                off, w_cnt = int(p[0]), int(p[3], 16)
                self.lemmas[off] = [p[4 + 2 * i].lower() for i in range(w_cnt)]
                self.lexfile[off] = int(p[1])
                k = 4 + 2 * w_cnt
                n_ptr = int(p[k])
                hyp = []
                for j in range(n_ptr):
                    sym, target, pos = p[k + 1 + 4 * j], p[k + 2 + 4 * j], p[k + 3 + 4 * j]
                    if sym in ("@", "@i") and pos == "n":
                        hyp.append(int(target))
                self.hypernyms[off] = hyp
        self.exceptions: dict[str, str] = {}
        if (d / "noun.exc").is_file():
            with open(d / "noun.exc", encoding="utf-8", errors="replace") as f:
                for line in f:
                    p = line.split()
                    if len(p) >= 2:
                        self.exceptions[p[0]] = p[1]
        self._depth: dict[int, int] = {}

    @classmethod
    def find(cls) -> "WordNetNouns":
        """Open $BRANDMATCH_WORDNET or the Debian ``wordnet-base`` directory (cached per process)."""
        env = os.environ.get("BRANDMATCH_WORDNET")
        for d in ([env] if env else []) + list(WORDNET_DIRS):
            if d and (Path(d) / "data.noun").is_file():
                key = str(Path(d).resolve())
                if key not in _WORDNET_CACHE:
                    _WORDNET_CACHE[key] = cls(d)
                return _WORDNET_CACHE[key]
        raise FeatureError(
            "WordNet 3.0 database not found (apt-get install wordnet-base, or set BRANDMATCH_WORDNET "
            "to a directory with index.noun and data.noun)"
        )

    def lemmatize(self, word: str) -> str | None:
        """WordNet noun morphology: the base form known to WordNet, or None."""
        w = word.replace("-", "_")
        if w in self.index:
            return w
        if w in self.exceptions and self.exceptions[w] in self.index:
            return self.exceptions[w]
        for suffix, repl in self._RULES:
            if w.endswith(suffix) and len(w) > len(suffix) + 1:
                base = w[: -len(suffix)] + repl
                if base in self.index:
                    return base
        return None

    def synsets(self, word: str) -> list[int]:
        base = self.lemmatize(word)
        return self.index.get(base, []) if base else []

    def is_person(self, synset: int) -> bool:
        """True for the noun.person lexicographer file (occupations, roles)."""
        return self.lexfile.get(synset) == NOUN_PERSON

    def name(self, synset: int) -> str:
        return self.lemmas[synset][0].replace("_", "-")

    def depth(self, synset: int) -> int:
        """Longest hypernym path length to a root (entity has depth 0)."""
        got = self._depth.get(synset)
        if got is not None:
            return got
        stack = [(synset, False)]
        while stack:
            node, done = stack.pop()
            if node in self._depth:
                continue
            parents = self.hypernyms.get(node, [])
            if done:
                self._depth[node] = 1 + max((self._depth[h] for h in parents), default=-1)
            else:
                stack.append((node, True))
                stack.extend((h, False) for h in parents if h not in self._depth)
        return self._depth[synset]

    def ancestors(self, synset: int, max_up: int) -> dict[int, int]:
        """Ancestors within ``max_up`` hypernym steps -> their distance (self at 0)."""
        out = {synset: 0}
        frontier = [synset]
        for step in range(1, max_up + 1):
            nxt = []
            for s in frontier:
                for h in self.hypernyms.get(s, []):
                    if h not in out:
                        out[h] = step
                        nxt.append(h)
            frontier = nxt
        return out


# ---------------------------------------------------------------------- keywords


@dataclass
class AttributeSettings:
    min_df: int = 3
    max_up: int = 2
    min_depth: int = 6
    min_group: int = 2
    max_senses: int = 3
    compound_share: float = 0.5
    eta: float = ETA

    def as_dict(self) -> dict:
        return dict(self.__dict__)


_SEGMENT_RE = re.compile(r"[^a-z0-9 '\-]+")


def bio_segments(bio: str | None, stopwords: frozenset[str], wordnet: WordNetNouns | None = None) -> list[list[str]]:
    """Keyword candidates of one bio, grouped by segment (text between separators such as
    '|', '•', ',', '.', '&', emoji); stop words and words shorter than 3 letters removed."""
    if not bio or not isinstance(bio, str):
        return []
    text = unicodedata.normalize("NFKD", bio).encode("ascii", "ignore").decode("ascii").lower()
    text = _URL_RE.sub(" | ", text)
    text = _MENTION_RE.sub(" | ", text).replace("'", "").replace("_", "-").replace("#", " ")
    segments = []
    for part in _SEGMENT_RE.split(text):
        seg = []
        for tok in _TOKEN_RE.findall(part):
            tok = tok.strip("-&")
            if len(tok) < 3 or tok in stopwords:
                seg.append(None)  # a removed word breaks compounds too
                continue
            if wordnet is not None and "-" not in tok:
                base = wordnet.lemmatize(tok)
                if base is not None and "_" not in base:
                    tok = base
            seg.append(tok)
        if any(seg):
            segments.append(seg)
    return segments


def bio_tokens(bio: str | None, stopwords: frozenset[str], wordnet: WordNetNouns | None = None) -> list[str]:
    """Keyword candidates of one bio (distinct, in order)."""
    return list(dict.fromkeys(t for seg in bio_segments(bio, stopwords, wordnet) for t in seg if t))


def bio_keywords(
    bios: Sequence[str | None], stopwords: frozenset[str], settings: AttributeSettings,
    wordnet: WordNetNouns | None = None,
) -> tuple[list[list[str]], list[str]]:
    """Per-bio keyword lists restricted to keywords used by >= min_df bios, and the vocabulary.

    Two adjacent words of one segment written with a space ("food blogger") also count as the
    hyphenated compound when the pair is frequent (>= min_df bios, and in at least
    ``compound_share`` of the bios that use its rarer word); the single words stay keywords too.
    """
    kw_lists, vocab, _ = bio_keywords_and_compounds(bios, stopwords, settings, wordnet)
    return kw_lists, vocab


def _candidates(segments: list[list[str | None]]) -> tuple[list[str], list[str]]:
    """Distinct single keywords and adjacent-word pairs ("food-blogger") of one bio's segments."""
    toks = list(dict.fromkeys(t for seg in segments for t in seg if t))
    pairs = list(dict.fromkeys(f"{a}-{b}" for seg in segments for a, b in zip(seg, seg[1:]) if a and b
                               and "-" not in a + b))
    return toks, pairs


def bio_keywords_and_compounds(
    bios: Sequence[str | None], stopwords: frozenset[str], settings: AttributeSettings,
    wordnet: WordNetNouns | None = None,
) -> tuple[list[list[str]], list[str], list[str]]:
    """:func:`bio_keywords` plus the accepted compounds (sorted), which new bios need."""
    cands = [_candidates(bio_segments(b, stopwords, wordnet)) for b in bios]
    toks = [c[0] for c in cands]
    pairs = [c[1] for c in cands]
    min_df = settings.min_df if len(bios) >= 10 * settings.min_df else 1
    word_df = Counter(t for ts in toks for t in ts)
    pair_df = Counter(p for ps in pairs for p in ps)
    compounds = {
        p for p, c in pair_df.items()
        if c >= max(min_df, 2) and c >= settings.compound_share * min(word_df[w] for w in p.split("-"))
    }
    toks = [ts + [p for p in ps if p in compounds and p not in ts] for ts, ps in zip(toks, pairs)]
    df = Counter(t for ts in toks for t in ts)
    vocab = sorted(k for k, c in df.items() if c >= min_df)
    keep = set(vocab)
    return [[t for t in ts if t in keep] for ts in toks], vocab, sorted(compounds)


def keywords_of_bio(
    bio: str | None, stopwords: frozenset[str], wordnet: WordNetNouns | None,
    compounds: set[str] | frozenset[str], vocabulary: set[str] | frozenset[str],
) -> list[str]:
    """A new bio's keywords under a fitted vocabulary: the same candidates and compound rule as
    :func:`bio_keywords`, with the fitted compounds and keyword vocabulary (nothing is learnt)."""
    toks, pairs = _candidates(bio_segments(bio, stopwords, wordnet))
    toks = toks + [p for p in pairs if p in compounds and p not in toks]
    return [t for t in toks if t in vocabulary]


def merge_keywords(vocab: Sequence[str], wordnet: WordNetNouns | None, settings: AttributeSettings) -> dict[str, str]:
    """keyword -> attribute name (itself, or its merged WordNet parent concept)."""
    mapping = {k: k for k in vocab}
    if wordnet is None:
        return mapping
    def near(syn: int) -> dict[int, int]:
        return {a: d for a, d in wordnet.ancestors(syn, settings.max_up).items()
                if wordnet.depth(a) >= settings.min_depth}

    senses: dict[str, list[dict[int, int]]] = {}
    for k in vocab:
        if "&" in k:
            continue
        syns = wordnet.synsets(k)[: settings.max_senses]  # compounds only when WordNet knows them (ice-cream)
        if syns:
            senses[k] = [near(s) for s in syns]
    # Sense choice: the sense whose ancestors are shared with most other keywords (any sense);
    # ties go to WordNet's most frequent sense (e.g. cake -> the baked good, not a cake of soap).
    any_cover: Counter = Counter()
    for opts in senses.values():
        any_cover.update(set().union(*[o.keys() for o in opts]))
    anc: dict[str, dict[int, int]] = {}
    for k, opts in senses.items():
        first = wordnet.synsets(k)[0]
        if wordnet.is_person(first):
            continue  # occupations and roles (photographer, chef, blogger) are attributes as they are
        scores = [max((any_cover[a] - 1 for a in o if o[a] > 0), default=0) for o in opts]
        best = int(np.argmax(scores))
        if wordnet.is_person(wordnet.synsets(k)[best]):
            continue
        anc[k] = opts[best]
    cover: Counter = Counter()
    for a in anc.values():
        cover.update(a.keys())
    for k, a in anc.items():
        best = None
        for s, dist in sorted(a.items(), key=lambda kv: (kv[1], -wordnet.depth(kv[0]), kv[0])):
            if cover[s] >= settings.min_group:
                best = s
                break
        if best is not None:
            mapping[k] = wordnet.name(best)
    return mapping


# ---------------------------------------------------------------------- co-occurrence


def incidence(attribute_lists: Sequence[Sequence[int]], n_attributes: int) -> sp.csr_matrix:
    """Binary (n_items, n_attributes) matrix of attribute lists."""
    rows = [i for i, attrs in enumerate(attribute_lists) for _ in set(attrs)]
    cols = [a for attrs in attribute_lists for a in set(attrs)]
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(attribute_lists), n_attributes))


def cooccurrence(
    brand_attrs: Sequence[Sequence[int]], influencer_attrs: Sequence[Sequence[int]], n_attributes: int
) -> np.ndarray:
    """coocf (eq. 13-16) over K positive examples; the k-th example is (brand_attrs[k], influencer_attrs[k]).

    Returns a symmetric (n_attributes, n_attributes) float64 matrix with a zero diagonal.
    Per example: q_b(i,j) = B_i B_j, q_m = M_i M_j, q_bm = B_i M_j OR M_i B_j, whose sum over k is
    B'M + M'B - (B o M)'(B o M).
    """
    if len(brand_attrs) != len(influencer_attrs):
        raise ValueError("brand and influencer attribute lists differ in length")
    b = incidence(brand_attrs, n_attributes)
    m = incidence(influencer_attrs, n_attributes)
    both = b.multiply(m).tocsr()
    total = (b.T @ b) + (m.T @ m) + (b.T @ m) + (m.T @ b) - (both.T @ both)
    out = np.asarray(total.todense(), dtype=np.float64)
    np.fill_diagonal(out, 0.0)
    return out


def edge_weights(coocf: np.ndarray, eta: float = ETA) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eq. 17: edges (i < j) with coocf > 0 and weight sqrt(coocf / eta)."""
    i, j = np.nonzero(np.triu(coocf, k=1))
    return i, j, np.sqrt(coocf[i, j] / eta)


def mean_embedding(attribute_lists: Sequence[Sequence[int]], node_vectors: np.ndarray, node_mask: np.ndarray):
    """Eq. 18 before beta: mean of the account's attribute embeddings -> (n, d) float32, mask (n,).

    Attributes without an embedding (not in the graph) are ignored; an account left with none is
    masked."""
    n, d = len(attribute_lists), node_vectors.shape[1]
    out = np.zeros((n, d), dtype=np.float64)
    mask = np.zeros(n, dtype=bool)
    for r, attrs in enumerate(attribute_lists):
        known = [a for a in dict.fromkeys(attrs) if node_mask[a]]
        if known:
            out[r] = node_vectors[known].mean(axis=0)
            mask[r] = True
    return out.astype(np.float32), mask


@dataclass
class AttributeModel:
    """Attributes of every account, the vocabulary and the keyword -> attribute mapping."""

    names: list[str]
    account_attrs: dict[str, list[int]]
    mapping: dict[str, str] = field(default_factory=dict)
    n_keywords: int = 0
    compounds: list[str] = field(default_factory=list)


def build_attributes(
    account_ids: Sequence[str], bios: Sequence[str | None], stopwords: frozenset[str],
    settings: AttributeSettings, wordnet: WordNetNouns | None,
) -> AttributeModel:
    """Keywords of all bios (label-free), merged into attributes; attribute lists per account."""
    kw_lists, vocab, compounds = bio_keywords_and_compounds(bios, stopwords, settings, wordnet)
    mapping = merge_keywords(vocab, wordnet, settings)
    names = sorted(set(mapping.values()))
    index = {a: i for i, a in enumerate(names)}
    attrs = {
        acc: list(dict.fromkeys(index[mapping[k]] for k in kws))
        for acc, kws in zip(account_ids, kw_lists)
    }
    return AttributeModel(names, attrs, mapping, len(vocab), compounds)


def training_graph(
    model: AttributeModel, cooperations: Iterable[tuple[str, str]], settings: AttributeSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """coocf and eq. 17 edges from the given (training) cooperations. Returns coocf, i, j, w, K."""
    pairs = list(cooperations)
    b_lists = [model.account_attrs.get(b, []) for b, _ in pairs]
    m_lists = [model.account_attrs.get(m, []) for _, m in pairs]
    coocf = cooccurrence(b_lists, m_lists, len(model.names))
    i, j, w = edge_weights(coocf, settings.eta)
    return coocf, i, j, w, len(pairs)


def attribute_lists_for(model: AttributeModel, account_ids: Sequence[str]) -> list[list[int]]:
    return [model.account_attrs.get(a, []) for a in account_ids]


def as_mapping(model: AttributeModel) -> Mapping[str, list[str]]:
    """account -> attribute names (for inspection)."""
    return {a: [model.names[i] for i in attrs] for a, attrs in model.account_attrs.items()}
