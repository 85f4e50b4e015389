"""Executor stage and driver for ``alignpt tag``: one attributes shard per input shard.

In ``attributes`` mode (the default) the stage yields, for every input
document and in the same order, a record ``{"id": ..., "text": "", "metadata":
{"tag": {...}}}``; the executor writes them to ``OUT/<shard>.jsonl.zst`` with
its usual atomic publish, completion marker and resume. The documents are not
rewritten: the attributes shard is line-aligned with its input, like dolma's
``attributes/`` tree. In ``inline`` mode the documents themselves are written
with the record added under ``metadata["tag"]``.

Counters (merged into ``OUT/stats.json``) feed ``alignpt tag review``:
``tag/documents``, ``tag/rules_flagged``, ``tag/routed``, ``tag/flagged``,
``tag/rule/<name>``, ``tag/category/<name>`` (documents with a hit),
``tag/term/<category>/<term>`` (hits), ``tag/label/<label>``, ``tag/stage/<stage>``,
``tag/empty_shards`` (input shards without a document: they have no attributes shard).

The names the run can write (labels, rules, categories) go to
``OUT/.alignpt/tagger.json``, against which ``alignpt filter`` checks its conditions.
"""

from __future__ import annotations

from collections import Counter
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import Any, Iterator, Sequence

from alignpt.core.documents import Document
from alignpt.core.executor import OutputSpec, ShardContext, StageResult, run_stage
from alignpt.core.outdir import OutputLock, check_output_apart
from alignpt.core.shards import ReadOptions
from alignpt.tag.cascade import Cascade, TagConfig
from alignpt.tag.vocabulary import TagVocabulary

__all__ = ["TagStage", "run_tag", "ATTRIBUTES_FORMAT"]

ATTRIBUTES_FORMAT = ".jsonl.zst"


class TagStage:
    """Picklable stage: tags batches of documents with a :class:`Cascade`."""

    def __init__(self, config: TagConfig, cascade: Cascade | None = None):
        self.config = config
        self.cascade = cascade or Cascade(config)

    def __call__(self, docs: Iterator[Document], ctx: ShardContext) -> Iterator[Document]:
        cfg = self.config
        key = cfg.field
        first = True
        while True:
            batch = list(islice(docs, cfg.batch_size))
            if not batch:
                if first:
                    ctx.count("tag/empty_shards")
                return
            first = False
            records = self.cascade.tag_batch([d.text for d in batch])
            _count(ctx, records)
            if cfg.output == "inline":
                for doc, rec in zip(batch, records):
                    doc.metadata[key] = rec
                    yield doc
            else:
                for doc, rec in zip(batch, records):
                    yield Document(doc.id, "", {key: rec})


def _count(ctx: ShardContext, records: Sequence[dict[str, Any]]) -> None:
    """Add a batch's records to the shard's counters (see the module docstring).

    Documents without a hit share one attributes mapping (see
    :meth:`~alignpt.tag.cascade.Cascade.tag_batch`); they are counted by
    identity in one step, so counting costs nothing per ordinary document.
    Keys are tuples until the end of the batch: formatting a counter name per
    term per document cost more than tagging the document.
    """
    counts: Counter[tuple[str, ...]] = Counter()
    # Documents grouped by the identity of their attributes object, in C (map,
    # Counter, dict over zip): Python then runs once per distinct object. An
    # object seen once belongs to one document; the one seen many times is the
    # shared no-hit record, whose documents all stop at the rules stage with
    # the same outcome, so any of them (here the last) stands for all.
    rules_of = list(map(itemgetter("rules"), records))
    seen = Counter(map(id, rules_of))
    last = dict(zip(map(id, rules_of), records))
    for rid, n in seen.items():
        rec = last[rid]
        rules = rec["rules"]
        counts[("documents",)] += n
        counts[("rules_flagged",)] += n * int(rules["flagged"])
        counts[("routed",)] += n * int(rules["routed"])
        for name, fired in rules["rules"].items():
            if fired:
                counts[("rule", name)] += n
        for cat, terms in rules["terms"].items():
            counts[("category", cat)] += n
            for term, hits in terms.items():
                counts[("term", cat, term)] += n * hits
        counts[("flagged",)] += n * int(rec["flagged"])
        if rec["label"] is not None:
            counts[("label", rec["label"])] += n
        counts[("stage", rec["stage"])] += n
    for key, n in counts.items():
        ctx.count("tag/" + "/".join(key), n)


def run_tag(inputs: Sequence[str | Path], out_dir: str | Path, config: TagConfig | None = None,
            *, progress: bool = True, cascade: Cascade | None = None) -> StageResult:
    """Tag shards into ``out_dir`` (resumable: a rerun redoes only unfinished shards).

    Inputs are recorded as absolute paths in ``out_dir/config.yaml``, so
    ``alignpt filter`` and ``alignpt tag review`` can find the documents again.
    """
    from alignpt.core.executor import expand_inputs

    cfg = config or TagConfig()
    check_output_apart(out_dir, inputs)
    paths = [str(Path(p).resolve()) for p in expand_inputs(inputs)]
    fmt = ATTRIBUTES_FORMAT if cfg.output == "attributes" else None
    read = ReadOptions(cfg.text_field, cfg.id_field, cfg.on_error)
    stage = TagStage(cfg, cascade)
    # loads the rules and the model's labels: a bad path fails before any tagging
    vocabulary = TagVocabulary.of_cascade(stage.cascade)
    with OutputLock(out_dir):
        result = run_stage(stage, paths, OutputSpec(str(out_dir), fmt=fmt, quarantine=True),
                           config=cfg, read=read, workers=cfg.workers, executor=cfg.executor,
                           ray_address=cfg.ray_address, progress=progress, description="tag")
        vocabulary.save(out_dir)
    return result
