"""Hyper-parameter specifications: every value is checked when a model or a term is built.

A :class:`Param` states a name, its default (the paper's where the paper gives one), where the
value comes from (an equation, a section, or "ours"), and what is allowed. :func:`resolve` turns
user values into a complete, validated dict; anything unknown or invalid raises
:class:`~brandmatch.errors.ModelError` with one line naming the parameter and what is allowed.

Kinds: ``bool``, ``int``, ``float`` (finite; ints are accepted as floats), ``str`` (with
``choices``), ``names`` (a list of strings from ``choices``; a comma-separated string is the
command-line spelling of the same list), ``ints`` / ``floats`` (lists, optionally of a fixed
``length``). ``nullable`` allows ``None``. No other coercion: ``"1"`` is not an int, ``1`` is not
a bool.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from brandmatch.errors import ModelError

KINDS = ("bool", "int", "float", "str", "names", "ints", "floats")


@dataclass(frozen=True)
class Param:
    """One hyper-parameter: name, default, kind, source (equation / section / "ours"), constraints."""

    name: str
    default: Any
    kind: str
    source: str
    choices: tuple[str, ...] | None = None
    low: float | None = None  # inclusive lower bound (numbers, and list items)
    high: float | None = None  # inclusive upper bound
    low_open: bool = False  # the lower bound itself is not allowed
    length: int | None = None  # fixed list length
    nullable: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise TypeError(f"parameter {self.name}: unknown kind {self.kind!r}")

    def allowed(self) -> str:
        """What the parameter accepts, in words (used in error messages and `brandmatch models`)."""
        if self.kind == "bool":
            text = "true or false"
        elif self.kind == "str":
            text = "one of " + ", ".join(self.choices or ())
        elif self.kind == "names":
            text = "a list (or comma-separated string) of " + (", ".join(self.choices) if self.choices else "names")
        else:
            what = {"int": "an integer", "float": "a finite number", "ints": "a list of integers",
                    "floats": "a list of finite numbers"}[self.kind]
            bounds = []
            if self.low is not None:
                bounds.append(f"{'>' if self.low_open else '>='} {_num(self.low)}")
            if self.high is not None:
                bounds.append(f"<= {_num(self.high)}")
            text = what + (" " + " and ".join(bounds) if bounds else "")
            if self.length is not None:
                text += f", exactly {self.length} values"
        return text + (", or null" if self.nullable else "")

    def check(self, value: Any, owner: str) -> Any:
        """The validated value (lists as lists, names in the order given), or a one-line ModelError."""
        if value is None:
            if self.nullable:
                return None
            raise self._error(owner, value)
        kind = self.kind
        if kind == "bool":
            if not isinstance(value, bool):
                raise self._error(owner, value)
            return value
        if kind == "str":
            if not isinstance(value, str) or (self.choices is not None and value not in self.choices):
                raise self._error(owner, value)
            return value
        if kind == "names":
            items = value.split(",") if isinstance(value, str) else value
            if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
                raise self._error(owner, value)
            out = []
            for v in (v.strip() for v in items):
                if not v:
                    continue
                if self.choices is not None and v not in self.choices:
                    raise self._error(owner, value)
                if v not in out:
                    out.append(v)
            return out
        if kind in ("int", "float"):
            if not self._number_ok(value, kind):
                raise self._error(owner, value)
            return int(value) if kind == "int" else float(value)
        # lists
        item = "int" if kind == "ints" else "float"
        if not isinstance(value, (list, tuple)) or (self.length is not None and len(value) != self.length):
            raise self._error(owner, value)
        if not all(self._number_ok(v, item) for v in value):
            raise self._error(owner, value)
        return [int(v) if item == "int" else float(v) for v in value]

    def _number_ok(self, value: Any, kind: str) -> bool:
        if isinstance(value, bool):
            return False
        if kind == "int" and not isinstance(value, int):
            return False
        if kind == "float" and not isinstance(value, (int, float)):
            return False
        v = float(value)
        if not math.isfinite(v):
            return False
        if self.low is not None and (v < self.low or (self.low_open and v == self.low)):
            return False
        if self.high is not None and v > self.high:
            return False
        return True

    def _error(self, owner: str, value: Any) -> ModelError:
        return ModelError(f"{owner}: parameter {self.name!r} = {_show(value)} is not allowed "
                          f"(allowed: {self.allowed()})")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


def _show(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return repr(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def unknown(owner: str, name: str, known: Iterable[str]) -> ModelError:
    """One-line error for a parameter name that does not exist (with the closest match)."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ModelError(f"{owner}: unknown parameter {name!r}{hint} (known: {', '.join(known)})")


def resolve(owner: str, specs: Sequence[Param], values: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults overridden by ``values``, every value validated; unknown names are refused."""
    by_name = {p.name: p for p in specs}
    for name in values:
        if name not in by_name:
            raise unknown(owner, name, by_name)
    return {p.name: p.check(values.get(p.name, p.default), owner) for p in specs}


def describe(specs: Sequence[Param], prefix: str = "") -> list[str]:
    """One line per parameter: name, default, allowed values, source (for `brandmatch models`)."""
    return [f"{prefix}{p.name} = {_show(p.default)}  ({p.allowed()}; {p.source})" for p in specs]
