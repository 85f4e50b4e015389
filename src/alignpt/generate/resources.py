"""Package data for generation (axes, names, prompt templates, grammars), user-overridable.

Every YAML file under ``alignpt/data/generate/`` can be replaced by a file of the same
relative name in a user folder (``prompts.dir`` / ``template_dir`` in the config): the
user's copy wins wholesale, so an override never half-merges with the packaged text.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from alignpt.core.errors import ConfigError
from alignpt.core.resources import package_path

__all__ = ["load_data", "package_data_dir", "data_names"]


def package_data_dir() -> Path:
    return package_path("data", "generate")


@lru_cache(maxsize=64)
def _read(path: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: invalid YAML: "
                          f"{getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return data


def load_data(name: str, override_dir: str | Path | None = None) -> dict[str, Any]:
    """Load ``name`` (e.g. ``"axes.yaml"``, ``"grammar/diary.yaml"``), preferring the override.

    Results are cached per path; treat them as read-only.
    """
    if override_dir is not None:
        candidate = Path(override_dir) / name
        if candidate.is_file():
            return _read(str(candidate.resolve()))
        if not Path(override_dir).is_dir():
            raise ConfigError(f"{override_dir}: override folder not found")
    path = package_data_dir() / name
    if not path.is_file():
        raise ConfigError(f"no packaged generation data named '{name}'")
    return _read(str(path))


def data_names(subdir: str, override_dir: str | Path | None = None) -> list[str]:
    """Stems of the YAML files in a data subfolder (packaged plus overrides), sorted."""
    stems = {p.stem for p in (package_data_dir() / subdir).glob("*.yaml")}
    if override_dir is not None and (Path(override_dir) / subdir).is_dir():
        stems |= {p.stem for p in (Path(override_dir) / subdir).glob("*.yaml")}
    return sorted(stems)
