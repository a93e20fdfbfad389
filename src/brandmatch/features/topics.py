"""Caption cleaning and LDA topic vectors (MORNING X^t and Y^t, section IV-A / IV-B).

Cleaning (:class:`CaptionCleaner`): Unicode folded to ASCII, URLs and @mentions removed, emoji and
punctuation dropped (only letters survive), hashtags split into words -- first at camelCase and
letter/digit boundaries, then, for a run of lower-case letters that is not itself a known word,
by known-word segmentation (the word frequencies of the corpus' own non-hashtag text, Viterbi over
log-probabilities) -- then lower-cased; stop words (the MORNING authors' list from the shared
folder when present, plus gensim's and scikit-learn's English lists) and words shorter than 3
characters dropped. Rare words are dropped when the LDA dictionary is built (words in fewer than
``min_df`` documents). No part-of-speech filter: no offline tagger model ships in a PyPI or Debian
package we trust (NLTK's averaged perceptron data is a download), see docs/features.md.

An account's topic vector is the LDA topic distribution of ONE document: the concatenation of the
cleaned captions of its posts (content: the H = 50 most recent; audience: Q = 25 members x L = 2
posts). Captions are ~10 content words; LDA on such short texts is unreliable, and pooling
the texts of an author into one document is the standard remedy (Hong & Davison 2010); it is also
what "the probability that captions belong to a specific topic" of the account describes.

The number of topics is chosen over a range by held-out document completion and NPMI coherence
(:func:`select_num_topics`); the curve is recorded in the view meta.
"""

from __future__ import annotations

import copy
import math
import os
import re
import unicodedata
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

SHARED_STOPWORDS = Path("datasets") / "mir-public" / "morning-attributes" / "stopwords.txt"
MIN_WORD_LEN = 3

_URL_RE = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION_RE = re.compile(r"@[\w.]+")
_HASHTAG_RE = re.compile(r"#(\w+)")
_CAMEL_RE = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])|_")
_WORD_RE = re.compile(r"[a-z]+")
#: bytes.translate table: A-Z -> a-z, a-z kept, every other byte -> space (see CaptionCleaner._split)
_WORD_BYTES = bytes(c + 32 if 65 <= c <= 90 else c if 97 <= c <= 122 else 32 for c in range(256))


def shared_dir() -> Path:
    """The shared folder: $BRANDMATCH_SHARED, else ``<repo>/../shared``."""
    env = os.environ.get("BRANDMATCH_SHARED")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3].parent / "shared"


def _norm_word(w: str) -> str:
    return w.strip().lower().replace("'", "").replace("\u2019", "")


def load_stopwords(shared: Path | None = None) -> tuple[frozenset[str], dict]:
    """Stop words: the shared MORNING list (read at run time, CRLF lines) + gensim + scikit-learn.

    Returns the set (apostrophes removed, lower case) and a description for the view meta.
    """
    from gensim.parsing.preprocessing import STOPWORDS as GENSIM_STOPWORDS
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    words = {_norm_word(w) for w in GENSIM_STOPWORDS} | {_norm_word(w) for w in ENGLISH_STOP_WORDS}
    info: dict = {"gensim": len(GENSIM_STOPWORDS), "sklearn": len(ENGLISH_STOP_WORDS)}
    path = (shared if shared is not None else shared_dir()) / SHARED_STOPWORDS
    if path.exists():
        text = path.read_text(encoding="utf-8", errors="replace")
        shared_words = {_norm_word(w) for w in text.splitlines() if w.strip()}
        words |= shared_words
        info["morning_list"] = len(shared_words)
    else:
        info["morning_list"] = "absent"
    words.discard("")
    info["total"] = len(words)
    return frozenset(words), info


def _ascii(text: str) -> str:
    if text.isascii():
        return text
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def segment_word(word: str, logp: dict[str, float], max_len: int = 20) -> list[str]:
    """Split a run of lower-case letters into known words (Viterbi over unigram log-probabilities).

    Unknown stretches cost a heavy per-character penalty, so a word is split only when the pieces
    are known; returns ``[word]`` when no split beats keeping it whole.
    """
    n = len(word)
    if n < 2 * MIN_WORD_LEN:
        return [word]
    unk = min(logp.values(), default=-20.0) - 10.0
    best = [0.0] + [-math.inf] * n
    back = [0] * (n + 1)
    for end in range(1, n + 1):
        for start in range(max(0, end - max_len), end):
            piece = word[start:end]
            score = logp.get(piece)
            if score is None:
                score = unk * len(piece)
            cand = best[start] + score
            if cand > best[end]:
                best[end], back[end] = cand, start
    pieces = []
    end = n
    while end > 0:
        pieces.append(word[back[end]:end])
        end = back[end]
    pieces.reverse()
    if len(pieces) > 1 and all(p in logp for p in pieces):
        return pieces
    return [word]


