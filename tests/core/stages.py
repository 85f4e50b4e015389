"""Stages used by the executor tests (importable, so spawned workers can unpickle them)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

from alignpt.core.documents import Document
from alignpt.core.executor import ShardContext

ROOT = Path(__file__).resolve().parents[2]


class DropShort:
    """Keeps documents with at least ``min_chars`` characters; counts words."""

    def __init__(self, min_chars: int):
        self.min_chars = min_chars

    def __call__(self, docs: Iterator[Document], ctx: ShardContext) -> Iterator[Document]:
        for doc in docs:
            ctx.count("words", len(doc.text.split()))
            if len(doc.text) < self.min_chars:
                ctx.drop(doc, "too_short")
                continue
            yield doc


class FailOn:
    """Raises on a chosen document id (to test that failed tasks publish nothing)."""

    def __init__(self, doc_id: str):
        self.doc_id = doc_id

    def __call__(self, docs: Iterator[Document], ctx: ShardContext) -> Iterator[Document]:
        for doc in docs:
            if doc.id == self.doc_id:
                raise RuntimeError(f"injected failure on {doc.id}")
            yield doc


class WaitForFile:
    """Holds every task open until ``release`` exists; each worker first leaves a file
    named by its PID in ``started`` (so a test knows it is running, and where)."""

    def __init__(self, release: str, started: str):
        self.release, self.started = release, started

    def __call__(self, docs: Iterator[Document], ctx: ShardContext) -> Iterator[Document]:
        Path(self.started, str(os.getpid())).touch()
        while not Path(self.release).exists():
            time.sleep(0.02)
        yield from docs


def start_blocked_run(tmp_path: Path, out: Path,
                      workers: int = 1) -> tuple[subprocess.Popen, Path]:
    """Start a real second process running :class:`WaitForFile` into ``out``; return it and
    the release file once its ``workers`` have started."""
    release, started = tmp_path / "release", tmp_path / "started"
    started.mkdir()
    code = ("import sys\nfrom alignpt.core.executor import OutputSpec, run_stage\n"
            "from tests.core.stages import WaitForFile\n"
            "run_stage(WaitForFile(sys.argv[3], sys.argv[4]), [sys.argv[1]], "
            "OutputSpec(sys.argv[2]), workers=int(sys.argv[5]), progress=False)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "in"), str(out),
                             str(release), str(started), str(workers)], cwd=ROOT)
    deadline = time.monotonic() + 120
    while len(list(started.iterdir())) < workers and proc.poll() is None:
        assert time.monotonic() < deadline, "the blocked run never started"
        time.sleep(0.02)
    return proc, release
