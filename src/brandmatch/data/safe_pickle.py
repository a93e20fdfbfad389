"""Read third-party pickles without executing code from them.

A pickle is a small program: ``GLOBAL``/``STACK_GLOBAL`` opcodes name any importable callable and
``REDUCE`` calls it, so ``pickle.load`` on a file from a data directory can run ``os.system``.
:class:`RestrictedUnpickler` resolves no global except the builtin containers ``set``,
``frozenset``, ``list``, ``dict`` and ``tuple`` (older protocols, 0 to 3, spell a set as
``builtins.set`` / ``__builtin__.set`` called on a list). Strings, numbers, booleans, None,
lists, dicts and tuples need no global at all. Everything else is refused, and any failure is a
:class:`~brandmatch.errors.DatasetError` naming the file.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

from brandmatch.errors import DatasetError

#: (module, name) pairs a pickle may reference; protocol 0-2 pickles say ``__builtin__``.
ALLOWED_GLOBALS = frozenset(
    (module, name)
    for module in ("builtins", "__builtin__")
    for name in ("set", "frozenset", "list", "dict", "tuple")
)

_BUILTINS = {"set": set, "frozenset": frozenset, "list": list, "dict": dict, "tuple": tuple}


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle references a global that is not an allowed builtin container."""


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose ``find_class`` only returns the builtin containers of :data:`ALLOWED_GLOBALS`."""

    def find_class(self, module: str, name: str):  # noqa: D401 - pickle API
        if (module, name) in ALLOWED_GLOBALS:
            return _BUILTINS[name]
        raise UnsafePickleError(f"refused global {module}.{name} (only builtin containers are allowed)")

    def persistent_load(self, pid):  # pragma: no cover - same as the default, stated explicitly
        raise UnsafePickleError("refused persistent id (only builtin containers are allowed)")


def loads(data: bytes, source: object = "<bytes>") -> object:
    """Unpickle ``data`` with :class:`RestrictedUnpickler`; errors name ``source``."""
    try:
        return RestrictedUnpickler(io.BytesIO(data)).load()
    except UnsafePickleError as exc:
        raise DatasetError(f"{source}: unsafe pickle, {exc}") from None
    except Exception as exc:  # malformed pickles raise many kinds (EOFError, ValueError, ...)
        raise DatasetError(
            f"{source}: not a readable pickle ({type(exc).__name__}: {exc})"
        ) from None


def load_pickle(path: str | os.PathLike) -> object:
    """Read a pickle file with :class:`RestrictedUnpickler`.

    Raises :class:`DatasetError` naming the file when it is missing, malformed, or references
    anything but the builtin containers.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{path}: missing file") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    return loads(data, path)
