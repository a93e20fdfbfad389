"""One error type per failure kind. Every message names the file, row and column at fault.

The CLI turns any :class:`BrandmatchError` into one line on stderr and exit code 2.
"""

from __future__ import annotations

import re

_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")


class BrandmatchError(Exception):
    """Base class: bad input or an impossible request; the CLI exits with code 2.

    The message is always one line: line breaks inside it (a parser's multi-line message quoted
    in it) are joined with spaces.
    """

    exit_code = 2

    def __str__(self) -> str:
        return _LINE_BREAKS.sub(" ", super().__str__()).strip()


class DatasetError(BrandmatchError):
    """A dataset directory or an input table is malformed."""


class FeatureError(BrandmatchError):
    """A feature matrix is missing, misaligned or contains invalid values."""


class ModelError(BrandmatchError):
    """A model cannot be built, trained, saved or loaded as asked."""


class ModelUnavailable(ModelError):
    """The model cannot run on this dataset (its input views are absent); reported as n/a."""


class ServingError(BrandmatchError):
    """A recommendation request cannot be served: unknown brand or influencer, bad filter or k."""


class EngineError(BrandmatchError):
    """The execution engine cannot run as asked: unknown engine, Ray missing or unreachable."""


def plain(value: object) -> object:
    """A value as users wrote it, for messages: numpy scalars as Python values
    (``951``, not ``np.int64(951)``; ``'latte_leo'``, not ``np.str_('latte_leo')``)."""
    if type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    return value


def where(file: object, row: object | None = None, column: object | None = None) -> str:
    """Format a location 'file, row R, column C' for error messages (row is 1-based data row;
    a numbered column is 1-based too)."""
    parts = [str(file)]
    if row is not None:
        parts.append(f"row {plain(row)}")
    if column is not None:
        parts.append(f"column {plain(column)!r}")
    return ", ".join(parts)
