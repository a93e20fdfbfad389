"""The training loop every learned model shares.

Epochs of sampled (brand, positive, negative) batches, Adam with a per-epoch exponential learning
rate decay (MORNING sec. V-A: lr 0.002, x0.95 per epoch, batch 16, at most 100 epochs), a tqdm
progress bar on stderr, model selection and early stopping on the VALIDATION grid only (the
caller passes a ``validate`` function computing metrics on the validation brands; the test grid
never reaches training), atomic per-epoch checkpoints and exact resume (module, optimizer, every
RNG, history and the best state so far are checkpointed).

A model plugs in with a ``torch.nn.Module``, any sampler (:class:`~brandmatch.training.samplers.Sampler`:
pairs or lists) and ``batch_loss(batch) -> scalar tensor``; :mod:`brandmatch.training.workflow`
builds all three from a model. ``fingerprint`` (hyper-parameters, seed, data checksums) is stored
in every checkpoint, and ``resume`` refuses a checkpoint whose fingerprint differs, naming the keys.
"""

from __future__ import annotations

import copy
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from brandmatch.training.checkpoint import (
    clear_checkpoints,
    flatten_optimizer,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
    unflatten_optimizer,
)
from brandmatch.training.losses.l1 import add_l1_subgradient_
from brandmatch.errors import ModelError
from brandmatch.training.samplers import Batch, Sampler
from brandmatch.training.seeding import rng_state, seed_everything, set_rng_state, set_torch_threads

LOWER_IS_BETTER = frozenset({"MedR"})


@dataclass
class TrainConfig:
    """Hyper-parameters of the loop (defaults: MORNING sec. V-A)."""

    epochs: int = 100
    batch_size: int = 16
    lr: float = 0.002
    lr_decay: float = 0.95  # multiplied into the learning rate once per epoch
    weight_decay: float = 0.0
    l1: float = 0.0  # lambda of an L1 penalty on weight matrices (MORNING eq. 32: 0.001), as a subgradient
    select_metric: str = "MAP"  # on the validation grid; None/"" -> keep the last epoch
    patience: int | None = 20  # epochs without validation improvement before stopping
    seed: int = 0


@dataclass
class TrainingOptions:
    """Run-time options that do not change the result: where to checkpoint, resume, progress."""

    checkpoint_dir: Path | None = None
    resume: bool = False
    progress: bool | None = None  # None: only when stderr is a terminal
    threads: int | None = None
    keep_checkpoints: int = 2
    #: write a checkpoint after every N-th epoch (and always after the last one, or when stopping
    #: early); a checkpoint of the full model is ~170 MB (weights, Adam moments, best weights), so
    #: writing one every epoch costs ~1-2 s per epoch. ``--resume`` restarts from the newest one,
    #: exactly as an uninterrupted run would have continued.
    checkpoint_every: int = 1
    #: called after every epoch (after its checkpoint is written) with the epoch record
    callbacks: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)
    #: fuse the L1 subgradient and the Adam update into one torch.compile'd pass per tensor
    #: (:mod:`brandmatch.training.fused_step`): faster, numerically equivalent, not bit-identical.
    #: Off by default; None reads the environment variable BRANDMATCH_COMPILE ("1" = on).
    compile_optimizer: bool | None = False


@dataclass
class TrainResult:
    history: list[dict[str, Any]]
    best_epoch: int | None
    best_metric: float | None
    epochs_run: int
    stopped_early: bool
    seconds: float


