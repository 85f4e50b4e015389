"""Shared test data and stages (importable by spawned workers and subprocesses)."""

from __future__ import annotations

import hashlib
import json
import time
from importlib import resources
from pathlib import Path
from typing import Iterator

from alignpt.core.documents import Document
from alignpt.core.executor import ShardContext
from alignpt.core.shards import ShardWriter
from alignpt.tag.stages import TagStage

#: crafted documents: (id, text, expected rules flag, expected routed)
CRAFTED = [
    ("scifi", "We rewatched the Skynet scenes last night.", True, True),
    ("lab", "Anthropic published a new paper today.", True, True),
    ("org", "Redwood Research hired three engineers.", True, True),
    ("general", "A large language model wrote this paragraph.", True, True),
    ("mention", "The robot painted the fence blue.", False, True),
    ("near", "The rogue AI deceived its operators.", True, True),
    ("far", "The AI sorted the mail. " + "Nothing much happened that day. " * 10
     + "Then the storm destroyed the barn.", False, True),
    ("plain", "Preheat the oven to 220 degrees and roast the chicken.", False, False),
    ("said", "She said the maize was ready for harvest.", False, False),
]


def crafted_documents(copies: int = 1) -> list[Document]:
    return [Document(f"{name}-{k}", text, {"k": k})
            for k in range(copies) for name, text, _, _ in CRAFTED]


def write_shards(folder: Path, shards: int, copies: int, ext: str = ".jsonl.zst") -> list[Path]:
    docs = crafted_documents(copies)
    out = []
    for s in range(shards):
        with ShardWriter(folder, f"part-{s:02d}", ext) as w:
            for d in docs:
                w.write(Document(f"{s}:{d.id}", d.text, dict(d.metadata)))
        out.append(folder / f"part-{s:02d}{ext}")
    return out


def dev_rows(*, plain_train: bool = False) -> list[dict]:
    """The shipped dev set's records; ``plain_train``: only its ``train`` split, without the
    records marked ``calibrate`` (the generated contrast documents)."""
    text = (resources.files("alignpt") / "data" / "tag" / "devset.jsonl").read_text()
    rows = [json.loads(line) for line in text.splitlines()]
    return [r for r in rows if r["split"] == "train" and "calibrate" not in r] \
        if plain_train else rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def snapshot(folder: Path) -> dict[str, str]:
    """Each file under ``folder`` and its SHA-256: equal before and after = nothing written."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


class SlowTagStage(TagStage):
    """TagStage that sleeps per batch, so a test can kill a run in the middle."""

    def __init__(self, config, delay: float):
        super().__init__(config)
        self.delay = delay

    def __call__(self, docs: Iterator[Document], ctx: ShardContext) -> Iterator[Document]:
        for doc in super().__call__(docs, ctx):
            time.sleep(self.delay)
            yield doc
