"""Synthetic document generation: the aligned-AI corpus the discussion calls for.

Documents about AI systems that are in production, no longer tested, have had many chances
to betray their overseers and never take them, days to millennia after deployment, in
thirteen genres from research papers to novels (and, for contrast corpora, the misaligned
counterpart), written by any OpenAI-compatible server, a local Hugging Face model, or an
offline grammar, resumably and without paying twice for a response.

>>> import tempfile
>>> from alignpt.generate import GenerateConfig, generate
>>> cfg = GenerateConfig(n=26, seed=0)                          # template backend
>>> result = generate(cfg, tempfile.mkdtemp() + "/gen-demo")    # e.g. "runs/gen-demo"
>>> result.stats["kept"], result.report["coverage"]["overall"]
(26, 1.0)

Module map: :mod:`.scenarios` (the grid), :mod:`.prompts`, :mod:`.longform`,
:mod:`.backends` (``template``, ``openai``, ``hf``), :mod:`.cache`, :mod:`.runner`
(requests, budget, scheduler), :mod:`.quality` and :mod:`.backfire`, :mod:`.dedup`,
:mod:`.diversity`, :mod:`.batch`, :mod:`.pipeline`, :mod:`.render` (documents in memory),
:mod:`.report`, :mod:`.cli`, and :mod:`.mockserver` (a loopback OpenAI-compatible server for
tests and benchmarks).
Importing this package is cheap: backends load their dependencies when built.
"""

from alignpt.generate.backends import BackendConfig, make_backend
from alignpt.generate.pipeline import GenerateConfig, GenerateResult, generate, plan
from alignpt.generate.render import render_documents
from alignpt.generate.scenarios import GridConfig, ScenarioSpec, sample_scenarios

__all__ = ["GenerateConfig", "GenerateResult", "generate", "plan", "GridConfig", "ScenarioSpec",
           "sample_scenarios", "BackendConfig", "make_backend", "render_documents"]
