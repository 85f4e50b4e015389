"""Mix recipes: which documents, in what share, at which point of the token stream.

A recipe names its sources once, then lists phases in order, in the same shape
as the trainer's phase plan (:mod:`alignpt.train.config`), so one vocabulary
describes an experiment from data to model::

    name: alignment-upsampled-late
    seed: 0
    tokenizer: {path: runs/tokenizer}
    sources:
      base:    {stage: runs/filter, max_repetition: 2}     # an earlier stage's output
      aligned: {paths: ["runs/generate/aligned/*.jsonl.zst"], max_repetition: 8}
    phases:
      - name: pretrain
        tokens: 100M
        mix:
          - base                                           # takes the rest
          - {source: aligned, share: 0.01, window: last 10%}
    output: {formats: [native, megatron, parquet]}

A mix entry's budget is ``tokens`` (exact), ``share`` (of the phase), ``epochs``
(a multiple of the source's size) or nothing (the rest of the phase). Placement
is ``window`` (``throughout``, ``last 10%``, ``{start: 0.3, end: 0.5}``: a range of
the phase's token stream) or ``separate: true`` (the source's tokens go to their
own files, for a trainer to schedule as a later stage). ``max_repetition`` caps how
many passes over a source all phases together may make; the plan refuses a
budget a source cannot meet within it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable, Literal, Optional

from pydantic import Field, field_validator, model_validator

from alignpt.core.config import StrictModel, load_config
from alignpt.mix.select import SelectCondition
from alignpt.core.budget import WindowConfig, parse_count

__all__ = ["TokenizerSpec", "SourceSpec", "MixEntry", "PhaseSpec", "OutputSpec", "MixRecipe",
           "load_recipe", "FORMATS"]

FORMATS = ("native", "megatron", "parquet")
_NAME = r"^[A-Za-z0-9_-]+$"


class TokenizerSpec(StrictModel):
    """A local ``tokenizer.json`` (or its folder) and its end-of-document token."""

    path: str
    eos_token: Optional[str] = Field("auto", description="auto: from tokenizer_config.json or "
                                     "common names; null: no EOS between documents")
    split_special_tokens: bool = Field(True, description="special-token text inside a document "
                                       "stays plain text (cannot forge a boundary)")


class SourceSpec(StrictModel):
    """A named corpus: document shards (``paths``: files, folders, globs) or the
    output folder of an earlier stage (``stage``: only the document shards that stage
    published, never its caches, plans, ``excluded/`` or ``quarantine/``; see
    :mod:`alignpt.mix.stages`), with an optional document selection."""

    paths: Optional[list[str]] = None
    stage: Optional[str] = None
    text_field: str = "text"
    id_field: str = "id"
    max_repetition: float = Field(1.0, gt=0, description="most passes over the source, all "
                                  "phases together (1 = never repeat a token)")
    where: Optional[SelectCondition] = Field(None, description="keep only documents matching this")
    exclude: Optional[SelectCondition] = Field(None, description="drop documents matching this")
    attributes: Optional[str] = Field(None, description="folder of parallel attributes shards, "
                                      "joined by document id, read by where / exclude (and "
                                      "by the conditions helper's flag)")

    @field_validator("paths", mode="before")
    @classmethod
    def _one_path(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _check(self) -> "SourceSpec":
        if (self.paths is None) == (self.stage is None):
            raise ValueError("give exactly one of paths or stage")
        if self.paths is not None and not self.paths:
            raise ValueError("paths is empty")
        return self

    @property
    def inputs(self) -> list[str]:
        """Every file or folder the source reads documents or attributes from."""
        return [*(self.paths or [self.stage]), *([self.attributes] if self.attributes else [])]

    def check_selection(self, name: str, files: list[Path], root: Path,
                        conditions: Optional[dict[str, Optional[SelectCondition]]] = None) -> None:
        """Refuse a ``where`` / ``exclude`` (or the named ``conditions``) that reads a field
        no record of the source has, or names a tag label, rule or category its tagger
        never wrote (one line, listing what exists). Reads records only until the fields
        are found: usually one."""
        from alignpt.mix.select import attributes_file, check_selection, source_views
        from alignpt.core.shards import ReadOptions

        read = ReadOptions(self.text_field, self.id_field)
        attr_root = Path(self.attributes) if self.attributes else None
        named = {"where": self.where, "exclude": self.exclude} if conditions is None \
            else conditions
        for key, cond in named.items():
            if cond is None:
                continue
            views = source_views(files, read, lambda f: attributes_file(attr_root, f, root)
                                 if attr_root else None)
            check_selection(f"source {name}: {key}", cond, views,
                            tag_folder=self.attributes or self.stage)

    @property
    def selection(self) -> Optional[SelectCondition]:
        """``where`` and ``not exclude`` folded into one condition (None: keep all)."""
        parts = []
        if self.where is not None:
            parts.append(self.where)
        if self.exclude is not None:
            parts.append(SelectCondition.model_validate({"not": self.exclude.model_dump(
                by_alias=True, exclude_none=True)}))
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else SelectCondition.model_validate(
            {"all": [p.model_dump(by_alias=True, exclude_none=True) for p in parts]})


class MixEntry(StrictModel):
    """One source in one phase: its budget and where its tokens go."""

    source: str
    tokens: Optional[int] = Field(None, ge=1)
    share: Optional[float] = Field(None, gt=0.0, le=1.0)
    epochs: Optional[float] = Field(None, gt=0.0)
    window: WindowConfig = Field(default_factory=WindowConfig)
    separate: bool = Field(False, description="write this source to its own files")

    @field_validator("tokens", mode="before")
    @classmethod
    def _count(cls, v: Any) -> Any:
        return None if v is None else parse_count(v)

    @model_validator(mode="after")
    def _check(self) -> "MixEntry":
        given = [k for k in ("tokens", "share", "epochs") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"{self.source}: give one of tokens, share, epochs (got "
                             f"{', '.join(given)})")
        if self.separate and not self.window.full:
            raise ValueError(f"{self.source}: a separate source has no window in the stream")
        return self

    @property
    def is_rest(self) -> bool:
        return self.tokens is None and self.share is None and self.epochs is None


class PhaseSpec(StrictModel):
    name: str = Field(pattern=_NAME)
    tokens: Optional[int] = Field(None, ge=1, description="phase total; None: the sum of the "
                                  "entries' budgets")
    mix: list[MixEntry] = Field(min_length=1)

    @field_validator("tokens", mode="before")
    @classmethod
    def _count(cls, v: Any) -> Any:
        return None if v is None else parse_count(v)

    @field_validator("mix", mode="before")
    @classmethod
    def _short(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [{"source": x} if isinstance(x, str) else x for x in v]
        return v

    @model_validator(mode="after")
    def _check(self) -> "PhaseSpec":
        names = [m.source for m in self.mix]
        if len(set(names)) != len(names):
            raise ValueError(f"phase {self.name}: a source appears twice in mix")
        rest = [m.source for m in self.mix if m.is_rest]
        if len(rest) > 1:
            raise ValueError(f"phase {self.name}: only one source may go without a budget (it "
                             f"takes the rest); {', '.join(rest)} do")
        if rest and self.tokens is None:
            raise ValueError(f"phase {self.name}: a source that takes the rest needs the phase's "
                             "tokens")
        return self


class OutputSpec(StrictModel):
    formats: list[Literal["native", "megatron", "parquet"]] = Field(
        default_factory=lambda: ["native"], min_length=1)
    # A part's document index (~64 bytes a document) is held until the part closes,
    # so this also bounds the mixer's memory.
    max_tokens_per_file: int = Field(250_000_000, ge=1, description="parts roll over at a "
                                     "document boundary past this many tokens")
    chunk_tokens: int = Field(1 << 20, ge=1024, description="tokens gathered per write "
                              "(bounds memory; does not change the output)")

    @field_validator("max_tokens_per_file", "chunk_tokens", mode="before")
    @classmethod
    def _count(cls, v: Any) -> Any:
        return parse_count(v)

    @field_validator("formats")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))


class MixRecipe(StrictModel):
    name: str = Field("mix", pattern=_NAME)
    seed: int = 0
    tokenizer: TokenizerSpec
    sources: dict[str, SourceSpec] = Field(min_length=1)
    phases: list[PhaseSpec] = Field(min_length=1)
    output: OutputSpec = Field(default_factory=OutputSpec)

    @model_validator(mode="after")
    def _check(self) -> "MixRecipe":
        for name in self.sources:
            if not re.fullmatch(_NAME[1:-1], name):
                raise ValueError(f"source name {name!r}: use letters, digits, _ and -")
        phases = [p.name for p in self.phases]
        if len(set(phases)) != len(phases):
            raise ValueError("phase names must be distinct")
        used = set()
        for phase in self.phases:
            for m in phase.mix:
                if m.source not in self.sources:
                    raise ValueError(f"phase {phase.name}: unknown source {m.source!r} (sources: "
                                     f"{', '.join(self.sources)})")
                used.add(m.source)
        unused = [s for s in self.sources if s not in used]
        if unused:
            raise ValueError(f"source {unused[0]!r} is not used by any phase")
        return self


def load_recipe(path: str | Path | None, overrides: Iterable[str] = (),
                data: dict[str, Any] | None = None) -> MixRecipe:
    """Load a recipe from YAML (or a dict) with ``a.b=c`` overrides; errors name the key."""
    if data is not None:
        from alignpt.core.config import build_config

        return build_config(MixRecipe, data, overrides, source=str(path) if path else None)
    return load_config(MixRecipe, path, overrides)
