"""Atomic file output and checksums shared by every stage.

Everything brandmatch writes goes to a temporary sibling first and is renamed into place, so a
failed or interrupted command leaves either the old artifact or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

#: When this process started using brandmatch: temporary folders older than this are left-overs
#: of an interrupted run (a folder this process creates is younger).
PROCESS_START = time.time()


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_json(path: str | os.PathLike, error: type[Exception], missing: str | None = None) -> Any:
    """A JSON file's content, or one line raised as ``error``: ``<path>: missing <missing>`` when
    the file does not exist (only when ``missing`` is given), ``<path>: invalid JSON at line L,
    column C: <why>`` when it does not parse."""
    path = Path(path)
    if missing is not None and not path.exists():
        raise error(f"{path}: missing {missing}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise error(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to a temp file in the same directory (fsync), then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def finite_or_null(obj: Any) -> Any:
    """``obj`` with every NaN / infinite float replaced by None (JSON null), recursively."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_or_null(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_null(v) for v in obj]
    return obj


def strict_json(obj: Any, **kwargs: Any) -> str:
    """Strict JSON text (RFC 8259: no bare NaN or Infinity; non-finite floats become null)."""
    return json.dumps(finite_or_null(obj), allow_nan=False, **kwargs)


def write_json_atomic(path: str | os.PathLike, obj: Any, *, sort_keys: bool = False) -> None:
    """Strict JSON (indented; non-finite floats as null) written atomically."""
    write_text_atomic(path, strict_json(obj, indent=2, sort_keys=sort_keys) + "\n")


@contextmanager
def staged_dir(target: str | os.PathLike) -> Iterator[Path]:
    """``with staged_dir(out) as tmp: ...`` -- fill ``tmp`` (a fresh sibling of ``out``); it replaces
    ``out`` when the block ends normally (:func:`replace_dir`) and is removed when it raises."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
        replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def replace_dir(tmp: str | os.PathLike, target: str | os.PathLike) -> None:
    """Move the finished directory ``tmp`` to ``target``, replacing an existing one.

    The old directory is renamed aside first, so ``target`` is never a mix of old and new files.
    """
    tmp, target = Path(tmp), Path(target)
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)


def _stale_pattern(name: str) -> re.Pattern:
    """Names of the temporary siblings brandmatch creates for ``name``: ``.{name}.tmp-XXXXXXXX``
    (``tempfile.mkdtemp``) and ``.{name}.old-<pid>`` (:func:`replace_dir`)."""
    return re.compile(rf"\.{re.escape(name)}\.(?:tmp-[a-z0-9_]{{8}}|old-[0-9]+)")


def clean_stale_siblings(target: str | os.PathLike) -> list[Path]:
    """Remove what an interrupted write of ``target`` left next to it: the temporary siblings
    brandmatch names after ``target`` (:func:`_stale_pattern`) that are older than this process.
    Nothing else is touched. Returns the removed paths."""
    target = Path(target)
    parent = target.parent
    if not parent.is_dir():
        return []
    pattern = _stale_pattern(target.name)
    own = f".{target.name}.old-{os.getpid()}"
    removed = []
    for entry in parent.iterdir():
        if not pattern.fullmatch(entry.name) or entry.name == own:
            continue
        try:
            if entry.is_symlink() or entry.lstat().st_mtime >= PROCESS_START:
                continue
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError:
            continue  # best effort: another process may be removing it too
        removed.append(entry)
    return removed
