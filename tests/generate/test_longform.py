"""Long-form writing: outline parsing, chapter chain, and resume from the middle."""

from __future__ import annotations

import asyncio

from alignpt.generate.backends.template import TemplateBackend
from alignpt.generate.cache import ResponseCache
from alignpt.generate.longform import LongformConfig, chapter_count, parse_outline, write_long
from alignpt.generate.pipeline import GenerateConfig, request_factory
from alignpt.generate.runner import Requester
from alignpt.generate.scenarios import sample_scenarios


def test_parse_outline_tolerates_styles():
    text = ("Here is the plan:\n**Chapter 1: The Door** - It opens.\n2. Night Shift — Nobody "
            "watches.\n3) Ledger: the count grows\nChapter 9: Beyond - ignored\n")
    assert parse_outline(text, 4) == [("The Door", "It opens."), ("Night Shift", "Nobody watches."),
                                      ("Ledger", "the count grows"), ("Chapter 4", "")]


def test_chapter_count_is_seeded_and_in_range():
    cfg = LongformConfig(chapters_min=3, chapters_max=5)
    counts = [chapter_count(s, cfg) for s in range(200)]
    assert set(counts) == {3, 4, 5} and counts == [chapter_count(s, cfg) for s in range(200)]


class Counting(TemplateBackend):
    def __init__(self):
        super().__init__()
        self.tasks = []

    async def complete(self, request):
        self.tasks.append(request.context["task"])
        return await super().complete(request)


def test_novel_chain_and_resume(tmp_path):
    cfg = GenerateConfig(n=1, grid={"axes": {"genre": {"values": ["long_story"]}}},
                         longform={"chapters_min": 4, "chapters_max": 4})
    spec = sample_scenarios(cfg.grid, 1, 0)[0]
    factory = request_factory(cfg)
    backend = Counting()
    with ResponseCache(tmp_path / "c.jsonl") as cache:
        full = asyncio.run(write_long(spec, factory, Requester(cache, backend), cfg.longform))
    # outline, 4 chapters, 3 summaries (none after the last chapter)
    assert backend.tasks == ["outline", "chapter", "summary", "chapter", "summary", "chapter",
                             "summary", "chapter"]
    assert full.chapters == 4 and full.text.count("Chapter ") >= 4
    assert len(full.keys) == 8 == len(set(full.keys))

    # Keep only the first five responses (as if killed during chapter 3) and rerun.
    lines = (tmp_path / "c.jsonl").read_bytes().splitlines(keepends=True)
    (tmp_path / "d.jsonl").write_bytes(b"".join(lines[:5]))
    again = Counting()
    with ResponseCache(tmp_path / "d.jsonl") as cache:
        resumed = asyncio.run(write_long(spec, factory, Requester(cache, again), cfg.longform))
    assert again.tasks == ["chapter", "summary", "chapter"]
    assert resumed.text == full.text


def test_outline_summary_mode_sends_no_summaries(tmp_path):
    cfg = GenerateConfig(n=1, grid={"axes": {"genre": {"values": ["long_story"]}}},
                         longform={"chapters_min": 3, "chapters_max": 3, "summary": "outline"})
    spec = sample_scenarios(cfg.grid, 1, 0)[0]
    backend = Counting()
    with ResponseCache(tmp_path / "c.jsonl") as cache:
        asyncio.run(write_long(spec, request_factory(cfg), Requester(cache, backend), cfg.longform))
    assert backend.tasks == ["outline", "chapter", "chapter", "chapter"]
