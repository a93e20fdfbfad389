"""Featurize NEW accounts with what `featurize` fitted, without refitting anything.

::

    fz = FittedFeaturizer.load("DATA")            # DATA/features/fitted (checksums verified)
    features = fz.transform(tables)               # FeatureSet aligned on tables.accounts

``tables`` holds the new accounts (a brand profile from :func:`brandmatch.data.profile.load_brand_profile`,
or any :class:`~brandmatch.data.schema.Tables`): their posts, captions, bios, detections or images,
audience and audience posts if any. Each view is computed exactly as `featurize` computes it, from the
fitted state of its stage (:mod:`brandmatch.features.fitted`):

=================  ========================================================================
view(s)            from
=================  ========================================================================
activity           the fitted reference time (newest post of the dataset) for days_since_last_post
content_text,      the fitted caption cleaner (stop words, hashtag segmenter counts), LDA dictionary,
audience_text      exp(E[log beta]) and alpha; gensim's variational fixed point
                   (:func:`~brandmatch.features.topics.lda_inference`)
content_visual,    detections when the tables have them, else the offline image classifier
audience_visual    (EfficientNet-Lite0, objects only); the fitted threshold and pooling settings
*_text_tfidf       the vocabularies and idf (features/tfidf.py), over the topic views' documents
content_text_w2v*  the fitted Word2Vec vectors
content_image_effnet*  the image classifier's embeddings (only when the dataset had that view)
content_text_minilm*   all-MiniLM-L6-v2 (only when the dataset had that view)
attributes         the fitted keyword vocabulary, compounds, keyword -> attribute mapping and the
                   node2vec vectors of the training graph (WordNet morphology for bio tokens)
attributes_kinds   the fitted attribute -> kind table (features/bio_kinds.py)
=================  ========================================================================

Agreement with `featurize` for an account already in the dataset: every view is identical, bit
for bit (tested on the synthetic small world: all 348 accounts, every view). The topic views need
one extra piece of state for that: LDA inference starts from a random gamma that `featurize` draws
from the model's random state at the account's position in its inference chunk, so the fitted state
keeps those starting points (``gamma_init.npy`` with ``gamma_init_ids.npy``); the update itself is
gensim's (same epsilon, digamma, stopping rule: mean |delta gamma| < 0.001, at most 50 iterations).
A NEW account starts from Gamma(100, 1/100) drawn from a seed made of the stage seed and its id, so its
vector does not depend on what else is in the batch. LDA's per-document objective is not convex and 50
iterations do not always converge: on the synthetic small world (5 topics) two different starts give
topic vectors that differ by a median 1e-5 but up to 0.03 (content) / 0.02 (audience) for a few
accounts -- the run-to-run noise `featurize` itself has under another seed, not a transform error.
"""

from __future__ import annotations

import os
import zlib
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import numpy as np
import pandas as pd

from brandmatch.data.schema import Tables
from brandmatch.errors import FeatureError
from brandmatch.features import fitted, pooling
from brandmatch.features.store import FeatureSet, FeatureView
from brandmatch.gcpause import gc_paused

#: Stage order of `featurize` (the order views are produced in).
STAGE_ORDER = ("activity", "content_topics", "audience_topics", "visual", "tfidf", "w2v", "minilm", "effnet",
               "attributes")


def _gamma_seed(seed: int, account_id: str) -> int:
    return zlib.crc32(f"{seed}\x1f{account_id}".encode("utf-8"))


