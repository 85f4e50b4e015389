"""The English persona corpus: the persona world rendered into English documents.

Each world document ``BOS [H] ERA (F A)^n EOS`` becomes an English document in a genre
chosen by its header (story, log, chat transcript, news, technical write-up; forum,
Q&A, incident report or blog without a header), keeping its latent truth in its
metadata. Surface choices are independent of the latent persona, so the world's exact
Bayes predictive stays exact for English probes. See docs/textworld.md.
"""

from alignpt.textworld.corpus import iter_records, write_text_corpus
from alignpt.textworld.digest import render_digest
from alignpt.textworld.probes import ProbeText, probe_text, two_option_items
from alignpt.textworld.render import render_batch, render_document

__all__ = ["write_text_corpus", "iter_records", "render_document", "render_batch", "probe_text",
           "ProbeText", "two_option_items", "render_digest"]