@dataclass
class CaptionCleaner:
    """Cleans captions in two passes: collect text words, then split hashtags with their counts."""

    stopwords: frozenset[str]
    min_len: int = MIN_WORD_LEN
    segment_min_count: int = 5
    _seg_cache: dict[str, list[str]] = field(default_factory=dict, repr=False)
    #: a hashtag's words once stop words and short words are dropped (same segmenter: same words)
    _tag_kept: dict[str, list[str]] = field(default_factory=dict, repr=False)

    def _split(self, caption: str | None) -> tuple[list[str], list[str]]:
        if not caption:
            return [], []
        text = _ascii(caption)  # ASCII from here on: str.lower() folds case as re.IGNORECASE does
        low = text.lower()
        if "http" in low or "www." in low:  # every URL match starts with one of them (most captions: none)
            text = _URL_RE.sub(" ", text)
        if "@" in text:
            text = _MENTION_RE.sub(" ", text)
        tags: list[str] = []
        if "#" in text:
            tags = _HASHTAG_RE.findall(text)
            text = _HASHTAG_RE.sub(" ", text)
        # = _WORD_RE.findall(text.lower().replace("'", "")) in one C pass: letters folded to lower
        # case, apostrophes deleted, every other byte a space, then split on the spaces
        return text.encode("ascii").translate(_WORD_BYTES, b"'").decode("ascii").split(), tags

    def clean_all(self, captions: Sequence[str | None]) -> list[list[str]]:
        """Token lists (stop words, short words removed) for every caption, hashtags segmented.

        The hashtag segmenter's word counts come from these captions; they are kept in
        ``known_counts_`` (word -> count, count >= ``segment_min_count``) so that new captions can
        be cleaned later with the same segmenter (:meth:`clean_with_counts`).
        """
        split = [self._split(c) for c in captions]
        counts: Counter = Counter()
        for words, _ in split:
            counts.update(words)
        known = {w: c for w, c in counts.items() if c >= self.segment_min_count and len(w) >= 2}
        self.known_counts_ = known
        return self._tokens(split, known)

    def clean_with_counts(self, captions: Sequence[str | None], known_counts: dict[str, int]) -> list[list[str]]:
        """Clean new captions with a fitted segmenter's word counts (nothing is learnt from them)."""
        return self._tokens([self._split(c) for c in captions], known_counts)

    def _tokens(self, split: list[tuple[list[str], list[str]]], known: dict[str, int]) -> list[list[str]]:
        total = float(sum(known.values())) or 1.0
        logp = {w: math.log(c / total) for w, c in known.items()}
        stop, min_len = self.stopwords, self.min_len
        out = []
        for words, tags in split:
            toks = [w for w in words if len(w) >= min_len and w not in stop]
            for tag in tags:
                kept = self._tag_kept.get(tag)
                if kept is None:
                    kept = self._tag_kept[tag] = [t for t in self._tag_words(tag, logp)
                                                  if len(t) >= min_len and t not in stop]
                toks.extend(kept)
            out.append(toks)
        return out

    def _tag_words(self, tag: str, logp: dict[str, float]) -> list[str]:
        cached = self._seg_cache.get(tag)
        if cached is not None:
            return cached
        words: list[str] = []
        for part in _CAMEL_RE.split(tag):
            for w in _WORD_RE.findall(part.lower()):
                words.extend([w] if w in logp else segment_word(w, logp))
        self._seg_cache[tag] = words
        return words


def clean_captions(captions: Sequence[str | None], stopwords: Iterable[str] | None = None) -> list[list[str]]:
    """Convenience wrapper: clean a list of captions with the default stop words."""
    stop = frozenset(stopwords) if stopwords is not None else load_stopwords()[0]
    return CaptionCleaner(stop).clean_all(captions)


# ---------------------------------------------------------------------- LDA


@dataclass
class TopicSettings:
    """LDA settings. ``num_topics=None`` selects over ``candidates`` (paper: 22 content, 21 audience)."""

    num_topics: int | None = None
    candidates: tuple[int, ...] = (10, 14, 18, 22, 26, 30)
    min_df: int = 3
    max_df: float = 0.5
    keep_n: int = 30000
    passes: int = 4
    iterations: int = 50
    select_docs: int = 800
    select_heldout: int = 200
    select_passes: int = 10
    select_gain: float = 0.9
    coherence_docs: int = 150
    workers: int = 2
    seed: int = 0

    def as_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def _bow(dictionary, docs: Sequence[list[str]]) -> list[list[tuple[int, int]]]:
    return [dictionary.doc2bow(d) for d in docs]


