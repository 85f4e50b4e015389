"""The datatrove adapter inside a datatrove LocalPipelineExecutor (spawned workers)."""

from __future__ import annotations

import gzip
import json

import pytest

pytest.importorskip("datatrove")

from datatrove.executor import LocalPipelineExecutor  # noqa: E402
from datatrove.pipeline.readers import JsonlReader  # noqa: E402
from datatrove.pipeline.writers import JsonlWriter  # noqa: E402

from alignpt.tag.datatrove_adapter import AlignptTagFilter, AlignptTagger  # noqa: E402

from .helpers import CRAFTED  # noqa: E402


def test_tagger_and_filter_in_a_local_executor(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for shard in range(2):
        with open(src / f"s{shard}.jsonl", "w") as fh:
            for name, text, _, _ in CRAFTED:
                fh.write(json.dumps({"id": f"{shard}-{name}", "text": text}) + "\n")
    pipeline = [
        JsonlReader(str(src)),
        AlignptTagger({"classifier": {"enabled": False}, "rules": {"engine": "re2"}}),
        AlignptTagFilter(drop=["rules.flagged"],
                         exclusion_writer=JsonlWriter(str(tmp_path / "dropped"))),
        JsonlWriter(str(tmp_path / "kept")),
    ]
    LocalPipelineExecutor(pipeline, tasks=2, workers=2, start_method="spawn",
                          logging_dir=str(tmp_path / "logs")).run()

    def read(folder):
        rows = []
        for path in sorted((tmp_path / folder).glob("*.jsonl.gz")):
            with gzip.open(path, "rt") as fh:
                rows.extend(json.loads(line) for line in fh)
        return rows

    kept, dropped = read("kept"), read("dropped")
    assert len(kept) + len(dropped) == 2 * len(CRAFTED)
    expect_dropped = {f"{s}-{n}" for s in range(2) for n, _, f, _ in CRAFTED if f}
    assert {r["id"] for r in dropped} == expect_dropped
    assert all(not r["metadata"]["alignpt_tag"]["rules"]["flagged"] for r in kept)
    assert len(list((tmp_path / "logs" / "completions").iterdir())) == 2