class Trainer:
    """Runs the loop; see the module docstring."""

    def __init__(self, config: TrainConfig, options: TrainingOptions | None = None):
        self.config = config
        self.options = options or TrainingOptions()

    def _better(self, value: float, best: float | None) -> bool:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        if best is None:
            return True
        return value < best if self.config.select_metric in LOWER_IS_BETTER else value > best

    def fit(
        self,
        module: torch.nn.Module,
        sampler: Sampler,
        batch_loss: Callable[[Batch], torch.Tensor],
        validate: Callable[[], dict[str, float]] | None = None,
        name: str = "model",
        fingerprint: dict[str, Any] | None = None,
    ) -> TrainResult:
        """Train ``module`` in place; on return it holds the selected (best validation) weights."""
        cfg, opts = self.config, self.options
        set_torch_threads(opts.threads)
        seed_everything(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        params = [p for p in module.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
        history: list[dict[str, Any]] = []
        best_metric: float | None = None
        best_epoch: int | None = None
        best_state: dict[str, torch.Tensor] | None = None
        since_best = 0
        start_epoch = 0
        selecting = validate is not None and bool(cfg.select_metric)

        if not opts.resume and opts.checkpoint_dir is not None:
            clear_checkpoints(opts.checkpoint_dir)  # a fresh run never mixes with an old one
        if opts.resume and opts.checkpoint_dir is not None:
            ckpt = latest_checkpoint(opts.checkpoint_dir)
            if ckpt is not None:
                tensors, meta = load_checkpoint(ckpt)
                differ = fingerprint_differences(meta.get("fingerprint") or {}, fingerprint or {})
                if differ:
                    raise ModelError(f"{ckpt}: cannot resume, the run differs from the checkpoint's in "
                                     f"{'; '.join(differ)} (start afresh without --resume, or restore the settings)")
                module.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
                unflatten_optimizer(optimizer, tensors, meta["optimizer"])
                if any(k.startswith("best.") for k in tensors):
                    best_state = {k[5:]: v.clone() for k, v in tensors.items() if k.startswith("best.")}
                torch.set_rng_state(tensors["rng.torch"])
                set_rng_state(meta["rng"])
                rng.bit_generator.state = meta["sampler_rng"]
                history = meta["history"]
                best_metric, best_epoch = meta["best_metric"], meta["best_epoch"]
                since_best = meta["since_best"]
                start_epoch = meta["epoch"]
                if meta.get("stopped"):
                    start_epoch = cfg.epochs

        compile_opt = opts.compile_optimizer
        if compile_opt is None:
            compile_opt = os.environ.get("BRANDMATCH_COMPILE", "") == "1"
        fused_step = None
        if compile_opt:
            from brandmatch.training.fused_step import CompiledAdamL1

            fused_step = CompiledAdamL1(optimizer, cfg.l1)

        progress = opts.progress if opts.progress is not None else sys.stderr.isatty()
        stopped_early = bool(history and history[-1].get("stopped"))
        t0 = time.perf_counter()
        for epoch in range(start_epoch, cfg.epochs):
            if stopped_early:
                break
            lr = cfg.lr * cfg.lr_decay**epoch
            for group in optimizer.param_groups:
                group["lr"] = lr
            module.train()
            batches = sampler.epoch(rng, cfg.batch_size)
            total, count = 0.0, 0
            te = time.perf_counter()
            bar = None
            if progress:
                from tqdm import tqdm

                bar = tqdm(total=len(batches), desc=f"{name} epoch {epoch + 1}/{cfg.epochs}", file=sys.stderr,
                           leave=False, unit="batch")
            for batch in batches:
                optimizer.zero_grad(set_to_none=True)
                loss = batch_loss(batch)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"{name}: non-finite training loss at epoch {epoch + 1}")
                loss.backward()
                if fused_step is not None:
                    fused_step.step()  # L1 subgradient + Adam in one compiled pass
                else:
                    if cfg.l1:
                        add_l1_subgradient_(params, cfg.l1)
                    optimizer.step()
                total += float(loss.detach()) * len(batch)
                count += len(batch)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{total / max(count, 1):.4f}", refresh=False)
            if bar is not None:
                bar.close()
            record: dict[str, Any] = {"epoch": epoch + 1, "lr": lr, "loss": total / max(count, 1),
                                      "seconds": round(time.perf_counter() - te, 3)}
            if validate is not None:
                module.eval()
                with torch.no_grad():
                    metrics = validate()
                record["valid"] = {k: float(v) for k, v in metrics.items()}
                if selecting:
                    value = metrics.get(cfg.select_metric)
                    if self._better(value, best_metric):
                        best_metric, best_epoch, since_best = float(value), epoch + 1, 0
                        best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
                    else:
                        since_best += 1
                    if cfg.patience is not None and since_best >= cfg.patience:
                        record["stopped"] = True
                        stopped_early = True
            history.append(record)
            if progress:
                msg = f"{name} epoch {epoch + 1}: loss {record['loss']:.4f}"
                if "valid" in record and selecting:
                    msg += f", valid {cfg.select_metric} {record['valid'].get(cfg.select_metric, float('nan')):.4f}"
                print(msg, file=sys.stderr)
            last = epoch + 1 == cfg.epochs or stopped_early
            if opts.checkpoint_dir is not None and (last or (epoch + 1) % max(1, opts.checkpoint_every) == 0):
                self._checkpoint(module, optimizer, rng, history, best_state, best_metric, best_epoch,
                                 since_best, epoch + 1, stopped_early, fingerprint)
            for cb in opts.callbacks:
                cb(record)
        if selecting and best_state is not None:
            module.load_state_dict(best_state)
        module.eval()
        return TrainResult(history, best_epoch, best_metric, len(history), stopped_early,
                           time.perf_counter() - t0)

    def _checkpoint(self, module, optimizer, rng, history, best_state, best_metric, best_epoch,
                    since_best, epoch, stopped, fingerprint) -> None:
        tensors = {f"model.{k}": v for k, v in module.state_dict().items()}
        if best_state is not None:
            tensors.update({f"best.{k}": v for k, v in best_state.items()})
        opt_tensors, opt_meta = flatten_optimizer(optimizer)
        tensors.update(opt_tensors)
        tensors["rng.torch"] = torch.get_rng_state()
        meta = {
            "epoch": epoch,
            "config": asdict(self.config),
            "optimizer": opt_meta,
            "rng": rng_state(),
            "sampler_rng": rng.bit_generator.state,
            "history": history,
            "best_metric": best_metric,
            "best_epoch": best_epoch,
            "since_best": since_best,
            "stopped": stopped,
            "fingerprint": fingerprint or {},
        }
        save_checkpoint(self.options.checkpoint_dir, epoch, tensors, meta, keep=self.options.keep_checkpoints)


def fingerprint_differences(saved: dict[str, Any], now: dict[str, Any], prefix: str = "") -> list[str]:
    """'key (saved vs now)' for every leaf that differs between two nested fingerprints."""
    out = []
    for key in sorted(set(saved) | set(now)):
        a, b = saved.get(key, "<absent>"), now.get(key, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += fingerprint_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key} ({_short(a)} vs {_short(b)})")
    return out


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."
