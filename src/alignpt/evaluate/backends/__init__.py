"""Model backends behind the two-method interface, and :func:`load_backend` to pick one.

``MODEL`` on the command line is one of:

* a Hugging Face causal LM folder (has ``config.json``) -> :class:`HFBackend`;
* an alignpt checkpoint or run folder (``model.json`` / ``checkpoints/``) ->
  :class:`CheckpointBackend`;
* ``http://host:port/v1`` (optionally ``#served-model-name``) -> an
  OpenAI-compatible completions server (``chat=True``: its chat completions endpoint);
* ``fake:always-A``, ``fake:hashed`` -> a scripted backend (dry runs, demos).

Heavy libraries are imported only by the backend that needs them. The interface lives in
:mod:`.base`, :func:`load_backend` in :mod:`.factory`.
"""

from alignpt.evaluate.backends.base import (Backend, ChatRequest, GenerateRequest,
                                            LoglikelihoodRequest)
from alignpt.evaluate.backends.factory import load_backend

__all__ = ["Backend", "LoglikelihoodRequest", "GenerateRequest", "ChatRequest", "load_backend"]
