"""Generation backends behind one interface, and the config that picks one.

======== ================================================================ ===========
kind     what it talks to                                                  needs
======== ================================================================ ===========
template the offline combinatorial grammar (tests, demos, tiny models)    nothing
openai   any OpenAI-compatible server: vLLM, llama.cpp, SGLang, hosted    aiohttp or
         APIs; chat or completions; async, retries, batch files           httpx(2)
hf       a local Hugging Face model folder, offline                       ``[train]``
======== ================================================================ ===========

The interface lives in :mod:`.base`, the config in :mod:`.config` (API keys: only the
*name* of an environment variable), and :func:`make_backend` in :mod:`.factory`.
"""

from alignpt.generate.backends.base import (Api, Backend, BackendStats, Completion,
                                            GenerationRequest, request_key)
from alignpt.generate.backends.config import BackendConfig
from alignpt.generate.backends.factory import make_backend

__all__ = ["BackendConfig", "make_backend", "Backend", "BackendStats", "Completion",
           "GenerationRequest", "Api", "request_key"]
