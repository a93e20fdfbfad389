"""FeatureSet: one matrix per view, aligned by account id, with a mask where the view is missing.

On disk a feature set is a directory::

    features/
      manifest.json         {"schema_version", "views": {name: {"file", "rows", "dim", "present", "sha256", ...}}}
      content_text.npz      ids (n,) str, values (n, d) float32, mask (n,) bool
      ...

Rows whose mask is False carry no information (their values are zeros and must never be read as
real data). Standard view names are listed in :data:`STANDARD_VIEWS`; any other name is allowed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from brandmatch.atomic import clean_stale_siblings, read_json, replace_dir, sha256_file, strict_json
from brandmatch.errors import FeatureError, where

FEATURE_SCHEMA_VERSION = 1

#: Views of MORNING (content / audience, each visual + text) and the attribute view.
STANDARD_VIEWS = (
    "content_text",  # X^t: topic distribution of the account's captions (eq. 8)
    "content_visual",  # X^p: object (1,000) + scene (365) semantics (eq. 4-6)
    "audience_text",  # Y^t (eq. 10)
    "audience_visual",  # Y^p (eq. 11)
    "attributes",  # mean node2vec embedding of the account's attributes (eq. 18, before beta)
)


#: bytes of values checked for non-finite numbers at a time (FeatureView.validate)
VALIDATE_BYTES = 16 << 20


@dataclass
class FeatureView:
    """One view: ids (n,) str, values (n, d) float32, mask (n,) bool, free-form metadata."""

    name: str
    ids: np.ndarray
    values: np.ndarray
    mask: np.ndarray
    meta: dict = field(default_factory=dict)
    _index: dict[str, int] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.ids = np.asarray(self.ids).astype(str)
        self.values = np.ascontiguousarray(self.values, dtype=np.float32)
        self.mask = np.asarray(self.mask, dtype=bool)
        self.validate(self.name)

    @property
    def dim(self) -> int:
        return int(self.values.shape[1])

    @property
    def index(self) -> dict[str, int]:
        if self._index is None:
            self._index = {a: i for i, a in enumerate(self.ids.tolist())}
        return self._index

    def validate(self, source: object) -> None:
        """Shapes agree, ids unique, no NaN/inf in present rows."""
        n = len(self.ids)
        if self.values.ndim != 2 or self.values.shape[0] != n or self.mask.shape != (n,):
            raise FeatureError(
                f"{source}: view {self.name!r} has ids {n}, values {self.values.shape}, mask {self.mask.shape}"
            )
        if len(set(self.ids.tolist())) != n:
            seen: set[str] = set()
            for i, a in enumerate(self.ids.tolist()):
                if a in seen:
                    raise FeatureError(f"{where(source, i + 1, 'ids')}: duplicate account id {str(a)!r}")
                seen.add(a)
        step = max(1, VALIDATE_BYTES // (4 * max(self.values.shape[1], 1)))  # bounded memory: a memory-
        for lo in range(0, n, step):                                          # mapped view is read in blocks
            bad = ~np.isfinite(self.values[lo:lo + step])
            if not bad.any():
                continue
            r, c = np.argwhere(bad)[0]
            r += lo
            raise FeatureError(
                f"{where(source, int(r) + 1, int(c) + 1)}: non-finite value {float(self.values[r, c])} in view "
                f"{self.name!r} (account {str(self.ids[r])!r}; columns are numbered from 1)"
            )

    def lookup(self, account_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Rows for ``account_ids``: values (k, d) float32 and mask (k,) (False for unknown ids)."""
        idx = np.fromiter((self.index.get(a, -1) for a in account_ids), dtype=np.int64, count=len(account_ids))
        known = idx >= 0
        values = np.zeros((len(idx), self.dim), dtype=np.float32)
        values[known] = self.values[idx[known]]
        mask = np.zeros(len(idx), dtype=bool)
        mask[known] = self.mask[idx[known]]
        values[~mask] = 0.0
        return values, mask

    def checksum(self) -> str:
        """SHA-256 of the view's content (name, ids, values, mask): the same data, the same digest,
        whether the view came from disk or from memory (computed once per object)."""
        cached = self.__dict__.get("_checksum")
        if cached is None:
            import hashlib

            h = hashlib.sha256()
            h.update(self.name.encode())
            h.update("\x00".join(self.ids.tolist()).encode())
            h.update(np.ascontiguousarray(self.values).tobytes())
            h.update(np.packbits(self.mask).tobytes())
            cached = self.__dict__["_checksum"] = h.hexdigest()
        return cached

    def coverage(self, account_ids: Iterable[str]) -> float:
        """Share of ``account_ids`` for which the view is present."""
        ids = list(account_ids)
        if not ids:
            return 0.0
        return float(self.lookup(ids)[1].mean())


