"""A ranker that is a sum of score terms: F(b, m) = sum_terms sum_parts <B_p(b), M_p(m)>.

The composed ranker owns what every composition shares:

- the *layout*: which MORNING views run on which feature views (an input is usable when it is
  present for at least one training brand and one training influencer);
- ``prepare``: builds each term from the training data (``terms`` of the subclass);
- scoring for inference (``embed``, ``score``, ``part_scores``) and for training
  (``batch_scores``, the path the losses see) through the same term sides, so
  ``score(b, m) == embed(b, "brand") @ embed(m, "influencer").T`` and the training scores are the
  entries of that matrix, less the parts of ``post_hoc`` terms (fixed corrections the losses never
  see);
- saving the layout and the weights.

Learning itself (sampler, losses, trainer, validation selection) is not here: ``fit`` of a model
that ``learns`` hands the model to :func:`brandmatch.training.workflow.fit_ranker`, the one
training workflow; the model only describes its objective as data (:class:`TrainingSpec`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence

import numpy as np
import torch
import torch.nn as nn

from brandmatch.data.schema import CandidateGrid, CooperationSet
from brandmatch.errors import ModelError, ModelUnavailable
from brandmatch.features.store import FeatureSet
from brandmatch.models.base import AccountInfo, Ranker
from brandmatch.models.layers import load_module_state, module_state
from brandmatch.models.terms.base import VIEW_INPUTS, VIEW_ORDER, Accounts, FitContext, ScoreTerm, \
    lookup_accounts, ordered_layout

#: parts in embedding order: MORNING's views, then the terms' own parts
PART_ORDER = (*VIEW_ORDER, "cat", "prof", "hub")
CHUNK = 4096


@dataclass(frozen=True)
class LossSpec:
    """One weighted loss of an objective: ``loss`` names an entry of ``training.losses.LOSSES``;
    it is applied to the sum of ``parts`` (None: the total score F)."""

    loss: str
    weight: float = 1.0
    parts: tuple[str, ...] | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingSpec:
    """What the training workflow needs from a learned model, as data."""

    sampler: str  # "uniform" | "category" (pairs); list samplers come with listwise models
    losses: tuple[LossSpec, ...]
    epochs: int
    batch_size: int
    lr: float
    lr_decay: float
    weight_decay: float
    l1: float
    patience: int | None
    select_metric: str | None
    seed: int
    sampler_options: dict[str, Any] = field(default_factory=dict)


class ComposedRanker(Ranker):
    """Base of every composition; subclasses implement :meth:`make_terms` (and a ``training_spec``
    when ``learns``)."""

    learns: ClassVar[bool] = False

    def __init__(self) -> None:
        self.layout_: dict[str, dict[str, int]] = {}
        self.dropped_: dict[str, str] = {}
        self.network_: nn.ModuleDict | None = None
        #: what ``select`` chose on the validation grid (training/selection.py); None: no selection
        self.selection_: dict[str, Any] | None = None
        self.history_: list[dict[str, Any]] = []
        self.best_epoch_: int | None = None
        self._train_brands: Accounts | None = None
        self._train_influencers: Accounts | None = None

    # ------------------------------------------------------------ to implement
    def make_terms(self) -> list[ScoreTerm]:
        """Fresh, unprepared terms in order (parameters validated)."""
        raise NotImplementedError

    def wanted_inputs(self) -> dict[str, tuple[str, ...]]:
        """part -> candidate feature views (default: MORNING's views with their inputs)."""
        return {v: VIEW_INPUTS[v] for v in VIEW_ORDER}

    def training_spec(self) -> TrainingSpec:
        raise ModelError(f"model {self.name!r} does not learn")

    # ------------------------------------------------------------ fitting
    def fit(self, train: CooperationSet | None, features: FeatureSet, valid: CandidateGrid | None = None,
            info: AccountInfo | None = None, options: Any = None) -> "ComposedRanker":
        """Training-free compositions prepare their terms; learned ones are trained by the workflow."""
        if self.learns:
            from brandmatch.training.workflow import fit_ranker  # the one training workflow

            return fit_ranker(self, train, features, valid, info, options)
        info = info or AccountInfo()
        brands = train.brands if train is not None else []
        influencers = list(dict.fromkeys([*(train.influencers if train is not None else []), *info.influencers]))
        return self.prepare(train, features, info, brands, influencers)

    def usable_layout(self, features: FeatureSet, brands: Sequence[str], influencers: Sequence[str]) -> None:
        """Set ``layout_`` / ``dropped_``: inputs present for a training brand AND a training influencer."""
        layout, dropped = {}, {}
        for part, names in self.wanted_inputs().items():
            inputs, missing = {}, []
            for n in names:
                if n in features and features[n].lookup(list(brands))[1].any() \
                        and features[n].lookup(list(influencers))[1].any():
                    inputs[n] = features[n].dim
                else:
                    missing.append(n)
            if inputs:
                layout[part] = inputs
                if missing:
                    dropped[part] = "runs without " + ", ".join(missing) + " (not present for both roles)"
            else:
                dropped[part] = "dropped: " + ", ".join(missing) + " missing"
        if not layout:
            want = sorted({n for names in self.wanted_inputs().values() for n in names})
            raise ModelUnavailable(f"{self.name}: no usable feature view (need one of {', '.join(want)} "
                                   f"for training brands and influencers)")
        self.layout_, self.dropped_ = layout, dropped

    def prepare(self, train: CooperationSet | None, features: FeatureSet, info: AccountInfo,
                brands: Sequence[str], influencers: Sequence[str]) -> "ComposedRanker":
        """Decide the layout and build every term from the training data (no gradient step)."""
        self.usable_layout(features, brands, influencers)
        ctx = FitContext(features, self.layout_, list(brands), list(influencers), train, dict(info.brand_category))
        terms = nn.ModuleDict()
        for term in self.make_terms():
            term.prepare(ctx)
            if term.parts:
                terms[term.kind] = term
            else:
                self.dropped_[f"term {term.kind}"] = "dropped: none of its views is usable"
        if not len(terms):
            raise ModelUnavailable(f"{self.name}: no term has a usable view ({'; '.join(self.dropped_.values())})")
        self.network_ = terms
        self.features_ = features
        return self

    # ------------------------------------------------------------ sides
    @property
    def terms(self) -> list[ScoreTerm]:
        if self.network_ is None:
            raise ModelError(f"model {self.name!r} is not fitted: call fit() first")
        return list(self.network_.values())

    @property
    def parts(self) -> list[str]:
        have = {p for t in self.terms for p in t.parts}
        return [p for p in PART_ORDER if p in have] + sorted(have - set(PART_ORDER))

    def required_inputs(self) -> list[str]:
        """Every feature view the model reads (what its provenance records)."""
        return list(dict.fromkeys(n for t in self.terms for n in t.required_inputs))

    def training_parts(self) -> list[str]:
        """The parts the training path scores (every part but those of ``post_hoc`` terms)."""
        have = {p for t in self.terms if not t.post_hoc for p in t.parts}
        return [p for p in self.parts if p in have]

    def sides(self, brands: Accounts, influencers: Accounts) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Training-path brand-side and influencer-side vectors per part, concatenated over the terms
        that are not ``post_hoc``: part -> (n, d_p)."""
        eb: dict[str, list[torch.Tensor]] = {}
        em: dict[str, list[torch.Tensor]] = {}
        nb = len(brands)
        for term in (t for t in self.terms if not t.post_hoc):
            if term.symmetric:
                both = term.brand_side(Accounts.concat(brands, influencers))
                b, m = {p: v[:nb] for p, v in both.items()}, {p: v[nb:] for p, v in both.items()}
            else:
                b, m = term.brand_side(brands), term.influencer_side(influencers)
            for p in term.parts:
                eb.setdefault(p, []).append(b[p])
                em.setdefault(p, []).append(m[p])
        order = self.training_parts()
        return ({p: torch.cat(eb[p], dim=-1) for p in order}, {p: torch.cat(em[p], dim=-1) for p in order})

    # ------------------------------------------------------------ training path
    def bind_training(self, brands: Sequence[str], influencers: Sequence[str]) -> None:
        """Look up the training accounts once; batches index into these lists."""
        feats = self._require_fitted()
        names = self.required_inputs()
        self._train_brands = lookup_accounts(feats, list(brands), names)
        self._train_influencers = lookup_accounts(feats, list(influencers), names)

    def batch_scores(self, brand_rows: np.ndarray, candidate_rows: np.ndarray
                     ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        """Training-path scores: brand_rows (n,) into the bound brands, candidate_rows (n, L) into the
        bound influencers -> (part -> (n, L) scores, auxiliary loss or None).

        Each account is encoded once per batch; column 0 of ``candidate_rows`` holds a positive
        (what the terms' auxiliary losses use).
        """
        if self._train_brands is None or self._train_influencers is None:
            raise ModelError(f"{self.name}: bind_training() must come before batch_scores()")
        n, L = candidate_rows.shape
        ub, bi = np.unique(brand_rows, return_inverse=True)
        um, mi = np.unique(candidate_rows.reshape(-1), return_inverse=True)
        brands = self._train_brands.select(torch.from_numpy(ub))
        infs = self._train_influencers.select(torch.from_numpy(um))
        eb, em = self.sides(brands, infs)
        bi_t, mi_t = torch.from_numpy(bi.reshape(-1)), torch.from_numpy(mi.reshape(-1))
        scores = {p: (eb[p].index_select(0, bi_t).unsqueeze(1) * em[p].index_select(0, mi_t).view(n, L, -1)).sum(-1)
                  for p in eb}
        aux = None
        with_aux = [t for t in self.terms if type(t).aux_loss is not ScoreTerm.aux_loss]
        if with_aux:  # (brand, positive) rows, gathered only for terms that have an auxiliary loss
            pair_brands = brands.select(bi_t)
            positives = infs.select(torch.from_numpy(mi.reshape(n, L)[:, 0].copy()))
            for term in with_aux:
                extra = term.aux_loss(pair_brands, positives)
                if extra is not None:
                    aux = extra if aux is None else aux + extra
        return scores, aux

    def unbind_training(self) -> None:
        self._train_brands = self._train_influencers = None

    # ------------------------------------------------------------ inference
    def embed_parts(self, account_ids: Sequence[str], role: str, post_hoc: bool = True) -> dict[str, np.ndarray]:
        """Per-part vectors of ``account_ids`` in ``role``: part -> (n, d_p) float32 (without the parts
        of ``post_hoc`` terms when ``post_hoc`` is False: the model as training sees it)."""
        if role not in ("brand", "influencer"):
            raise ModelError(f"{self.name}: role must be 'brand' or 'influencer', got {role!r}")
        feats = self._require_fitted()
        net = self.network_
        was = net.training
        net.eval()
        ids = list(account_ids)
        names = self.required_inputs()
        terms = [t for t in self.terms if post_hoc or not t.post_hoc]
        out: dict[str, list[np.ndarray]] = {p: [] for p in (self.parts if post_hoc else self.training_parts())}
        with torch.no_grad():
            for i in range(0, max(len(ids), 1), CHUNK):  # one (possibly empty) chunk at least: widths
                acc = lookup_accounts(feats, ids[i:i + CHUNK], names)
                pieces: dict[str, list[torch.Tensor]] = {p: [] for p in out}
                for term in terms:
                    side = term.brand_side(acc) if role == "brand" else term.influencer_side(acc)
                    for p in term.parts:
                        pieces[p].append(side[p])
                for p in out:
                    out[p].append(torch.cat(pieces[p], dim=-1).numpy())
        net.train(was)
        return {p: np.concatenate(chunks, axis=0) for p, chunks in out.items()}

    def embed(self, account_ids: Sequence[str], role: str = "influencer", post_hoc: bool = True) -> np.ndarray:
        """Concatenated parts: (n, d) float64 with score(b, m) = embed(b, "brand") . embed(m, "influencer")."""
        parts = self.embed_parts(account_ids, role, post_hoc)
        return np.concatenate(list(parts.values()), axis=1).astype(np.float64)

    def score(self, brand_ids: Sequence[str], influencer_ids: Sequence[str], post_hoc: bool = True) -> np.ndarray:
        """(n_brands, n_influencers) scores; ``post_hoc=False``: without the post-hoc terms' parts (what
        the training workflow selects epochs on)."""
        return self.embed(brand_ids, "brand", post_hoc) @ self.embed(influencer_ids, "influencer", post_hoc).T

    def part_scores(self, brand_ids: Sequence[str], influencer_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Each part's share of the score (MORNING's f, g, h and the other terms' parts): part ->
        (n_brands, n_influencers); they sum to :meth:`score`."""
        eb, em = self.embed_parts(brand_ids, "brand"), self.embed_parts(influencer_ids, "influencer")
        return {p: eb[p].astype(np.float64) @ em[p].astype(np.float64).T for p in eb}

    # ------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, np.ndarray]:
        return module_state(self.network_)

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        load_module_state(self.name, self.network_, state)

    def extra_config(self) -> dict[str, Any]:
        return {"layout": self.layout_, "dropped": self.dropped_, "best_epoch": self.best_epoch_,
                "history": self.history_,
                "terms": [{"kind": t.kind, "layout": t.layout()} for t in (self.terms if self.network_ else [])],
                **({"selection": self.selection_} if self.selection_ is not None else {})}

    def load_extra_config(self, extra: dict[str, Any]) -> None:
        self.layout_ = ordered_layout(extra.get("layout", {}))
        self.dropped_ = dict(extra.get("dropped", {}))
        self.best_epoch_ = extra.get("best_epoch")
        self.history_ = list(extra.get("history", []))
        self.selection_ = extra.get("selection")
        made = {t.kind: t for t in self.make_terms()}
        net = nn.ModuleDict()
        for entry in extra.get("terms", []):
            kind = entry.get("kind")
            if kind not in made:
                raise ModelError(f"{self.name}: saved term {kind!r} is not in this model's terms ({', '.join(made)})")
            term = made[kind]
            term.load_layout(entry.get("layout", {}))
            term.build()
            net[kind] = term
        self.network_ = net
