"""``alignpt filter``: drop tagged documents by a condition, optionally refill and leak.

Reads the output folder of ``alignpt tag`` (attributes shards line-aligned
with the original inputs, or documents tagged inline) and writes::

    OUT/<shard>.EXT                  kept documents, one shard per input shard
    OUT/excluded/<shard>.jsonl.zst   dropped documents, metadata.drop_reason = the condition
    OUT/refill/<shard>.EXT           (--refill) resampled copies of kept documents
    OUT/filter_summary.json          tokens in / kept / dropped / refilled, leak, seed

* **Refill** restores the original token count exactly (see
  :mod:`alignpt.tag.refill`): copies get ids ``ID#refillN`` and
  ``metadata.refill = {source_id, copy, truncated_to_tokens}``.
* **Leak** keeps ``round(fraction * matched)`` of the matching documents
  (exactly that many, chosen by seed) to study what a filter that misses some
  documents does; they stay in the kept shards with ``metadata.filter.leaked``.

Every pass runs on the executor, so it is parallel and resumable; the random
choices depend only on the seed and the data, not on the number of workers.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterator, Literal

import numpy as np
import orjson
import yaml
from pydantic import Field

from alignpt.core.atomic import atomic_path, atomic_write_text, stable_hash
from alignpt.core.config import StrictModel
from alignpt.core.documents import Document
from alignpt.core.errors import DataError
from alignpt.core.executor import (OutputSpec, ShardContext, ShardTask, expand_inputs, plan_tasks,
                                   run_stage)
from alignpt.core.outdir import OutputLock, check_output_apart
from alignpt.core.shards import ReadOptions, read_documents, strip_format_suffix
from alignpt.tag.conditions import TagCondition, first_match, parse_condition
from alignpt.tag.refill import TokenCounter, make_counter, plan_refill
from alignpt.tag.vocabulary import TagVocabulary

__all__ = ["FilterConfig", "FilterStage", "RefillStage", "run_filter", "TagRun"]

TOKENS_DIR = ".alignpt/filter-tokens"
SELECT_DIR = ".alignpt/filter-select"


class FilterConfig(StrictModel):
    drop: list[str] = Field(default_factory=lambda: ["flagged"], min_length=1)
    refill: bool = False
    tokenizer: str | None = Field(None, description="tokenizer.json; null = whitespace tokens")
    leak_fraction: float = Field(0.0, ge=0.0, le=1.0)
    seed: int = 0
    format: str | None = Field(None, description="output format; null = same as the input")
    workers: int = Field(1, ge=1)
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = None


class TagRun:
    """What ``alignpt filter`` needs from a tag output folder (its ``config.yaml``)."""

    def __init__(self, tag_dir: str | Path):
        self.dir = Path(tag_dir)
        try:
            doc = yaml.safe_load((self.dir / "config.yaml").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError("not an alignpt tag output folder (no config.yaml)", str(tag_dir)) \
                from None
        cfg = doc.get("config") or {}
        if doc.get("stage") != "TagStage":
            raise DataError("config.yaml was not written by alignpt tag", str(tag_dir))
        self.inputs: list[str] = list(doc.get("inputs") or [])
        self.mode: str = cfg.get("output", "attributes")
        self.field: str = cfg.get("field", "tag")
        self.read = ReadOptions(cfg.get("text_field", "text"), cfg.get("id_field", "id"),
                                cfg.get("on_error", "fail"))

    def documents(self) -> list[str]:
        """The shards holding the documents: the originals, or the inline-tagged copies
        (not the raw records tag quarantined: they are not documents)."""
        if self.mode == "attributes":
            return self.inputs
        quarantine = (self.dir / "quarantine").resolve()
        return [str(p) for p in expand_inputs([self.dir])
                if quarantine not in p.resolve().parents]

    def attributes_path(self, task: ShardTask) -> Path:
        return self.dir / f"{task.name}.jsonl.zst"

    def attributes_for(self, task: ShardTask) -> Iterator[Document] | None:
        """The attributes rows of one task's shard, in order; None when tags are inline.

        A shard without a document (blank, or every record skipped) has no
        attributes shard: tag writes none for it. A missing one is an error
        only when the shard has a document to pair with it.
        """
        if self.mode != "attributes":
            return None
        path = self.attributes_path(task)
        if path.exists():
            return read_documents(path, ReadOptions(self.read.text_field, self.read.id_field))
        if next(read_documents(task.inputs[0], self.read), None) is None:
            return iter(())
        raise DataError(f"no attributes for shard '{task.name}' (did alignpt tag finish? "
                        "rerun it to complete)", str(path))

    def records(self, task: ShardTask) -> Iterator[dict[str, Any] | None]:
        """The tag record of each document of one task, in order."""
        rows = self.attributes_for(task)
        if rows is None:
            rows = read_documents(task.inputs[0], self.read)
        return (row.metadata.get(self.field) for row in rows)

    def pairs(self, task: ShardTask, docs: Iterator[Document],
              ) -> Iterator[tuple[Document, dict[str, Any] | None]]:
        """Each of ``docs`` (the task's shard) with its tag record; see :func:`_records`."""
        return _records(docs, self.attributes_for(task), self.field,
                        str(self.attributes_path(task)))

    def vocabulary(self, tasks: list[ShardTask]) -> TagVocabulary:
        """The names the tagger knew (old folders: rebuilt, see :class:`TagVocabulary`)."""
        def first_record() -> dict[str, Any] | None:
            return next((r for t in tasks for r in self.records(t)), None)

        return TagVocabulary.load(self.dir, first_record)


def _records(docs: Iterator[Document], attrs: Iterator[Document] | None, field: str,
             where: str) -> Iterator[tuple[Document, dict[str, Any] | None]]:
    """Pair each document with its tag record, checking the attributes stay aligned."""
    if attrs is None:
        for doc in docs:
            yield doc, doc.metadata.get(field)
        return
    for doc in docs:
        row = next(attrs, None)
        if row is None or row.id != doc.id:
            found = "end of file" if row is None else f"id {row.id!r}"
            raise DataError(f"attributes out of step with the documents: expected id "
                            f"{doc.id!r}, found {found}", where)
        yield doc, row.metadata.get(field)
    if next(attrs, None) is not None:
        raise DataError("attributes shard has more rows than its input shard", where)


def _atomic_npy(path: Path, array: np.ndarray) -> None:
    # a file handle, not a path: np.save would add ".npy" to the temporary's name
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array)


