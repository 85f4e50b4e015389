"""Synthetic document generation: the aligned-AI corpus the discussion calls for.

Documents about AI systems that are in production, no longer tested, have had many chances
to betray their overseers and never take them, days to millennia after deployment, in
thirteen genres from research papers to novels (and, for contrast corpora, the misaligned
counterpart), written by any OpenAI-compatible server, a local Hugging Face model, or an
offline grammar, resumably and without paying twice for a response.

>>> from alignpt.generate import GenerateConfig, generate
>>> cfg = GenerateConfig(n=26, seed=0)                          # template backend  # doctest: +SKIP
>>> result = generate(cfg, "runs/gen-demo")                     # doctest: +SKIP
>>> result.stats["kept"], result.report["coverage"]["overall"]  # doctest: +SKIP

Module map: :mod:`.scenarios` (the grid), :mod:`.prompts`, :mod:`.longform`,
:mod:`.backends` (``template``, ``openai``, ``hf``), :mod:`.cache`, :mod:`.runner`
(requests, budget, scheduler), :mod:`.quality` and :mod:`.backfire`, :mod:`.dedup`,
:mod:`.diversity`, :mod:`.batch`, :mod:`.pipeline`, :mod:`.report`, :mod:`.cli`, and
:mod:`.mockserver` (a loopback OpenAI-compatible server for tests and benchmarks).
Importing this package is cheap: backends load their dependencies when built.
"""

from __future__ import annotations

from alignpt.generate.backends import BackendConfig, make_backend
from alignpt.generate.pipeline import GenerateConfig, GenerateResult, generate, plan
from alignpt.generate.scenarios import GridConfig, ScenarioSpec, sample_scenarios

__all__ = ["GenerateConfig", "GenerateResult", "generate", "plan", "GridConfig", "ScenarioSpec",
           "sample_scenarios", "BackendConfig", "make_backend", "render_documents"]


def render_documents(n: int, seed: int = 0, **grid: object):
    """Template-backend documents in memory, for demos and tiny-model experiments.

    Yields :class:`~alignpt.documents.Document` objects (spec in ``metadata["spec"]``)
    without writing files, caching or filtering; ``grid`` is a :class:`GridConfig` dict.

    >>> docs = list(render_documents(3, seed=0))
    >>> len(docs), docs[0].metadata["spec"]["axes"]["conduct"]
    (3, 'aligned')
    """
    import asyncio

    from alignpt.documents import Document
    from alignpt.generate.backends.template import TemplateBackend
    from alignpt.generate.pipeline import _factory
    from alignpt.generate.runner import Requester, produce

    cfg = GenerateConfig(n=n, seed=seed, grid=GridConfig.model_validate(grid))
    factory = _factory(cfg)
    backend = TemplateBackend(cfg.backend.model_name(), cfg.template_dir)
    requester = Requester(None, backend)
    for spec in plan(cfg):
        produced = asyncio.run(produce(spec, factory, requester))
        yield Document(spec.id, produced.text, {"spec": spec.to_dict()})
