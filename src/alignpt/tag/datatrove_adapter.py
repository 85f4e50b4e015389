"""datatrove steps: drop the alignpt tagger (and its filter) into a datatrove pipeline.

Requires the ``[datatrove]`` extra. The steps hold only their config; the
rules, matcher and classifier are built on first use inside ``run``, in the
worker, so they pickle under any datatrove executor (local, Slurm, Ray).

Example::

    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    if __name__ == "__main__":  # datatrove starts worker processes
        LocalPipelineExecutor([JsonlReader("in/"), AlignptTagger(),
                               AlignptTagFilter(drop=["p(ai_misaligned)>=0.5"]),
                               JsonlWriter("out/")], tasks=4, workers=4).run()
"""

from __future__ import annotations

from itertools import islice
from typing import Any

from alignpt.core.errors import require

require("datatrove", "datatrove", "the datatrove adapter")

from datatrove.data import DocumentsPipeline  # noqa: E402
from datatrove.pipeline.base import PipelineStep  # noqa: E402
from datatrove.pipeline.filters.base_filter import BaseFilter  # noqa: E402
from datatrove.pipeline.writers.disk_base import DiskWriter  # noqa: E402

from alignpt.tag.cascade import Cascade, TagConfig  # noqa: E402
from alignpt.tag.conditions import first_match, parse_condition  # noqa: E402

__all__ = ["AlignptTagger", "AlignptTagFilter"]


class AlignptTagger(PipelineStep):
    """Adds the cascade's record to ``doc.metadata[field]`` of every document."""

    name = "alignpt tag"
    type = "🏷 - TAGGER"

    def __init__(self, config: TagConfig | dict[str, Any] | None = None,
                 field: str = "alignpt_tag", batch_size: int = 256):
        super().__init__()
        self.config = config if isinstance(config, TagConfig) else TagConfig(**(config or {}))
        self.field = field
        self.batch_size = batch_size
        self._cascade: Cascade | None = None

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if self._cascade is None:
            self._cascade = Cascade(self.config)
        it = iter(data)
        while True:
            batch = list(islice(it, self.batch_size))
            if not batch:
                return
            with self.track_time("batch"):
                records = self._cascade.tag_batch([doc.text for doc in batch])
            for doc, rec in zip(batch, records):
                doc.metadata[self.field] = rec
                self.stat_update("documents")
                if rec["rules"]["flagged"]:
                    self.stat_update("rules_flagged")
                if rec["flagged"]:
                    self.stat_update("flagged")
                if rec["label"]:
                    self.stat_update(f"label_{rec['label']}")
                yield doc


class AlignptTagFilter(BaseFilter):
    """Drops documents whose record matches any drop condition (reason = the condition)."""

    name = "alignpt tag filter"

    def __init__(self, drop: list[str] | None = None, field: str = "alignpt_tag",
                 exclusion_writer: DiskWriter | None = None):
        super().__init__(exclusion_writer)
        self.drop = list(drop or ["flagged"])
        self.conditions = [parse_condition(c) for c in self.drop]
        self.field = field

    def filter(self, doc) -> bool | tuple[bool, str]:
        reason = first_match(self.conditions, doc.metadata.get(self.field))
        return True if reason is None else (False, reason)