#: Counter prefixes of what a dropped document was: the tagger's predicted label, its
#: label of highest probability, and each rule category that matched in it (a document
#: can count in several categories).
BY_LABEL, BY_CATEGORY = "filter/dropped_label/", "filter/dropped_category/"
BY_TOP_LABEL = "filter/dropped_top_label/"


def most_probable_label(rec: dict[str, Any] | None) -> str:
    """The label of highest calibrated probability of a tag record (ties: the first
    listed), else its ``label``, else ``unlabelled``. With a recall-tuned threshold every
    flagged document is *labelled* ``ai_misaligned``; this says what the tagger thought
    it most likely was (aligned and neutral documents a low threshold takes show here)."""
    rec = rec or {}
    probs = rec.get("probs")
    if isinstance(probs, dict) and probs:
        return max(probs, key=lambda k: probs[k])
    label = rec.get("label")
    return label if isinstance(label, str) else "unlabelled"


def _what_it_is(rec: dict[str, Any] | None) -> tuple[str, list[str]]:
    """(predicted label, matched rule categories) of a tag record, cascade or rules-only;
    ``unlabelled`` where the classifier did not run (rules only, or a document the rules
    did not route)."""
    rec = rec or {}
    # a cascade record nests the rules' record under "rules"; a rules-only record is one
    # (its own "rules" holds the fired rules, no categories)
    nested = rec.get("rules")
    rules = nested if isinstance(nested, dict) and "categories" in nested else rec
    cats = rules.get("categories")
    label = rec.get("label")
    return (label if isinstance(label, str) else "unlabelled",
            sorted(c for c, n in (cats or {}).items() if n))


def _counted(counters: dict[str, int], prefix: str) -> dict[str, int]:
    return {k[len(prefix):]: v for k, v in sorted(counters.items()) if k.startswith(prefix)}


def _side_name(task_name: str) -> str:
    return task_name.replace("/", "__") + ".npy"


