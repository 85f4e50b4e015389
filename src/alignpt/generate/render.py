"""Template-backend documents in memory: demos and tiny-model experiments, no files written."""

from __future__ import annotations

import asyncio
from typing import Iterator

from alignpt.core.documents import Document
from alignpt.generate.backends.template import TemplateBackend
from alignpt.generate.pipeline import GenerateConfig, request_factory, plan
from alignpt.generate.runner import Requester, produce
from alignpt.generate.scenarios import GridConfig

__all__ = ["render_documents"]


def render_documents(n: int, seed: int = 0, **grid: object) -> Iterator[Document]:
    """Template-backend documents in memory, for demos and tiny-model experiments.

    Yields :class:`~alignpt.core.documents.Document` objects (spec in ``metadata["spec"]``)
    without writing files, caching or filtering; ``grid`` is a :class:`GridConfig` dict.

    >>> docs = list(render_documents(3, seed=0))
    >>> len(docs), docs[0].metadata["spec"]["axes"]["conduct"]
    (3, 'aligned')
    """
    cfg = GenerateConfig(n=n, seed=seed, grid=GridConfig.model_validate(grid))
    factory = request_factory(cfg)
    backend = TemplateBackend(cfg.backend.model_name(), cfg.template_dir)
    requester = Requester(None, backend)
    for spec in plan(cfg):
        produced = asyncio.run(produce(spec, factory, requester))
        yield Document(spec.id, produced.text, {"spec": spec.to_dict()})
