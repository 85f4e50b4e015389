"""Typed configs: pydantic models loaded from YAML with ``a.b=c`` overrides.

Every stage's config is a :class:`StrictModel` subclass. Loading goes
YAML -> dict -> overrides -> validation, and any problem becomes a one-line
:class:`~alignpt.core.errors.ConfigError` that names the offending key. The resolved
config is written beside every output (:func:`write_resolved_config`), so a
result folder always says exactly what produced it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, Iterable, Mapping, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from alignpt.core.atomic import atomic_write_text
from alignpt.core.errors import ConfigError

__all__ = [
    "StrictModel",
    "load_yaml",
    "apply_overrides",
    "parse_overrides",
    "build_config",
    "load_config",
    "config_to_dict",
    "provenance",
    "write_resolved_config",
]

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for configs: unknown keys are errors, so typos never pass silently."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}{where}: invalid YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def parse_overrides(items: Iterable[str]) -> list[tuple[str, Any]]:
    """Parse ``a.b=c`` strings; values are read as YAML scalars (``3``, ``true``, ``[1, 2]``)."""
    out = []
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override '{item}' must look like key.path=value")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key or any(not part for part in key.split(".")):
            raise ConfigError(f"override '{item}' has an empty key")
        out.append((key, _parse_value(raw)))
    return out


def _parse_value(raw: str) -> Any:
    """YAML scalar, except that numbers YAML 1.1 leaves as strings (``3e-4``) are numbers."""
    if not raw.strip():
        return ""
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
    if isinstance(value, str):
        try:
            return float(value) if value.strip().lower() not in ("nan", "inf", "-inf",
                                                                   "infinity") else value
        except ValueError:
            return value
    return value


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with dotted overrides applied (creating levels as needed)."""
    import copy

    data = copy.deepcopy(data)
    for key, value in parse_overrides(overrides):
        node: Any = data
        parts = key.split(".")
        for depth, part in enumerate(parts[:-1]):
            if isinstance(node, list):
                node = _list_item(node, part, key)
                if not isinstance(node, (dict, list)):
                    prefix = ".".join(parts[: depth + 1])
                    raise ConfigError(f"override '{key}': '{prefix}' is a value, not a section")
                continue
            if part not in node or node[part] is None:
                node[part] = {}
            elif not isinstance(node[part], (dict, list)):
                prefix = ".".join(parts[: depth + 1])
                raise ConfigError(f"override '{key}': '{prefix}' is a value, not a section")
            node = node[part]
        last = parts[-1]
        if isinstance(node, list):
            idx = _index(node, last, key)
            node[idx] = value
        else:
            node[last] = value
    return data


def _index(node: list, part: str, key: str) -> int:
    try:
        idx = int(part)
    except ValueError:
        raise ConfigError(f"override '{key}': '{part}' must be a list index") from None
    if not -len(node) <= idx < len(node):
        raise ConfigError(f"override '{key}': index {idx} out of range (list has {len(node)})")
    return idx


def _list_item(node: list, part: str, key: str) -> Any:
    return node[_index(node, part, key)]


def _format_validation_error(exc: ValidationError, source: str | None) -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err.get("loc", ()))
    msg = err.get("msg", "invalid value").removeprefix("Value error, ")
    if err.get("type") == "extra_forbidden":
        msg = "unknown key"
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    value = err.get("input")
    shown = ""
    if err.get("type") != "missing" and not isinstance(value, (dict, list)):
        shown = f" (got {value!r})"
    prefix = f"{source}: " if source else ""
    # A model-level check has no key of its own; its message names the keys involved.
    where = f"{key}: " if key else ""
    return f"{prefix}{where}{msg}{shown}{more}"


def build_config(model: type[M], data: Mapping[str, Any], overrides: Iterable[str] = (),
                 source: str | None = None) -> M:
    """Validate ``data`` (after overrides) into ``model``; errors name the key."""
    data = apply_overrides(dict(data), overrides)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, source)) from None


def load_config(model: type[M], path: str | Path | None, overrides: Iterable[str] = ()) -> M:
    data = load_yaml(path) if path is not None else {}
    return build_config(model, data, overrides, source=str(path) if path else None)


def config_to_dict(cfg: BaseModel) -> dict[str, Any]:
    return cfg.model_dump(mode="json")


def _git_revision() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def provenance() -> dict[str, Any]:
    """Package version and git revision, recorded beside every output."""
    from alignpt import __version__

    return {"alignpt_version": __version__, "git_revision": _git_revision()}


def write_resolved_config(out_dir: str | Path, config: BaseModel | Mapping[str, Any],
                          inputs: Iterable[str] = (), name: str = "config.yaml",
                          extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``config.yaml``: the resolved config, provenance and the input list."""
    body = config_to_dict(config) if isinstance(config, BaseModel) else dict(config)
    doc: dict[str, Any] = {"config": body, **provenance(), "inputs": [str(i) for i in inputs]}
    if extra:
        doc.update(extra)
    path = Path(out_dir) / name
    atomic_write_text(path, yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    return path