class FilterStage:
    """Drop matching documents (with the condition as reason); keep a seeded leak set."""

    def __init__(self, conditions: list[TagCondition], run: TagRun, counter: TokenCounter,
                 out_dir: str, leak: bool):
        self.conditions, self.run, self.counter = conditions, run, counter
        self.out_dir, self.leak = out_dir, leak

    def __call__(self, docs: Iterator[Document], ctx: ShardContext) -> Iterator[Document]:
        out = Path(self.out_dir)
        side = _side_name(ctx.task.name)
        leaked: set[int] = set()
        if self.leak:
            leaked = set(np.load(out / SELECT_DIR / f"leak-{side}").tolist())
        lengths: list[int] = []
        matched = 0
        empty = True
        for doc, rec in self.run.pairs(ctx.task, docs):
            empty = False
            n = self.counter.count(doc.text)
            ctx.count("filter/tokens_in", n)
            reason = first_match(self.conditions, rec)
            if reason is not None:
                ctx.count("filter/matched")
                is_leak = matched in leaked
                matched += 1
                if not is_leak:
                    ctx.count("filter/tokens_dropped", n)
                    label, categories = _what_it_is(rec)
                    ctx.count(f"{BY_LABEL}{label}")
                    ctx.count(f"{BY_TOP_LABEL}{most_probable_label(rec)}")
                    for cat in categories:
                        ctx.count(f"{BY_CATEGORY}{cat}")
                    ctx.drop(doc, reason)
                    continue
                ctx.count("filter/leaked")
                doc.metadata["filter"] = {"leaked": True, "reason": reason}
            ctx.count("filter/tokens_kept", n)
            lengths.append(n)
            yield doc
        if empty:
            ctx.count("filter/empty_shards")
        _atomic_npy(out / TOKENS_DIR / side, np.asarray(lengths, dtype=np.int64))


class RefillStage:
    """Emit the planned copies of kept documents (one kept shard per task)."""

    def __init__(self, filter_dir: str, counter: TokenCounter, plan_digest: str):
        self.filter_dir, self.counter, self.plan_digest = filter_dir, counter, plan_digest

    def __call__(self, docs: Iterator[Document], ctx: ShardContext) -> Iterator[Document]:
        root = Path(self.filter_dir)
        name = strip_format_suffix(str(Path(ctx.task.inputs[0]).resolve().relative_to(
            root.resolve())))
        sel = np.load(root / SELECT_DIR / f"refill-{_side_name(name)}")
        copies = dict(zip(sel[0].tolist(), sel[1].tolist()))
        partial_at, partial_n = int(sel[2][0]), int(sel[2][1])
        for i, doc in enumerate(docs):
            full = copies.get(i, 0)
            for c in range(full):
                yield self._copy(doc, c, None, ctx)
            if i == partial_at:
                yield self._copy(doc, full, partial_n, ctx)
            ctx.count("refill/documents", full + (i == partial_at))

    def _copy(self, doc: Document, c: int, truncate: int | None, ctx: ShardContext) -> Document:
        text = doc.text if truncate is None else self.counter.truncate(doc.text, truncate)
        ctx.count("refill/tokens", self.counter.count(text))
        meta = {k: v for k, v in doc.metadata.items() if k != "refill"}
        meta["refill"] = {"source_id": doc.id, "copy": c, "truncated_to_tokens": truncate}
        return Document(f"{doc.id}#refill{c}", text, meta)


def _leak_selection(run: TagRun, tasks, conditions: list[TagCondition], fraction: float,
                    seed: int, out: Path) -> None:
    """Count matching documents per task, then choose exactly round(fraction * total)."""
    counts: dict[str, int] = {}
    for task in tasks:
        counts[task.name] = sum(first_match(conditions, rec) is not None
                                for rec in run.records(task))
    total = sum(counts.values())
    k = math.floor(fraction * total + 0.5)
    chosen = np.sort(np.random.default_rng([seed, 1]).choice(total, size=k, replace=False))
    start = 0
    for task in tasks:
        n = counts[task.name]
        mine = chosen[(chosen >= start) & (chosen < start + n)] - start
        _atomic_npy(out / SELECT_DIR / f"leak-{_side_name(task.name)}", mine.astype(np.int64))
        start += n


def run_filter(tag_dir: str | Path, out_dir: str | Path, config: FilterConfig | None = None,
               *, progress: bool = True) -> dict[str, Any]:
    """Filter a tagged corpus into ``out_dir``; returns the summary also written to disk."""
    cfg = config or FilterConfig()
    conditions = [parse_condition(c) for c in cfg.drop]
    run = TagRun(tag_dir)
    out = Path(out_dir)
    check_output_apart(out, [run.dir], what="tag folder")
    check_output_apart(out, run.inputs)
    counter = make_counter(cfg.tokenizer)
    paths = expand_inputs(run.documents())
    tasks = plan_tasks(paths)
    if any(c.names() for c in conditions):
        vocabulary = run.vocabulary(tasks)
        for cond in conditions:
            vocabulary.check(cond)
    out.mkdir(parents=True, exist_ok=True)
    # one lock across both stages and the selection files written between them
    with OutputLock(out):
        return _filter(run, out, cfg, conditions, counter, paths, tasks, progress)