class FeatureSet:
    """A collection of :class:`FeatureView` keyed by view name."""

    def __init__(self, views: Mapping[str, FeatureView] | None = None, path: Path | None = None):
        self.views: dict[str, FeatureView] = dict(views or {})
        self.path = path

    def __contains__(self, name: object) -> bool:
        return name in self.views

    def __getitem__(self, name: str) -> FeatureView:
        try:
            return self.views[name]
        except KeyError:
            raise FeatureError(
                f"{self.path or 'feature set'}: no view {name!r} (have: {', '.join(self.views) or 'none'})"
            ) from None

    def names(self) -> list[str]:
        return list(self.views)

    def add(self, view: FeatureView) -> None:
        self.views[view.name] = view

    def available(self, account_ids: Sequence[str], names: Iterable[str] | None = None) -> list[str]:
        """Views (among ``names``, default all) present for at least one of ``account_ids``."""
        out = []
        for name in names if names is not None else self.views:
            if name in self.views and self.views[name].lookup(list(account_ids))[1].any():
                out.append(name)
        return out

    # ------------------------------------------------------------------ disk
    @staticmethod
    def _file(name: str) -> str:
        if not name.replace("_", "").replace("-", "").replace(".", "").isalnum():
            raise FeatureError(f"invalid view name {name!r}")
        return f"{name}.npz"

    def save(self, directory: str | os.PathLike) -> None:
        """Write every view and the manifest atomically (temp directory, then rename)."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_siblings(directory)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
        try:
            manifest = {"schema_version": FEATURE_SCHEMA_VERSION, "views": {}}
            for name, view in self.views.items():
                manifest["views"][name] = _write_view_file(tmp, view)
            _write_json(tmp / "manifest.json", manifest)
            replace_dir(tmp, directory)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.path = directory

    @classmethod
    def load(cls, directory: str | os.PathLike, verify: bool = True, skip_unreadable: bool = False) -> "FeatureSet":
        """Read a feature directory written by :meth:`save` or :func:`write_view`.

        ``skip_unreadable``: leave out views whose file is missing, damaged or (with ``verify``)
        does not match its checksum, instead of raising (featurize recomputes them).
        """
        directory = Path(directory)
        manifest_path = directory / "manifest.json"
        if not manifest_path.exists():
            raise FeatureError(f"{manifest_path}: missing feature manifest")
        manifest = read_json(manifest_path, FeatureError)
        if manifest.get("schema_version") != FEATURE_SCHEMA_VERSION:
            raise FeatureError(
                f"{manifest_path}: schema_version {manifest.get('schema_version')!r}, "
                f"expected {FEATURE_SCHEMA_VERSION}"
            )
        views = {}
        for name, entry in manifest.get("views", {}).items():
            if not isinstance(entry, dict) or "file" not in entry:
                raise FeatureError(f"{manifest_path}: the entry of view {name!r} has no 'file'")
            try:
                views[name] = _read_view_file(directory / entry["file"], name, entry, verify)
            except FeatureError:
                if not skip_unreadable:
                    raise
        return cls(views, directory)


def _write_json(path: Path, obj: object) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(strict_json(obj, indent=2, sort_keys=True))
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _write_view_file(directory: Path, view: FeatureView) -> dict:
    fname = FeatureSet._file(view.name)
    tmp = directory / f".{fname}.tmp"
    with open(tmp, "wb") as f:
        np.savez(f, ids=view.ids.astype(str), values=view.values, mask=view.mask)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, directory / fname)
    return {
        "file": fname,
        "rows": int(len(view.ids)),
        "dim": view.dim,
        "present": int(view.mask.sum()),
        "sha256": sha256_file(directory / fname),
        "meta": view.meta,
    }


#: a view's values of at least this many bytes are memory-mapped on load (copy-on-write: pages are
#: read when used, and changing the array never changes the file) instead of read whole
MMAP_BYTES = 64 << 20


def mapped_member(path: Path, member: str) -> np.ndarray | None:
    """The array stored as ``member`` of the .npz at ``path``, memory-mapped copy-on-write; None
    when it cannot be mapped (compressed, Fortran order, objects): read it instead."""
    import struct

    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    if info.compress_type != zipfile.ZIP_STORED:
        return None
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)
        if len(local) < 30 or local[:4] != b"PK\x03\x04":
            return None
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        f.seek(info.header_offset + 30 + name_len + extra_len)
        read_header = readers.get(np.lib.format.read_magic(f))
        if read_header is None:
            return None
        shape, fortran, dtype = read_header(f)
        offset = f.tell()
    if fortran or dtype.hasobject:
        return None
    return np.memmap(path, dtype=dtype, mode="c", offset=offset, shape=shape)


def _read_view_file(path: Path, name: str, entry: Mapping, verify: bool) -> FeatureView:
    if not path.exists():
        raise FeatureError(f"{path}: missing feature file of view {name!r}")
    if verify and not entry.get("sha256"):
        raise FeatureError(f"{path}: no sha256 for view {name!r} in the feature manifest (cannot be verified)")
    if verify and sha256_file(path) != entry["sha256"]:
        raise FeatureError(f"{path}: checksum does not match the manifest (file changed or truncated)")
    try:
        with np.load(path, allow_pickle=False) as z:
            ids, mask = z["ids"], z["mask"]
            values = None
            if int(entry.get("rows", 0)) * int(entry.get("dim", 0)) * 4 >= MMAP_BYTES:
                values = mapped_member(path, "values.npy")
            if values is None or values.dtype != np.float32:
                values = z["values"].astype(np.float32)
    except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise FeatureError(f"{path}: not a readable feature file ({exc})") from None
    view = FeatureView.__new__(FeatureView)
    view.name, view.ids, view.values, view.mask = name, ids.astype(str), values, mask
    view.meta, view._index = dict(entry.get("meta", {})), None
    view.validate(path)
    return view


def write_view(directory: str | os.PathLike, view: FeatureView) -> None:
    """Add or replace one view in a feature directory (file then manifest, each atomic).

    Used by resumable featurization: a crash leaves either the old or the new view, never half.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    manifest_path = directory / "manifest.json"
    manifest = (
        read_json(manifest_path, FeatureError)
        if manifest_path.exists()
        else {"schema_version": FEATURE_SCHEMA_VERSION, "views": {}}
    )
    manifest["views"][view.name] = _write_view_file(directory, view)
    _write_json(manifest_path, manifest)


def remove_view(directory: str | os.PathLike, name: str) -> None:
    """Drop one view from a feature directory (no error if absent)."""
    directory = Path(directory)
    manifest_path = directory / "manifest.json"
    if not manifest_path.exists():
        return
    manifest = read_json(manifest_path, FeatureError)
    entry = manifest["views"].pop(name, None)
    _write_json(manifest_path, manifest)
    if entry:
        (directory / entry["file"]).unlink(missing_ok=True)
