"""Command-line values of ``alignpt eval`` and ``eval-suite``, checked before any work starts.

Each check ends in a one-line :class:`ConfigError` that names the option as the user
typed it and what it accepts, instead of a validation traceback from deep inside a
run, or a half-written output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, TypeVar

from pydantic import BaseModel, ValidationError

from alignpt.core.errors import ConfigError
from alignpt.core.outdir import check_output_folder

__all__ = ["validated", "output_file", "local_inputs"]

M = TypeVar("M", bound=BaseModel)


def validated(config: type[M], values: Mapping[str, object],
              options: Mapping[str, str] | None = None) -> M:
    """``config(**values)``; a bad value names its option (``options`` maps the config
    fields whose option is not ``--field-name``, e.g. ``mode`` -> ``--scoring``)."""
    try:
        return config.model_validate(dict(values))
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err.get("loc") else ""
        option = (options or {}).get(field, "--" + field.replace("_", "-"))
        msg = err.get("msg", "invalid value").removeprefix("Value error, ")
        raise ConfigError(f"{option}: {msg[:1].lower()}{msg[1:]} (got {err.get('input')!r})") \
            from None


def output_file(path: Path, option: str = "--out") -> None:
    """Refuse an output file path that is a folder, or lies under a file."""
    if path.is_dir():
        raise ConfigError(f"{option} {path}: is a folder; give a file path such as "
                          f"{path / 'items.jsonl'}")
    check_output_folder(path.parent, option)


def local_inputs(*specs: str | None) -> list[str]:
    """The specs that name files or folders on this machine (not fake:, http: or suite names)."""
    return [s for s in specs if s and ":" not in s.split("/")[0] and Path(s).exists()]
