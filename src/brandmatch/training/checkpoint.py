"""Atomic per-epoch checkpoints: tensors in safetensors, everything else in JSON, never pickle.

Layout under a checkpoint directory::

    checkpoints/
      epoch-0003/  state.safetensors  trainer.json      (complete, written via a temp dir + rename)
      epoch-0004/  ...
      LATEST       "epoch-0004"                          (replaced atomically after the dir is in place)

A crash at any moment leaves the previous complete checkpoint readable: a directory only gets its
final name once it is complete, and LATEST only points at complete directories. ``trainer.json``
records the sha256 of ``state.safetensors``; :func:`load_checkpoint` refuses a checkpoint whose
tensors do not match it (a corrupted file would otherwise resume silently with other weights).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from brandmatch.atomic import sha256_file, strict_json
from brandmatch.errors import ModelError

STATE_FILE = "state.safetensors"
META_FILE = "trainer.json"
LATEST = "LATEST"
#: key of trainer.json holding the sha256 of state.safetensors (verified by load_checkpoint)
STATE_SHA256 = "state_sha256"


def _epoch_name(epoch: int) -> str:
    return f"epoch-{epoch:04d}"


def save_checkpoint(directory: str | os.PathLike, epoch: int, tensors: dict[str, torch.Tensor],
                    meta: dict[str, Any], keep: int = 2) -> Path:
    """Write checkpoint ``epoch`` atomically, point LATEST at it and keep the newest ``keep``."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / _epoch_name(epoch)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=directory))
    try:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp / STATE_FILE))
        meta = {**meta, STATE_SHA256: sha256_file(tmp / STATE_FILE)}
        with open(tmp / META_FILE, "w", encoding="utf-8") as f:
            f.write(strict_json(meta))
            f.flush()
            os.fsync(f.fileno())
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fd, ltmp = tempfile.mkstemp(prefix=".LATEST.", dir=directory)
    with os.fdopen(fd, "w") as f:
        f.write(target.name + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(ltmp, directory / LATEST)
    done = sorted(p for p in directory.glob("epoch-*") if p.is_dir())
    for old in done[:-keep] if keep > 0 else []:
        if old != target:
            shutil.rmtree(old, ignore_errors=True)
    return target


def clear_checkpoints(directory: str | os.PathLike) -> None:
    """Remove every checkpoint (and LATEST) under ``directory``; other files are left alone."""
    directory = Path(directory)
    if not directory.is_dir():
        return
    (directory / LATEST).unlink(missing_ok=True)
    for p in directory.glob("epoch-*"):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)


def latest_checkpoint(directory: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint directory, or None."""
    directory = Path(directory)
    if not directory.is_dir():
        return None
    pointer = directory / LATEST
    if pointer.exists():
        cand = directory / pointer.read_text().strip()
        if (cand / META_FILE).exists() and (cand / STATE_FILE).exists():
            return cand
    done = sorted(p for p in directory.glob("epoch-*") if (p / META_FILE).exists() and (p / STATE_FILE).exists())
    return done[-1] if done else None


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors and metadata of one checkpoint directory."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    state, meta_path = path / STATE_FILE, path / META_FILE
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{meta_path}: unreadable checkpoint metadata ({exc})") from None
    if not isinstance(meta, dict):
        raise ModelError(f"{meta_path}: unreadable checkpoint metadata (not a JSON object)")
    expected = meta.get(STATE_SHA256)
    if not expected:
        raise ModelError(f"{meta_path}: no {STATE_SHA256} (checkpoint written by an older brandmatch, cannot be "
                         "verified); start afresh without --resume")
    try:
        actual = sha256_file(state)
    except OSError as exc:
        raise ModelError(f"{state}: unreadable checkpoint ({exc.strerror or exc})") from None
    if actual != expected:
        raise ModelError(f"{state}: checksum does not match {META_FILE} (file changed or corrupted); "
                         "start afresh without --resume")
    try:
        tensors = load_file(str(state))
    except (SafetensorError, OSError) as exc:
        raise ModelError(f"{state}: unreadable checkpoint ({exc})") from None
    return tensors, meta


# ------------------------------------------------------------------ optimizer state <-> flat dict


def flatten_optimizer(optimizer: torch.optim.Optimizer, prefix: str = "optim.") -> tuple[dict[str, torch.Tensor], dict]:
    """Tensors (``optim.<param>.<key>``) and JSON-able rest of ``optimizer.state_dict()``."""
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, st in sd["state"].items():
        for key, value in st.items():
            if torch.is_tensor(value):
                tensors[f"{prefix}{pid}.{key}"] = value.detach().clone().reshape(value.shape)
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def unflatten_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict,
                        prefix: str = "optim.") -> None:
    """Inverse of :func:`flatten_optimizer`: load the state into ``optimizer``."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if not name.startswith(prefix):
            continue
        pid, key = name[len(prefix):].split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    for pid, st in meta.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(st)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_model_into(model: Any, directory: str | os.PathLike) -> None:
    """Save ``model`` (config.json + weights) into ``directory`` without touching its other content.

    ``Ranker.save`` replaces a whole directory; the training output directory also holds
    ``checkpoints/``, so the model is saved to a temporary sibling and its files are moved in one
    by one (weights first, config last: a directory with a config always has its weights).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".model.tmp-", dir=directory))
    staged = tmp / "model"
    try:
        model.save(staged)
        files = sorted(p.name for p in staged.iterdir())
        for name in sorted(files, key=lambda n: n == "config.json"):
            os.replace(staged / name, directory / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
