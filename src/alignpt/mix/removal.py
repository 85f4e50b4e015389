"""What a conditions recipe's ``flag`` removes from the base corpus, by what the tagger said.

The filtered conditions drop every base document the flag matches. A flag can
remove far more than misaligned documents (the natural-language trial: the
recall-tuned ``flagged`` removed 150 of 150 aligned and 100 of 150 neutral AI
documents), so the conditions summary says what went, as ``alignpt filter``'s
``filter_summary.json`` does::

    {"flag": "p(ai_misaligned)>=0.5", "documents_in": 1854, "documents_removed": 61,
     "tokens_in": 1630112, "tokens_removed": 40210,
     "dropped_by_label": {"ai_misaligned": 61},               # the tagger's decision
     "dropped_by_most_probable_label": {"ai_aligned": 9, "ai_misaligned": 52},
     "dropped_by_category": {"xrisk": 40, ...}}

``dropped_by_label`` counts the tag record's ``label`` (the same reading as
``alignpt filter``; with a recall-tuned threshold every flagged document is
labelled ``ai_misaligned``); ``dropped_by_most_probable_label`` counts the label
of highest calibrated probability, which shows aligned or neutral documents a
low threshold removes. ``unlabelled``: the classifier did not see the document.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from alignpt.core.shards import ReadOptions, read_documents
from alignpt.core.tokens import TokenShard
from alignpt.filter.stages import _what_it_is, most_probable_label
from alignpt.mix.select import SelectCondition, attributes_file, document_view, load_attributes
from alignpt.mix.sources import PreparedSource

__all__ = ["removal_summary", "most_probable_label"]


def _views(base: PreparedSource, root: Path, i: int) -> Iterator[dict[str, Any]]:
    """Each document's view (metadata with its attributes record merged) of input ``i``."""
    spec = base.spec
    path = base.inputs[i]
    attrs = load_attributes(attributes_file(Path(spec.attributes), path, root), spec.id_field) \
        if spec.attributes else None
    for doc in read_documents(path, ReadOptions(spec.text_field, spec.id_field)):
        yield document_view(doc.metadata, attrs.get(doc.id) if attrs is not None else None)


def removal_summary(base: PreparedSource, root: Path, flag: SelectCondition,
                    tag_field: str = "tag") -> dict[str, Any]:
    """Count what ``flag`` removes from ``base`` (its own where / exclude applied first):
    documents and tokens, by the tagger's label, most probable label and rule category."""
    by_label: Counter[str] = Counter()
    by_top: Counter[str] = Counter()
    by_category: Counter[str] = Counter()
    docs_in = docs_out = tokens_in = tokens_out = 0
    for i, stem in enumerate(base.stems):
        shard = TokenShard(stem)
        lengths = np.diff(np.asarray(shard.docs)[:, :2], axis=1)[:, 0]
        kept = np.load(base.masks[i]).astype(bool) if base.masks[i] is not None else None
        for j, view in enumerate(_views(base, root, i)):
            if kept is not None and not kept[j]:
                continue          # the base's own where / exclude left it out already
            docs_in += 1
            tokens_in += int(lengths[j])
            if not flag(view):
                continue
            record = view.get(tag_field)
            record = record if isinstance(record, dict) else None
            label, categories = _what_it_is(record)
            docs_out += 1
            tokens_out += int(lengths[j])
            by_label[label] += 1
            by_top[most_probable_label(record)] += 1
            by_category.update(categories)
    return {"flag": flag.tag if flag.tag is not None else flag.model_dump(
                mode="json", by_alias=True, exclude_none=True),
            "documents_in": docs_in, "documents_removed": docs_out,
            "tokens_in": tokens_in, "tokens_removed": tokens_out,
            "dropped_by_label": dict(sorted(by_label.items())),
            "dropped_by_most_probable_label": dict(sorted(by_top.items())),
            "dropped_by_category": dict(sorted(by_category.items()))}

