"""Where alignpt finds the files it ships: one home for package data and recipes.

Everything a command reads by name (world recipes, tag rules, eval suites, generate
templates under ``data/``; experiment, generate, train and mix recipes under ``recipes/``)
lies inside the ``alignpt`` package and is found through :mod:`importlib.resources`, so
``pip install alignpt`` runs the same recipes as a checkout.

``src/alignpt/recipes`` is a symlink to the repository's top-level ``recipes/`` (one copy
in the repo, where docs and users point); building a wheel or sdist copies the files it
points to, so an install holds real files. Paths are resolved, so from a checkout they name
``recipes/...`` as before rather than the link.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["package_root", "package_path", "recipe_dir", "checkout_root"]


def package_root() -> Path:
    """The folder of the imported ``alignpt`` package (a checkout's ``src/alignpt`` or an
    install's ``site-packages/alignpt``)."""
    # alignpt is installed as plain files (never zipped), so the Traversable is a real
    # folder; the callers need paths (they record them, glob them, hand them to YAML).
    return Path(str(resources.files("alignpt")))


def package_path(*parts: str) -> Path:
    """A file or folder shipped in the package, e.g. ``package_path("data", "world")``."""
    return package_root().joinpath(*parts).resolve()


def recipe_dir(kind: str) -> Path:
    """The shipped recipes of one kind: ``experiments``, ``generate``, ``train``, ``mix``."""
    return package_path("recipes", kind)


def checkout_root() -> Path | None:
    """The repository root when alignpt is imported from a source checkout (``src/``
    layout beside ``pyproject.toml``), else None (an installed wheel)."""
    pkg = Path(__file__).resolve().parents[1]   # src/alignpt (this file is in alignpt/core/)
    repo = pkg.parent.parent
    if pkg.parent.name == "src" and (repo / "pyproject.toml").is_file():
        return repo
    return None
