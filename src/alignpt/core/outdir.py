"""Output-folder safety shared by every stage: apart from inputs, locked, free of dead temporaries.

A stage owns its output folder while it runs: it may clean up and replace what it
wrote there before. Three rules keep that from touching anything else:

- :func:`check_output_apart` refuses an output folder that is, contains or lies
  inside an input, so clean-up can never reach an input file;
- :class:`OutputLock` lets one run at a time write a folder (an exclusive ``flock``
  on ``OUT/.alignpt/lock``; the kernel drops it when the holder dies, so a killed
  run never leaves a lock that needs removing by hand);
- :func:`clean_stale_temporaries` removes the half-written temporaries of runs that
  died (our writers name them ``.NAME.tmp-PID...`` or ``.tmp-NAME-PID``), never those
  of a live process.
"""

from __future__ import annotations

import glob
import os
import re
import threading
from pathlib import Path
from typing import Any, Iterable

from alignpt.core.errors import AlignptError, ConfigError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows has no flock; the lock is advisory there
    fcntl = None

__all__ = ["LOCK_FILE", "check_output_apart", "check_output_folder", "OutputLock", "try_exclusive",
           "clean_stale_temporaries"]

LOCK_FILE = ".alignpt/lock"


# -- apart from inputs -------------------------------------------------------
def check_output_apart(out_dir: str | Path, inputs: Iterable[str | Path], *,
                       what: str = "input") -> None:
    """Raise :class:`ConfigError` when ``out_dir`` is, contains or lies inside an input.

    Inputs may be files, folders or globs (a glob is checked through what it matches).
    Paths are compared after resolving symlinks, so ``--out ./x`` and ``--out x/../x``
    are caught alike.
    """
    out = Path(out_dir).resolve()
    for raw in inputs:
        for path in _expand(raw):
            inp = Path(path).resolve()
            if out == inp:
                relation = "is"
            elif out.is_relative_to(inp):
                relation = "lies inside"
            elif inp.is_relative_to(out):
                relation = "contains"
            else:
                continue
            raise ConfigError(f"--out {out_dir}: the output folder {relation} the {what} "
                              f"'{path}'; choose a folder apart from the {what}s")


def _expand(raw: str | Path) -> list[str]:
    text = str(raw)
    if any(ch in text for ch in "*?[") and not Path(text).exists():
        return sorted(glob.glob(text, recursive=True))
    return [text]


def check_output_folder(path: str | Path, option: str = "--out") -> None:
    """Raise :class:`ConfigError` when an output folder is a file, or lies under one (so
    creating it would fail with a traceback half-way through a command)."""
    path = Path(path)
    found = next((p for p in (path, *path.parents) if p.exists()), None)
    if found is not None and not found.is_dir():
        where = "is a file" if found == path else f"lies under the file {found}"
        raise ConfigError(f"{option} {path}: {where}; give a folder")


# -- one writer per folder ---------------------------------------------------
_held: dict[Path, list[int]] = {}   # lock path -> [fd, depth], for re-entry in this process
_held_guard = threading.Lock()


class OutputLock:
    """``with OutputLock(out_dir):`` hold the folder's exclusive lock for the block.

    Re-entrant within one process (a command that runs several stages into one folder
    holds it across all of them). A second process gets :class:`AlignptError` at once
    rather than waiting, naming the PID that holds it.
    """

    def __init__(self, out_dir: str | Path):
        self.out_dir = Path(out_dir)
        self.path = (self.out_dir / LOCK_FILE).resolve()

    def __enter__(self) -> "OutputLock":
        with _held_guard:
            entry = _held.get(self.path)
            if entry is not None:
                entry[1] += 1
                return self
            fd = try_exclusive(self.path)
            if fd is None:
                raise AlignptError(f"{self.out_dir}: another alignpt run (pid "
                                   f"{_read_pid(self.path)}) is writing this folder")
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            _held[self.path] = [fd, 1]
        return self

    def __exit__(self, *exc: Any) -> None:
        with _held_guard:
            entry = _held[self.path]
            entry[1] -= 1
            if entry[1] == 0:
                del _held[self.path]
                # The file stays: removing it would let a third run lock a new inode
                # while a second still waits on the old one. It is emptied, so a finished
                # folder holds the same bytes whichever process wrote it.
                os.ftruncate(entry[0], 0)
                os.close(entry[0])  # also releases the flock


def try_exclusive(path: Path) -> int | None:
    """Open ``path`` (created if missing) and take its exclusive ``flock`` without waiting:
    the descriptor, or None when another process holds it. Closing the descriptor, or the
    holder's death, releases it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
    return fd


def _read_pid(path: Path) -> str:
    try:
        text = path.read_bytes()[:32].decode("ascii", "replace").strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"


# -- temporaries of dead runs ------------------------------------------------
# ".NAME.tmp-PID", ".NAME.tmp-PID.npy" (atomic writers) and ".tmp-NAME-PID" (checkpoints).
_TEMPORARY = re.compile(r"^\..+\.tmp-(\d+)(\.[A-Za-z0-9]+)?$|^\.tmp-.+-(\d+)$")


def clean_stale_temporaries(folder: str | Path, *, recursive: bool = True) -> int:
    """Remove temporary files whose writer's PID is no longer alive; return how many.

    Only regular files are removed (a checkpoint's temporary folder is its own
    module's business). A temporary of a live process, this one included, is kept.
    """
    root = Path(folder)
    if not root.is_dir():
        return 0
    removed = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            match = _TEMPORARY.match(name)
            if match is None:
                continue
            pid = int(match.group(1) or match.group(3))
            path = Path(dirpath) / name
            if _alive(pid) or not path.is_file():
                continue
            try:
                path.unlink()
            except FileNotFoundError:  # another cleaner got there first
                continue
            removed += 1
        if not recursive:
            break  # os.walk yields the top folder first
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except (OverflowError, OSError):  # not a PID this system could have
        return False
    return True
