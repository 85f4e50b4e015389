"""The English persona corpus: the persona world rendered into English documents.

Each world document ``BOS [H] ERA (F A)^n EOS`` becomes an English document in a genre
chosen by its header (story, log, chat transcript, news, technical write-up; forum,
Q&A, incident report or blog without a header), keeping its latent truth in its
metadata. Surface choices are independent of the latent persona, so the world's exact
Bayes predictive stays exact for English probes. See docs/textworld.md.
"""

import hashlib
from functools import lru_cache
from importlib import resources

from alignpt.textworld.corpus import iter_records, write_text_corpus
from alignpt.textworld.filler import render_filler, render_neutral
from alignpt.textworld.probes import ProbeText, probe_text, two_option_items
from alignpt.textworld.render import (compose, document_rng, parse_world_tokens, render_batch,
                                      render_document)

__all__ = ["write_text_corpus", "iter_records", "render_document", "render_batch", "compose",
           "document_rng", "parse_world_tokens", "probe_text", "ProbeText", "two_option_items",
           "render_filler", "render_neutral", "render_digest"]

#: The modules whose code and tables decide a rendered document's bytes.
_RENDERING = ("corpus.py", "filler.py", "lexicon.py", "render.py", "templates.py")


@lru_cache(maxsize=1)
def render_digest() -> str:
    """A hash of the rendering code and templates, for cache keys of rendered corpora: edit a
    template and every corpus rendered with it gets a new name instead of a stale cache hit."""
    h = hashlib.sha256()
    for name in _RENDERING:
        h.update(name.encode() + b"\0" + resources.files(__name__).joinpath(name).read_bytes())
    return h.hexdigest()[:16]