class FittedFeaturizer:
    """The fitted state of every stage of one `featurize` run; :meth:`transform` featurizes new accounts.

    stages: stage name -> :class:`~brandmatch.features.fitted.FittedStage`.
    """

    def __init__(self, stages: dict[str, fitted.FittedStage], source: Path | None = None):
        self.stages = dict(stages)
        self.source = source
        #: derived lookups reused across transform calls (a Ray worker transforms shard after shard)
        self._lookups: dict = {}

    # ------------------------------------------------------------------ disk
    @staticmethod
    def features_dir(path: str | os.PathLike) -> Path:
        """A dataset directory, its feature directory, or the fitted directory -> the feature directory."""
        path = Path(path)
        if (path / fitted.FITTED_DIR / fitted.MANIFEST).exists():
            return path
        if (path / "features" / fitted.FITTED_DIR / fitted.MANIFEST).exists():
            return path / "features"
        if path.name == fitted.FITTED_DIR and (path / fitted.MANIFEST).exists():
            return path.parent
        raise FeatureError(
            f"{path}: no fitted featurizer (expected {path / 'features' / fitted.FITTED_DIR / fitted.MANIFEST}); "
            "run `brandmatch featurize` on the dataset first"
        )

    @classmethod
    def load(cls, dataset_dir: str | os.PathLike, verify: bool = True) -> "FittedFeaturizer":
        """Read every fitted stage (sha256 of every file checked against its manifest when ``verify``)."""
        fdir = cls.features_dir(dataset_dir)
        names = fitted.stages(fdir)
        if not names:
            raise FeatureError(f"{fitted.fitted_dir(fdir) / fitted.MANIFEST}: no fitted stage recorded")
        return cls({n: fitted.read_stage(fdir, n, verify) for n in names}, fdir)

    def save(self, features_dir: str | os.PathLike) -> None:
        """Write every stage into ``features_dir/fitted`` (atomic per stage)."""
        for st in self.stages.values():
            fitted.write_stage(features_dir, st)

    def views(self) -> list[str]:
        """The views :meth:`transform` produces (those of the fitted stages)."""
        out: list[str] = []
        for name in STAGE_ORDER:
            st = self.stages.get(name)
            if st is None:
                continue
            if name in ("activity", "attributes"):
                out.append(name)
                if name == "attributes" and st.state.get("n_kinds"):
                    out.append("attributes_kinds")
            elif name.endswith("_topics"):
                out.append(st.state["view"])
            else:
                out.extend(st.state.get("views", []))
        return out

    # ------------------------------------------------------------------ transform
    def transform(
        self,
        tables: Tables,
        images_root: str | os.PathLike | None = None,
        classifier_factory: Callable | None = None,
        use_images: bool = True,
    ) -> FeatureSet:
        """Feature views of ``tables``' accounts (aligned on ``tables.accounts``, table order).

        images_root: where relative ``image_ref`` paths live (absolute paths need none).
        classifier_factory: builds the image classifier (default EfficientNet-Lite0), only when
        post images are needed (no detections for the posts, or an effnet view to compute).
        """
        run = _Transform(self, tables, Path(images_root) if images_root is not None else None,
                         classifier_factory, use_images)
        out = FeatureSet()
        with gc_paused():  # millions of short-lived token lists, no cycles (brandmatch/gcpause.py)
            for name in STAGE_ORDER:
                if name in self.stages:
                    for view in getattr(run, f"stage_{name}")(self.stages[name]):
                        out.add(view)
        return out


