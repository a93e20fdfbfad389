"""One error type per failure kind. Every message names the file, row and column at fault.

The CLI turns any :class:`BrandmatchError` into one line on stderr and exit code 2.
"""

from __future__ import annotations


class BrandmatchError(Exception):
    """Base class: bad input or an impossible request; the CLI exits with code 2."""

    exit_code = 2


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


def where(file: object, row: object | None = None, column: object | None = None) -> str:
    """Format a location 'file, row R, column C' for error messages (row is 1-based data row)."""
    parts = [str(file)]
    if row is not None:
        parts.append(f"row {row}")
    if column is not None:
        parts.append(f"column {column!r}")
    return ", ".join(parts)
