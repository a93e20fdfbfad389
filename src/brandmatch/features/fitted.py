"""What `featurize` fitted, kept next to the views so new accounts can be featurized later.

On disk (inside the feature directory, e.g. ``DATA/features/fitted/``)::

    fitted/
      manifest.json                 {"schema_version", "stages": {stage: {"dir", "stage_hash", "manifest_sha256"}}}
      content_topics/
        manifest.json               {"schema_version", "stage", "stage_hash", "files": {name: {"sha256", "bytes"}}}
        state.json                  strict JSON: settings, vocabularies, class lists, ...
        exp_elog_beta.npy           numpy arrays (np.save, allow_pickle=False; never pickle)
      audience_topics/ visual/ w2v/ attributes/ activity/ ...

A stage directory is written complete into a temporary sibling and renamed into place (one
atomic step), then the top-level index is updated (atomic replace). Loading verifies the index
entry (sha256 of the stage manifest), then every file's sha256 against the stage manifest, and
refuses a mismatch with :class:`~brandmatch.errors.FeatureError` naming the file. No pickle
anywhere: arrays are ``.npy`` read with ``allow_pickle=False`` (object arrays are refused),
everything else is strict JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from brandmatch.atomic import clean_stale_siblings, replace_dir, sha256_file, write_json_atomic
from brandmatch.errors import FeatureError

FITTED_DIR = "fitted"
FITTED_SCHEMA_VERSION = 1
STATE_FILE = "state.json"
MANIFEST = "manifest.json"


@dataclass
class FittedStage:
    """One stage's fitted state: JSON ``state`` and named numpy ``arrays`` (no object dtypes)."""

    stage: str
    stage_hash: str
    state: dict = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def fitted_dir(features_dir: str | os.PathLike) -> Path:
    return Path(features_dir) / FITTED_DIR


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise FeatureError(f"{path}: missing file of the fitted featurizer (rerun `brandmatch featurize --force`)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FeatureError(f"{path}: invalid JSON ({exc})") from None


def read_index(features_dir: str | os.PathLike) -> dict:
    """The top-level index ``{"schema_version", "stages": {...}}`` (empty when absent)."""
    path = fitted_dir(features_dir) / MANIFEST
    if not path.exists():
        return {"schema_version": FITTED_SCHEMA_VERSION, "stages": {}}
    index = _read_json(path)
    if index.get("schema_version") != FITTED_SCHEMA_VERSION:
        raise FeatureError(
            f"{path}: schema_version {index.get('schema_version')!r}, expected {FITTED_SCHEMA_VERSION}"
        )
    return index


def _check_name(stage: str) -> None:
    if not stage.replace("_", "").isalnum():
        raise FeatureError(f"invalid fitted stage name {stage!r}")


def write_stage(features_dir: str | os.PathLike, fitted: FittedStage) -> None:
    """Write one stage's fitted state atomically (stage directory rename, then index replace)."""
    _check_name(fitted.stage)
    root = fitted_dir(features_dir)
    root.mkdir(parents=True, exist_ok=True)
    clean_stale_siblings(root / fitted.stage)
    tmp = Path(tempfile.mkdtemp(prefix=f".{fitted.stage}.tmp-", dir=root))
    try:
        files: dict[str, dict] = {}
        for name, arr in fitted.arrays.items():
            _check_name(name)
            arr = np.asarray(arr)
            if arr.dtype == object:
                raise FeatureError(f"fitted {fitted.stage}/{name}: object arrays are not stored (no pickle)")
            with open(tmp / f"{name}.npy", "wb") as f:
                np.save(f, arr, allow_pickle=False)
                f.flush()
                os.fsync(f.fileno())
        write_json_atomic(tmp / STATE_FILE, fitted.state, sort_keys=True)
        for path in sorted(tmp.iterdir()):
            files[path.name] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
        write_json_atomic(tmp / MANIFEST, {
            "schema_version": FITTED_SCHEMA_VERSION, "stage": fitted.stage, "stage_hash": fitted.stage_hash,
            "files": files,
        }, sort_keys=True)
        replace_dir(tmp, root / fitted.stage)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    index = read_index(features_dir)
    index["stages"][fitted.stage] = {
        "dir": fitted.stage, "stage_hash": fitted.stage_hash,
        "manifest_sha256": sha256_file(root / fitted.stage / MANIFEST),
    }
    write_json_atomic(root / MANIFEST, index, sort_keys=True)


def remove_stage(features_dir: str | os.PathLike, stage: str) -> None:
    """Forget one stage's fitted state (index first, then the directory)."""
    root = fitted_dir(features_dir)
    index = read_index(features_dir)
    if index["stages"].pop(stage, None) is not None:
        write_json_atomic(root / MANIFEST, index, sort_keys=True)
    shutil.rmtree(root / stage, ignore_errors=True)


def stage_hash(features_dir: str | os.PathLike, stage: str) -> str | None:
    """The stage_hash the index records for ``stage`` when its stage manifest still matches, else None
    (cheap: no array file is hashed; the cache check of `featurize` uses this)."""
    try:
        index = read_index(features_dir)
    except FeatureError:
        return None
    entry = index["stages"].get(stage)
    if not entry:
        return None
    mpath = fitted_dir(features_dir) / entry["dir"] / MANIFEST
    if not mpath.is_file() or sha256_file(mpath) != entry.get("manifest_sha256"):
        return None
    return entry.get("stage_hash")


def read_stage(features_dir: str | os.PathLike, stage: str, verify: bool = True) -> FittedStage:
    """Load one stage, verifying the stage manifest and every file's sha256 (``verify``)."""
    root = fitted_dir(features_dir)
    index = read_index(features_dir)
    entry = index["stages"].get(stage)
    if entry is None:
        raise FeatureError(f"{root / MANIFEST}: no fitted state for stage {stage!r} "
                           f"(have: {', '.join(index['stages']) or 'none'})")
    sdir = root / entry["dir"]
    mpath = sdir / MANIFEST
    if verify and (not mpath.is_file() or sha256_file(mpath) != entry.get("manifest_sha256")):
        raise FeatureError(f"{mpath}: checksum does not match {root / MANIFEST} (file changed, truncated or "
                           "from another run); rerun `brandmatch featurize --force`")
    manifest = _read_json(mpath)
    if verify and manifest.get("stage_hash") != entry.get("stage_hash"):
        raise FeatureError(f"{root / MANIFEST}: stage_hash of {stage!r} does not match {mpath} (files from "
                           "another run); rerun `brandmatch featurize --force`")
    files = manifest.get("files", {})
    for name, info in sorted(files.items()):
        path = sdir / name
        if not path.is_file():
            raise FeatureError(f"{path}: missing file of the fitted featurizer (listed in {mpath})")
        if verify and sha256_file(path) != info.get("sha256"):
            raise FeatureError(f"{path}: checksum does not match {mpath} (file changed or truncated); "
                               "rerun `brandmatch featurize --force`")
    extra = sorted(p.name for p in sdir.iterdir() if p.name not in files and p.name != MANIFEST)
    if verify and extra:
        raise FeatureError(f"{sdir / extra[0]}: file not listed in {mpath}")
    state = _read_json(sdir / STATE_FILE)
    arrays: dict[str, np.ndarray] = {}
    for name in files:
        if not name.endswith(".npy"):
            continue
        try:
            arrays[name[:-4]] = np.load(sdir / name, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise FeatureError(f"{sdir / name}: not a readable numpy array ({exc})") from None
    return FittedStage(stage, manifest.get("stage_hash", ""), state, arrays)


def stages(features_dir: str | os.PathLike) -> list[str]:
    """Names of the stages with fitted state (index order)."""
    return list(read_index(features_dir)["stages"])