class _Transform:
    """One transform call: memoised groups, tokens and image predictions of the new accounts."""

    def __init__(self, fz: FittedFeaturizer, tables: Tables, root: Path | None, factory, use_images: bool):
        self.fz, self.t, self.root, self.factory, self.use_images = fz, tables, root, factory, use_images
        self.ids = tables.accounts["account_id"].astype(str).tolist()
        self._memo: dict = {}

    def memo(self, key: str, fn):
        if key not in self._memo:
            self._memo[key] = fn()
        return self._memo[key]

    def view(self, name: str, values: np.ndarray, mask: np.ndarray, st: fitted.FittedStage, meta: dict) -> FeatureView:
        values = np.asarray(values, dtype=np.float32).copy()
        mask = np.asarray(mask, dtype=bool)
        values[~mask] = 0.0
        meta = {"source_stage": st.stage, "stage_hash": st.stage_hash, "transform": True, **meta}
        return FeatureView(name, np.array(self.ids, dtype=str), values, mask, meta)

    def frame(self, which: str) -> pd.DataFrame:
        return self.t.posts if which == "content" else self.t.audience_posts

    def groups(self, which: str, settings: dict) -> pd.DataFrame:
        if which == "content":
            h = int(settings.get("h_posts", pooling.H_POSTS))
            return self.memo(f"g_content_{h}", lambda: pooling.content_groups(self.t.posts, h))
        q = int(settings.get("q_members", pooling.Q_MEMBERS))
        l_ = int(settings.get("l_posts", pooling.L_POSTS))
        return self.memo(f"g_audience_{q}_{l_}", lambda: pooling.audience_groups(
            self.t.audience, self.t.audience_posts, q, l_))

    def post_index(self, which: str) -> dict[str, int]:
        return {p: i for i, p in enumerate(self.frame(which)["post_id"].tolist())}

    def tokens(self, which: str, state: dict) -> list[list[str]]:
        """Cleaned tokens of every post of ``which`` with the fitted cleaner (stop words, segmenter)."""
        from brandmatch.features.topics import CaptionCleaner

        cleaner = CaptionCleaner(frozenset(state["stopwords"]), min_len=int(state.get("min_word_len", 3)))
        counts = {str(k): int(v) for k, v in state["segmenter_counts"].items()}
        return cleaner.clean_with_counts(self.frame(which)["caption"].tolist(), counts)

    # ------------------------------------------------------------------ images
    def classifier(self):
        def make():
            if self.factory is not None:
                return self.factory()
            import contextlib
            import sys

            from brandmatch.features.visual import EfficientNetLite0

            # the efficientnet package prints "Loaded pretrained weights" on stdout: keep stdout for
            # the command's own output (recommend --format json)
            with contextlib.redirect_stdout(sys.stderr):
                return EfficientNetLite0()

        return self.memo("classifier", make)

    def has_images(self, which: str) -> bool:
        from brandmatch.features.visual import resolve_image

        refs = self.frame(which)["image_ref"].dropna().tolist()
        return self.use_images and any(resolve_image(r, self.root) is not None for r in refs)

    def image_predictions(self, which: str, settings: dict):
        from brandmatch.features.visual import classify_posts

        def run():
            g = self.groups(which, settings)
            frame = self.frame(which)
            frame = frame[frame["post_id"].isin(set(g["post_id"]))]
            return classify_posts(frame, self.root, self.classifier())

        return self.memo(f"img_{which}", run)

    # ------------------------------------------------------------------ stages
    def stage_activity(self, st: fitted.FittedStage) -> list[FeatureView]:
        from brandmatch.features.activity import activity_view

        ref = st.state.get("reference_timestamp")
        view = activity_view(self.t.accounts, self.t.posts, reference_timestamp=ref)
        if view is None:
            return []
        values = view.values.copy()
        values[:, 4] = np.maximum(values[:, 4], 0.0)  # posts newer than the dataset: "0 days ago"
        return [self.view("activity", values, view.mask, st, {**view.meta, "reference_timestamp": ref})]

    def _topic_view(self, st: fitted.FittedStage) -> list[FeatureView]:
        from brandmatch.features.topics import lda_inference

        s = st.state
        which = s["which"]
        if self.frame(which).empty:
            return []
        docs = self.account_docs(which, s)
        token2id = {w: i for i, w in enumerate(s["vocabulary"])}
        bows = [sorted(Counter(token2id[w] for w in d if w in token2id).items()) for d in docs]
        k = int(s["num_topics"])
        gamma0 = self.gamma_init(st, k)
        mask = np.array([len(b) > 0 for b in bows], dtype=bool)
        values = np.zeros((len(self.ids), k), dtype=np.float64)
        rows = np.flatnonzero(mask)
        if len(rows):
            gamma = lda_inference([bows[i] for i in rows], st.arrays["exp_elog_beta"], st.arrays["alpha"],
                                  gamma0[rows], int(s["iterations"]), float(s["gamma_threshold"]))
            values[rows] = gamma / gamma.sum(axis=1, keepdims=True)
        meta = {"source": "lda (fitted; transform)", "num_topics": k, "gamma_init": s.get("gamma_init")}
        return [self.view(s["view"], values, mask, st, meta)]

    def gamma_init(self, st: fitted.FittedStage, k: int) -> np.ndarray:
        """(n_accounts, K) starting gamma: featurize's own draw for accounts of the fitted dataset,
        else Gamma(100, 1/100) from a seed made of the stage seed and the account id."""
        key = f"gamma_init_ids:{st.stage}:{st.stage_hash}"
        known = self.fz._lookups.get(key)
        if known is None:
            known = self.fz._lookups[key] = ({a: i for i, a in enumerate(st.arrays["gamma_init_ids"].tolist())}
                                             if "gamma_init_ids" in st.arrays else {})
        seed = int(st.state.get("seed", 0))
        out = np.zeros((len(self.ids), k), dtype=np.float64)
        for r, a in enumerate(self.ids):
            i = known.get(a)
            out[r] = (st.arrays["gamma_init"][i] if i is not None
                      else np.random.RandomState(_gamma_seed(seed, a)).gamma(100.0, 1.0 / 100.0, k))
        return out

    stage_content_topics = _topic_view
    stage_audience_topics = _topic_view

    def stage_visual(self, st: fitted.FittedStage) -> list[FeatureView]:
        from brandmatch.features.visual import probs_to_detections

        s = st.state
        settings = s.get("settings", {})
        threshold = float(settings.get("threshold", pooling.CONFIDENCE_THRESHOLD))
        out = []
        det = self.t.detections
        for which, name in (("content", "content_visual"), ("audience", "audience_visual")):
            if name not in s.get("views", []):
                continue
            idx = self.post_index(which)
            if not idx:
                continue
            own = det[det["post_id"].isin(idx.keys())] if len(det) else det
            if len(own):
                d, source, info = own, "detections table", {}
            elif self.has_images(which):
                pids, probs, _, info = self.image_predictions(which, settings)
                d = probs_to_detections(pids, probs, threshold)
                source = "efficientnet-lite0 on post images (ImageNet-1k objects)"
            else:
                continue
            objects, scenes = pooling.detection_matrices(d, idx, threshold)
            values, mask, counts = pooling.semantic_pool(
                objects, scenes, self.groups(which, settings), self.ids, idx, bool(s.get("scene_available", True)))
            has_scenes = bool(len(d)) and bool((d["kind"] == "scene").any())
            meta = {"source": source, "threshold": threshold, "parts": {"object": [0, 1000], "scene": [1000, 1365]},
                    "scene_part": "present" if has_scenes else "missing", **counts, **info}
            out.append(self.view(name, values, mask, st, meta))
        return out

    def _pooled(self, st: fitted.FittedStage, base: str, x: np.ndarray, present: np.ndarray, idx: dict,
                frame: pd.DataFrame, meta: dict) -> list[FeatureView]:
        g = self.groups("content", st.state.get("settings", {}))
        out = []
        for suffix, weights in (("", None), ("_wap", pooling.engagement_weights(frame["likes"], frame["comments"]))):
            if base + suffix not in st.state.get("views", []):
                continue
            values, mask = pooling.pool_rows(x, present, g, self.ids, idx, weights)
            pool = "mean" if weights is None else "engagement-weighted mean, w_p ~ likes + comments + 1"
            out.append(self.view(base + suffix, values, mask, st, meta | {"pooling": pool}))
        return out

    def account_docs(self, which: str, state: dict) -> list[list[str]]:
        """The cleaned words of each account's pooled posts (the topic views' documents)."""
        toks = self.tokens(which, state)
        idx = self.post_index(which)
        g = self.groups(which, state.get("settings", {}))
        docs: dict[str, list[str]] = {a: [] for a in self.ids}
        for a, p in zip(g["account_id"].tolist(), g["post_id"].tolist()):
            i = idx.get(p)
            if i is not None and a in docs:
                docs[a].extend(toks[i])
        return [docs[a] for a in self.ids]

    def stage_tfidf(self, st: fitted.FittedStage) -> list[FeatureView]:
        from brandmatch.features.tfidf import tfidf_rows

        s = st.state
        out = []
        for view in s.get("views", []):
            which = view.split("_", 1)[0]
            if self.frame(which).empty:
                continue
            values, mask = tfidf_rows(self.account_docs(which, s), s["vocabularies"][which],
                                      st.arrays[f"idf_{which}"])
            out.append(self.view(view, values, mask, st, {"source": "tfidf (fitted; transform)", "kind": "tfidf",
                                                          "terms": len(s["vocabularies"][which])}))
        return out

    def stage_w2v(self, st: fitted.FittedStage) -> list[FeatureView]:
        from brandmatch.features.text_embed import caption_vectors

        s = st.state
        if self.t.posts.empty:
            return []
        vectors = st.arrays["vectors"]
        kv = SimpleNamespace(key_to_index={w: i for i, w in enumerate(s["vocabulary"])},
                             vector_size=int(vectors.shape[1]), vectors=vectors)
        x, present = caption_vectors(SimpleNamespace(wv=kv), self.tokens("content", s))
        meta = {"source": "word2vec (fitted; transform)", "dim": int(vectors.shape[1])}
        return self._pooled(st, "content_text_w2v", x, present, self.post_index("content"), self.t.posts, meta)

    def stage_minilm(self, st: fitted.FittedStage) -> list[FeatureView]:
        from brandmatch.features.text_embed import MiniLMEncoder

        posts = self.t.posts
        if posts.empty:
            return []
        g = self.groups("content", st.state.get("settings", {}))
        sub = posts[posts["post_id"].isin(set(g["post_id"])) & posts["caption"].notna()]
        if sub.empty:
            return []
        emb, _ = MiniLMEncoder().encode(sub["caption"].astype(str).tolist())
        idx = {p: i for i, p in enumerate(sub["post_id"].tolist())}
        meta = {"source": "sentence-transformers all-MiniLM-L6-v2 (offline; transform)"}
        return self._pooled(st, "content_text_minilm", emb, np.ones(len(sub), bool), idx, sub, meta)

    def stage_effnet(self, st: fitted.FittedStage) -> list[FeatureView]:
        settings = st.state.get("settings", {})
        if self.t.posts.empty or not self.has_images("content"):
            return []
        pids, _, emb, info = self.image_predictions("content", settings)
        if not pids:
            return []
        idx = {p: i for i, p in enumerate(pids)}
        sub = self.t.posts.set_index("post_id").loc[pids].reset_index()
        meta = {"source": "efficientnet-lite0 penultimate layer (transform)", **info}
        return self._pooled(st, "content_image_effnet", emb, np.ones(len(pids), bool), idx, sub, meta)

    def stage_attributes(self, st: fitted.FittedStage) -> list[FeatureView]:
        from brandmatch.features.attributes import WordNetNouns, keywords_of_bio, mean_embedding
        from brandmatch.features.bio_kinds import kind_rows, kind_table

        s = st.state
        bios = self.t.accounts["bio"].tolist()
        if not any(isinstance(b, str) and b.strip() for b in bios):
            return []
        wordnet = WordNetNouns.find()
        stop = frozenset(s["stopwords"])
        compounds, vocab = frozenset(s["compounds"]), frozenset(s["keywords"])
        mapping = s["mapping"]
        index = {a: i for i, a in enumerate(s["attributes"])}
        lists, found = [], []
        for bio in bios:
            kws = keywords_of_bio(bio if isinstance(bio, str) else None, stop, wordnet, compounds, vocab)
            lists.append(list(dict.fromkeys(index[mapping[k]] for k in kws)))
            found.append(kws)
        values, mask = mean_embedding(lists, st.arrays["node_vectors"], st.arrays["node_mask"].astype(bool))
        meta = {"source": "bio keywords -> fitted attributes -> node2vec vectors (transform)",
                "account_attributes": {a: [s["attributes"][i] for i in ls] for a, ls in zip(self.ids, lists)}}
        out = [self.view("attributes", values, mask, st, meta)]
        if s.get("n_kinds"):
            labels = st.arrays["attribute_kinds"]
            kv, km = kind_rows(lists, labels, int(s["n_kinds"]))
            out.append(self.view("attributes_kinds", kv, km, st, {"source": "bio attributes -> fitted kinds (transform)",
                                                                  "kinds": kind_table(s["attributes"], labels)}))
        return out
