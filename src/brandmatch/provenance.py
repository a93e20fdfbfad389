"""Where an artifact came from: code version, dataset manifest and feature-view checksums.

A trained model records these (``config.json`` -> ``provenance``) so that loading it against other
features fails with a message, and ``--resume`` compares them with the checkpoint's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from brandmatch import __version__
from brandmatch.atomic import sha256_file


def code_version() -> str:
    """``brandmatch <version>`` plus the git commit when running from a checkout."""
    root = Path(__file__).resolve().parents[2]
    head = root / ".git" / "HEAD"
    commit = ""
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            commit = (root / ".git" / ref[5:]).read_text().strip()
        else:
            commit = ref
    except OSError:
        pass
    return f"brandmatch {__version__}" + (f" (git {commit[:12]})" if commit else "")


def feature_checksums(features: Any, names: Iterable[str]) -> dict[str, str]:
    """view name -> content checksum, for the views a model reads."""
    return {n: features[n].checksum() for n in names}


def dataset_checksum(dataset: Any) -> str | None:
    """SHA-256 of the dataset's manifest.json (None for an in-memory dataset)."""
    path = getattr(dataset, "path", None)
    if path is None or not (Path(path) / "manifest.json").exists():
        return None
    return sha256_file(Path(path) / "manifest.json")