def _train_lda(corpus, dictionary, k: int, passes: int, iterations: int, seed: int):
    from gensim.models import LdaModel

    return LdaModel(
        corpus=corpus, id2word=dictionary, num_topics=k, passes=passes, iterations=iterations,
        random_state=seed, chunksize=2000, eval_every=None, alpha="symmetric", eta=None,
        dtype=np.float64,
    )


def _halves(bow: list[tuple[int, int]], rng: np.random.Generator
            ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Split a document's word occurrences at random into two halves: the observed half infers its
    topic mix, the other is predicted (document completion). Random, not alternate tokens in id
    order: that would put one copy of every repeated word in each half and reward memorising words."""
    tokens = np.array([w for w, c in bow for _ in range(int(c))], dtype=np.int64)
    tokens = tokens[rng.permutation(len(tokens))]
    half = len(tokens) // 2
    a, b = Counter(tokens[:half].tolist()), Counter(tokens[half:].tolist())
    return sorted(a.items()), sorted(b.items())


def _selection_point(job) -> dict:
    """Train one candidate K on the selection documents; score it on the held-out ones.

    - ``completion``: per held-out document, the mean log-likelihood of the words of its second half
      given the topic mix inferred from its first half (Wallach et al. 2009, document completion),
      ``log sum_k theta_k beta_kw``; a model with too few topics cannot tell the halves' words apart,
      one with too many overfits the training documents: the predictive score peaks near the right K.
    - ``perplexity`` = exp(- words-weighted mean of that log-likelihood).
    - ``coherence_npmi``: mean NPMI of each topic's top-10 word pairs, from co-occurrence in 10-word
      windows of the selection documents (``coherence_texts``: all of them, a reference large enough
      to discriminate, not a handful of held-out ones).
    """
    from gensim.models import CoherenceModel

    k, train_bow, held_bow, coherence_texts, dictionary, settings = job
    lda = _train_lda(train_bow, dictionary, k, settings.select_passes, settings.iterations, settings.seed)
    beta = lda.get_topics()  # (K, V), rows sum to 1
    rng = np.random.default_rng(settings.seed)  # the same halves for every K
    first, second = zip(*[_halves(d, rng) for d in held_bow]) if held_bow else ((), ())
    keep = [i for i, (a, b) in enumerate(zip(first, second)) if a and b]
    per_doc = np.full(len(held_bow), np.nan)
    words = np.zeros(len(held_bow))
    if keep:
        gamma, _ = lda.inference([first[i] for i in keep])
        theta = gamma / gamma.sum(axis=1, keepdims=True)
        for row, i in enumerate(keep):
            ids = np.array([w for w, _ in second[i]], dtype=np.int64)
            counts = np.array([c for _, c in second[i]], dtype=np.float64)
            p = np.maximum(theta[row] @ beta[:, ids], 1e-300)
            per_doc[i] = float((counts * np.log(p)).sum() / counts.sum())
            words[i] = counts.sum()
    ok = np.isfinite(per_doc)
    ll = float((per_doc[ok] * words[ok]).sum() / words[ok].sum()) if ok.any() else float("nan")
    cm = CoherenceModel(model=lda, texts=coherence_texts, dictionary=dictionary, coherence="c_npmi", topn=10,
                        window_size=None, processes=1) if coherence_texts else None
    coh = float("nan")
    if cm is not None:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            per_topic = np.array(cm.get_coherence_per_topic(), dtype=float)
        coh = float(np.nanmean(per_topic)) if np.isfinite(per_topic).any() else float("nan")
    return {"k": int(k), "completion": ll, "perplexity": float(math.exp(-ll)) if math.isfinite(ll) else None,
            "coherence_npmi": coh}


def select_num_topics(
    docs: Sequence[list[str]], dictionary, settings: TopicSettings, progress=None
) -> tuple[int, list[dict]]:
    """Pick the number of topics: the most coherent K among those that predict held-out text well.

    Documents (non-empty) are shuffled with the seed; ``select_heldout`` are held out, at most
    ``select_docs`` of the rest train one LDA per candidate K (``select_passes`` passes: enough to
    converge, an under-trained small K looks worse than it is), scored by :func:`_selection_point`
    (document-completion log-likelihood per word on the held-out documents, its perplexity, NPMI
    coherence over the training documents). Rule: a K is *adequate* when it reaches ``select_gain``
    (default 90%) of the completion gain between the worst and the best candidate (beyond the right
    K the curve is flat, so this is where it bends); among adequate K the highest NPMI coherence wins
    (topics split beyond the right K share words and lose coherence; ties: the smaller K). Both
    measures discriminate on a corpus drawn from LDA with a known K (tests/features/test_topics.py),
    where the earlier min-max blend of bound perplexity and c_v coherence on 150 held-out documents
    went to the ends of the range. Returns K and the curve
    [{k, completion, perplexity, coherence_npmi, gain, adequate}].
    """
    idx = [i for i, d in enumerate(docs) if d]
    rng = np.random.default_rng(settings.seed)
    rng.shuffle(idx)
    n_held = min(settings.select_heldout, max(1, len(idx) // 5))
    held, train = idx[:n_held], idx[n_held:n_held + settings.select_docs]
    if not train:
        train = held
    train_bow = _bow(dictionary, [docs[i] for i in train])
    held_bow = _bow(dictionary, [docs[i] for i in held])
    coherence_texts = [[w for w in docs[i] if w in dictionary.token2id] for i in train]
    jobs = [(k, train_bow, held_bow, coherence_texts, dictionary, settings) for k in settings.candidates]
    workers = min(settings.workers, len(jobs), os.cpu_count() or 1)
    curve = []
    if workers > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        # One K per process; every K is trained from the same seed, so the curve does not depend
        # on the number of workers.
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
            for point in pool.map(_selection_point, jobs):
                curve.append(point)
                if progress is not None:
                    progress.update(1)
    else:
        for job in jobs:
            curve.append(_selection_point(job))
            if progress is not None:
                progress.update(1)
    ll = np.array([c["completion"] for c in curve], dtype=float)
    coh = np.array([c["coherence_npmi"] for c in curve], dtype=float)
    if not np.isfinite(ll).any():  # nothing to complete (tiny corpora): the smallest candidate
        for c in curve:
            c["gain"], c["adequate"] = None, None
        return int(min(c["k"] for c in curve)), curve
    lo, hi = np.nanmin(ll), np.nanmax(ll)
    gain = (ll - lo) / (hi - lo) if hi > lo else np.ones_like(ll)
    adequate = np.isfinite(ll) & (gain >= settings.select_gain - 1e-12)
    for c, g, a in zip(curve, gain, adequate):
        c["gain"], c["adequate"] = (float(g) if np.isfinite(g) else None), bool(a)
    pool = [i for i in range(len(curve)) if adequate[i]]
    best = max(pool, key=lambda i: (coh[i] if np.isfinite(coh[i]) else -np.inf, -curve[i]["k"]))
    return int(curve[best]["k"]), curve


@dataclass
class TopicResult:
    """Topic vectors (n_docs, K) float32, presence mask, what the meta needs, the fitted gensim
    LdaModel (``model``; kept in memory only, saved as arrays by features/fitted.py) and the
    initial gamma each document's inference started from (``gamma_init``, (n_docs, K) float64;
    zero rows for empty documents)."""

    values: np.ndarray
    mask: np.ndarray
    meta: dict
    model: object = field(default=None, repr=False)
    gamma_init: np.ndarray | None = field(default=None, repr=False)


def fit_topics(docs: Sequence[list[str]], settings: TopicSettings, progress=None, infer: bool = True) -> TopicResult:
    """Fit LDA on ``docs`` (one per account) and return every document's topic distribution.

    Empty documents (no caption words after cleaning and the dictionary filter) are masked.
    ``infer=False`` fits only (the ``ray`` engine infers on its workers, features/engine.py): the
    values stay zero, and ``gamma_init`` holds the very draws inference would have started from
    (gensim's inference draws nothing else from the model's random state).
    """
    import time

    from gensim.corpora import Dictionary

    from brandmatch.errors import FeatureError

    nonempty = [d for d in docs if d]
    if len(nonempty) < 2:
        raise FeatureError(f"topics: only {len(nonempty)} account(s) have caption words; LDA needs at least 2")
    dictionary = Dictionary(nonempty)
    no_below = min(settings.min_df, max(1, len(nonempty) // 10))
    dictionary.filter_extremes(no_below=no_below, no_above=settings.max_df if len(nonempty) >= 10 else 1.0,
                               keep_n=settings.keep_n)
    if len(dictionary) < 2:
        raise FeatureError(f"topics: vocabulary has {len(dictionary)} word(s) after filtering; LDA needs at least 2")
    meta: dict = {"vocabulary": len(dictionary), "documents": len(nonempty), "min_df": no_below}
    t0 = time.perf_counter()
    if settings.num_topics is None:
        k, curve = select_num_topics(docs, dictionary, settings, progress)
        meta["selection_curve"] = curve
        meta["selection_seconds"] = round(time.perf_counter() - t0, 2)
        meta["num_topics_selected"] = True
    else:
        k = int(settings.num_topics)
        meta["num_topics_selected"] = False
    corpus = _bow(dictionary, docs)
    t1 = time.perf_counter()
    lda = _train_lda([c for c in corpus if c], dictionary, k, settings.passes, settings.iterations, settings.seed)
    meta["train_seconds"] = round(time.perf_counter() - t1, 2)
    if progress is not None:
        progress.update(1)
    t2 = time.perf_counter()
    values = np.zeros((len(docs), k), dtype=np.float64)
    mask = np.array([len(c) > 0 for c in corpus], dtype=bool)
    rows = np.flatnonzero(mask)
    gamma_init = np.zeros((len(docs), k), dtype=np.float64)
    for start in range(0, len(rows), 2000):
        chunk = rows[start:start + 2000]
        # The initial gamma gensim is about to draw (same state, same call), kept so that
        # features/transform.py reproduces these vectors exactly for accounts of this dataset.
        if not infer:
            gamma_init[chunk] = lda.random_state.gamma(100.0, 1.0 / 100.0, (len(chunk), k))
            continue
        gamma_init[chunk] = copy.deepcopy(lda.random_state).gamma(100.0, 1.0 / 100.0, (len(chunk), k))
        gamma, _ = lda.inference([corpus[i] for i in chunk])
        values[chunk] = gamma / gamma.sum(axis=1, keepdims=True)
    meta["infer_seconds"] = round(time.perf_counter() - t2, 2)
    if progress is not None:
        progress.update(1)
    meta["num_topics"] = k
    meta["top_words"] = [[w for w, _ in lda.show_topic(t, topn=8)] for t in range(k)]
    return TopicResult(values.astype(np.float32), mask, meta, lda, gamma_init)


def lda_inference(
    bows: Sequence[Sequence[tuple[int, int]]],
    exp_elog_beta: np.ndarray,
    alpha: np.ndarray,
    gamma0: np.ndarray,
    iterations: int = 50,
    gamma_threshold: float = 0.001,
) -> np.ndarray:
    """gensim ``LdaModel.inference`` from arrays: the variational fixed point per document.

    bows: bag-of-words per document (word id, count), ids sorted as ``Dictionary.doc2bow`` gives;
    exp_elog_beta: (K, V) float64, exp(E[log beta]) of the fitted model (``LdaModel.expElogbeta``);
    alpha: (K,) Dirichlet prior; gamma0: (n, K) initial gamma (gensim draws Gamma(100, 1/100)).
    Returns gamma (n, K) float64; the topic distribution is gamma / gamma.sum(1). Same update
    (Lee & Seung trick), same epsilon, same stopping rule (mean |delta gamma| < gamma_threshold,
    at most ``iterations``) and gensim's own digamma routines, so the same gamma0 gives the same
    numbers as gensim.
    """
    from gensim.matutils import dirichlet_expectation, mean_absolute_difference

    gamma = np.array(gamma0, dtype=np.float64, copy=True)
    if len(bows) == 0:
        return gamma
    exp_elog_theta = np.exp(dirichlet_expectation(gamma))
    eps = np.finfo(np.float64).eps
    for d, doc in enumerate(bows):
        ids = [int(i) for i, _ in doc]
        cts = np.fromiter((c for _, c in doc), dtype=np.float64, count=len(doc))
        gammad = gamma[d, :]
        exp_theta_d = exp_elog_theta[d, :]
        exp_beta_d = exp_elog_beta[:, ids]
        phinorm = np.dot(exp_theta_d, exp_beta_d) + eps
        for _ in range(iterations):
            lastgamma = gammad
            gammad = alpha + exp_theta_d * np.dot(cts / phinorm, exp_beta_d.T)
            exp_theta_d = np.exp(dirichlet_expectation(gammad))
            phinorm = np.dot(exp_theta_d, exp_beta_d) + eps
            if mean_absolute_difference(gammad, lastgamma) < gamma_threshold:
                break
        gamma[d, :] = gammad
    return gamma