def _filter(run: TagRun, out: Path, cfg: FilterConfig, conditions: list[TagCondition],
            counter: TokenCounter, paths: list[Path], tasks: list[ShardTask],
            progress: bool) -> dict[str, Any]:
    if cfg.leak_fraction > 0:
        # writes the seeded selection the stage reads; the summary counts from the stage
        _leak_selection(run, tasks, conditions, cfg.leak_fraction, cfg.seed, out)
    stage = FilterStage(conditions, run, counter, str(out), cfg.leak_fraction > 0)
    body = {**cfg.model_dump(mode="json"), "tag_dir": str(run.dir.resolve()),
            "counter": counter.name}
    first = run_stage(stage, [str(p) for p in paths],
                      OutputSpec(str(out), fmt=cfg.format, write_exclusions=True),
                      config=body, read=run.read, workers=cfg.workers, executor=cfg.executor,
                      ray_address=cfg.ray_address, progress=progress, description="filter")
    c = first.stats["counters"]
    summary: dict[str, Any] = {
        "documents_in": first.stats["documents_in"], "documents_kept": first.stats["documents_out"],
        "dropped": first.stats["dropped"], "tokens_in": c.get("filter/tokens_in", 0),
        "tokens_kept": c.get("filter/tokens_kept", 0),
        "tokens_dropped": c.get("filter/tokens_dropped", 0), "token_counter": counter.name,
        "matched": c.get("filter/matched", 0), "leaked": c.get("filter/leaked", 0),
        "empty_shards": c.get("filter/empty_shards", 0),
        # what was removed: by the tagger's predicted label and by matched rule category
        "dropped_by_label": _counted(c, BY_LABEL),
        "dropped_by_most_probable_label": _counted(c, BY_TOP_LABEL),
        "dropped_by_category": _counted(c, BY_CATEGORY),
        "leak_fraction": cfg.leak_fraction, "seed": cfg.seed, "refill": None}
    if cfg.refill:
        kept = [o for o in first.outputs if not o.startswith("excluded/")]
        summary["refill"] = _refill(out, tasks, kept, summary, cfg, counter, run, progress)
        summary["tokens_out"] = summary["tokens_kept"] + summary["refill"]["tokens"]
    atomic_write_text(out / "filter_summary.json",
                      orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode() + "\n")
    return summary


def _refill(out: Path, tasks, kept_outputs: list[str], summary: dict[str, Any],
            cfg: FilterConfig, counter: TokenCounter, run: TagRun,
            progress: bool) -> dict[str, Any]:
    """Plan the copies in the driver, then write them with the executor (resumable)."""
    lengths = {t.name: np.load(out / TOKENS_DIR / _side_name(t.name)) for t in tasks}
    deficit = summary["tokens_in"] - summary["tokens_kept"]
    plan = plan_refill(lengths, deficit, cfg.seed)
    by_task = {strip_format_suffix(o): o for o in kept_outputs}
    inputs = []
    for t in tasks:
        sel = plan.selections.get(t.name, {})
        partial = plan.partial if plan.partial and plan.partial[0] == t.name else None
        if not sel and partial is None:
            continue
        # One int64 table per shard: row 0 local indices, row 1 copies,
        # row 2 = (local index, tokens) of the truncated draw or (-1, 0).
        table = np.full((3, max(len(sel), 2)), -1, dtype=np.int64)
        table[0, :len(sel)] = list(sel)
        table[1] = 0
        table[1, :len(sel)] = list(sel.values())
        table[2, :2] = [partial[1], partial[2]] if partial else [-1, 0]
        _atomic_npy(out / SELECT_DIR / f"refill-{_side_name(t.name)}", table)
        inputs.append(str(out / by_task[t.name]))
    digest = stable_hash(plan.summary(), 16)
    result: dict[str, Any] = {**plan.summary(), "plan_sha256": digest, "documents": 0,
                              "tokens": 0}
    if inputs:
        res = run_stage(RefillStage(str(out), counter, digest), inputs,
                        OutputSpec(str(out / "refill"), fmt=cfg.format),
                        config={"plan": digest, "counter": counter.name},
                        read=run.read, workers=cfg.workers, executor=cfg.executor,
                        ray_address=cfg.ray_address, progress=progress, description="refill")
        result["documents"] = res.stats["documents_out"]
        result["tokens"] = res.stats["counters"].get("refill/tokens", 0)
    return result
