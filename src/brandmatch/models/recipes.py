"""Recipes: named, documented hyper-parameter sets stored as TOML files a user can read and copy.

A recipe file (``src/brandmatch/recipes/<model>/<name>.toml``, or any path ending in ``.toml``)::

    description = "one line: what this recipe is"
    source = "where the values come from (paper section, results table, validation choice)"

    [params]          # the model's own parameters (objective, loop, views)
    epochs = 30

    [terms.cosine]    # one table per score term, in score order; its keys are the term's parameters
    weights = "diagonal"

It flattens to ``{"terms": ["cosine", ...], "epochs": 30, "cosine.weights": "diagonal"}``, the
same spelling as ``--param KEY=VALUE`` overrides on the command line.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from brandmatch.atomic import sha256_file
from brandmatch.errors import ModelError

RECIPE_DIR = Path(__file__).resolve().parents[1] / "recipes"
TOP_LEVEL = ("description", "source", "params", "terms", "select")


@dataclass(frozen=True)
class Recipe:
    """A parsed recipe: its name, file, flat parameters and documentation."""

    name: str
    path: Path
    params: dict[str, Any]
    description: str
    source: str
    sha256: str
    #: the ``[select]`` table: what ``select = true`` chooses on the validation grid (training/selection.py)
    select: dict[str, Any] = field(default_factory=dict)


def recipe_names(model: str) -> list[str]:
    """The recipes shipped for ``model``, sorted."""
    folder = RECIPE_DIR / model
    return sorted(p.stem for p in folder.glob("*.toml")) if folder.is_dir() else []


def load_recipe(model: str, name: str) -> Recipe:
    """A shipped recipe by name, or a user's file by path (``*.toml``)."""
    if name.endswith(".toml") or "/" in name:
        path = Path(name)
    else:
        path = RECIPE_DIR / model / f"{name}.toml"
        if not path.exists():
            known = ", ".join(recipe_names(model)) or "none"
            raise ModelError(f"{model}: unknown recipe {name!r} (known: {known}; or a path to a .toml file)")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path}: recipe file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"{path}: invalid TOML ({exc})") from None
    for key in doc:
        if key not in TOP_LEVEL:
            raise ModelError(f"{path}: unknown top-level key {key!r} (allowed: {', '.join(TOP_LEVEL)})")
    params = doc.get("params", {})
    terms = doc.get("terms", {})
    if not isinstance(params, dict) or not isinstance(terms, dict) or \
            not all(isinstance(v, dict) for v in terms.values()):
        raise ModelError(f"{path}: [params] must be a table and [terms.<kind>] tables")
    flat = dict(params)
    if terms:
        if "terms" in flat:
            raise ModelError(f"{path}: give the terms either as [terms.<kind>] tables or as params.terms, not both")
        flat["terms"] = list(terms)
    for kind, values in terms.items():
        for key, value in values.items():
            flat[f"{kind}.{key}"] = value
    select = doc.get("select", {})
    if not isinstance(select, dict):
        raise ModelError(f"{path}: [select] must be a table")
    return Recipe(path.stem, path, flat, str(doc.get("description", "")), str(doc.get("source", "")),
                  sha256_file(path), dict(select))


def recipe_config(model: str, recipe: str | None, params: dict[str, Any]) -> tuple[Recipe | None, dict[str, Any], str]:
    """A flat-parameter model's recipe merged under explicit ``params``: (recipe or None, values, owner
    name for error messages). Explicit parameters win over the recipe's."""
    info = load_recipe(model, recipe) if recipe is not None else None
    owner = model + (f" (recipe {recipe!r})" if recipe is not None else "")
    return info, {**(info.params if info else {}), **params}, owner


class RecipeParams:
    """``get_params`` / ``from_params`` of a model built as ``cls(recipe, **params)`` that keeps its
    resolved values in ``config``: every value is saved (with the recipe's name), so loading never
    re-reads the recipe file."""

    recipe: str | None
    config: dict[str, Any]

    def get_params(self) -> dict[str, Any]:
        return {"recipe": self.recipe, **self.config}

    @classmethod
    def from_params(cls, params: dict[str, Any]):
        values = dict(params)
        recipe = values.pop("recipe", None)
        model = cls(None, **values)  # type: ignore[call-arg]
        model.recipe = recipe
        return model
