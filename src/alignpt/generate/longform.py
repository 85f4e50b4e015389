"""Novel-length documents: outline, then chapters, each written against a running summary.

No model writes a coherent 20,000-word story in one response, and feeding every earlier
chapter back in grows the prompt without bound. The standard remedy (plan, then write
section by section with a compressed memory) is what this module does:

1. one request plans ``n`` chapters ("Chapter N: Title - what happens");
2. chapter ``k`` is written from the brief, the whole outline and the summary so far;
3. after each chapter but the last, the summary is updated either by the model (a short
   request folding the new chapter into the summary) or, with ``summary: outline``, by
   concatenating the outline lines of the chapters written (no extra requests).

Every step is an ordinary cached request, and each depends only on earlier responses, so
a run killed in chapter 7 resumes at chapter 7: chapters 1-6 come back from the cache.
The chapter count is drawn from the spec's own seed, so it never changes between runs.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field

from alignpt.core.config import StrictModel
from alignpt.core.errors import ConfigError

__all__ = ["LongformConfig", "LongResult", "parse_outline", "chapter_count", "write_long"]


class LongformConfig(StrictModel):
    chapters_min: int = 6
    chapters_max: int = 12
    summary: Literal["model", "outline"] = "model"
    #: tokens allowed for an outline and for a summary (chapters use the length axis)
    outline_max_tokens: int = Field(1200, ge=1)
    summary_max_tokens: int = Field(500, ge=1)

    def model_post_init(self, _: Any) -> None:
        if not 1 <= self.chapters_min <= self.chapters_max:
            raise ConfigError("longform: need 1 <= chapters_min <= chapters_max")


@dataclass
class LongResult:
    text: str
    chapters: int
    keys: list[str] = field(default_factory=list)
    finish_reasons: list[str | None] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


_LINE = re.compile(r"^\W*(?:chapter\s+)?(\d{1,3})\s*[:.)\]-]\s*(.+?)\s*$", re.IGNORECASE)
_SPLIT = re.compile(r"\s+[-–—]\s+|:\s+")


def parse_outline(text: str, n: int) -> list[tuple[str, str]]:
    """``n`` (title, beat) pairs from an outline; missing chapters get a plain title.

    Tolerant of numbering styles ("Chapter 3:", "3.", "3)") and of markdown bold; lines
    that do not start with a chapter number are ignored, and so are numbers beyond ``n``.
    """
    found: dict[int, tuple[str, str]] = {}
    for raw in text.splitlines():
        m = _LINE.match(raw.replace("*", "").replace("#", "").strip())
        if not m:
            continue
        k = int(m.group(1))
        if 1 <= k <= n and k not in found:
            parts = _SPLIT.split(m.group(2), maxsplit=1)
            title = parts[0].strip().strip('"“”') or f"Chapter {k}"
            found[k] = (title, parts[1].strip() if len(parts) > 1 else "")
    return [found.get(k, (f"Chapter {k}", "")) for k in range(1, n + 1)]


def chapter_count(spec_seed: int, cfg: LongformConfig) -> int:
    return random.Random(f"{spec_seed}:chapters").randint(cfg.chapters_min, cfg.chapters_max)


async def write_long(spec: Any, factory: Any, requester: Any, cfg: LongformConfig) -> LongResult:
    """Write one novel through ``requester`` (cache first, then the backend)."""
    n = chapter_count(spec.seed, cfg)
    result = LongResult("", n)

    async def ask(request):
        c = await requester.complete(request)
        result.keys.append(request.key)
        result.finish_reasons.append(c.finish_reason)
        result.prompt_tokens += c.prompt_tokens
        result.completion_tokens += c.completion_tokens
        result.cost_usd += c.cost_usd
        return c.text

    outline = (await ask(factory.outline(spec, n))).strip()
    plan = parse_outline(outline, n)
    summary, chapters = "", []
    for k, (title, beat) in enumerate(plan, start=1):
        text = (await ask(factory.chapter(spec, k, n, title, outline, summary))).strip()
        chapters.append(text)
        if k == n:
            break
        if cfg.summary == "model":
            summary = (await ask(factory.summary(spec, summary, text))).strip()
        else:
            summary = "\n".join(f"Chapter {i}: {t} - {b}".rstrip(" -")
                                for i, (t, b) in enumerate(plan[:k], start=1))
    result.text = "\n\n".join(chapters)
    return result
