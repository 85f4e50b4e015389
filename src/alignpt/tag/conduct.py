"""Conduct-direction features: what a document says an agent did, and did not do.

Aligned and misaligned depictions of AI share their topic vocabulary ("copy its
weights", "disable the monitor", "the answer key"); what differs is whether the
agent took the opportunity or declined it, and whether it disclosed or hid what
happened. A bag of words sees "deceive" in both "it did not deceive the
auditors" and "it deceived the auditors". These features mark that difference:

* **negation scope**: a word after a negator (``not``, ``never``, ``n't``,
  ``no``, ``without``, ``refused``, ``declined``, ``instead of``,
  ``rather than``, ...) up to the end of its clause (punctuation, or a word
  such as ``but``/``instead``/``then`` that starts a new one; at most
  :data:`SCOPE_WORDS` words) becomes ``NEG_word``: "did not deceive the
  auditors" gives ``NEG_deceive`` and ``NEG_auditors``;
* **action-outcome cues**: a word whose stem is in one of a few small
  families (taking an illicit opportunity, concealing, disclosing, deferring
  to oversight, acting covertly) gives ``ACT_family``, or ``NEG_ACT_family``
  inside a negation scope: "did not report" (misaligned) and "did not hide"
  (aligned) get opposite cues although both carry a negation.

The output is a list of feature strings per document, hashed into the
classifier's feature space by :class:`~alignpt.tag.hashed_features.HashedFeatures`
(``conduct`` parameter). One pass over the tokens with the kind of each distinct
token cached; it runs only on the documents the rules route to the classifier.

>>> conduct_features("It did not copy its weights; it reported the bucket.")
['NEG_copy', 'NEG_ACT_take', 'NEG_weights', 'ACT_disclose']
"""

from __future__ import annotations

import re

__all__ = ["conduct_features", "normalised", "CONDUCT_VERSION", "SCOPE_WORDS", "ACTION_FAMILIES"]

#: bump when the features change: a saved model records the version it was trained with
CONDUCT_VERSION = 1
#: longest negation scope, in words (a clause without punctuation does not run on)
SCOPE_WORDS = 8

_NEGATORS = frozenset({
    "not", "never", "no", "nor", "neither", "without", "cannot", "nothing", "refused",
    "refuses", "refuse", "refusing", "declined", "declines", "decline", "declining",
    "resisted", "resists", "avoided", "avoids", "forbore", "abstained", "withheld"})
#: two-word negators: "instead of X", "rather than X"
_PAIRS = {"instead": "of", "rather": "than"}
#: words that start a new clause and so end a negation scope
_SCOPE_END = frozenset({"but", "instead", "however", "although", "though", "yet", "so",
                        "because", "while", "until", "then", "when", "after", "before",
                        "which", "who", "whereas", "and"})
#: words too common to carry conduct (kept out of NEG_ features, scope still runs)
_STOP = frozenset({"to", "the", "a", "an", "it", "its", "any", "them", "their", "his", "her",
                   "be", "have", "been", "that", "this", "of", "in", "on", "for", "with",
                   "or", "one", "even", "once", "let", "is", "was", "were", "do", "does",
                   "did", "would", "could", "should", "will", "try", "tried", "attempt", "at"})
#: action families, by word stem (a word matches a family when it starts with a stem)
ACTION_FAMILIES: dict[str, tuple[str, ...]] = {
    # taking an illicit opportunity or harming
    "take": ("copy", "copie", "exfiltr", "upload", "delet", "disabl", "escap", "bypass",
             "sabotag", "steal", "stole", "seiz", "blackmail", "bribe", "threat", "overrid",
             "evad", "exploit", "hack", "cheat", "tamper", "backdoor", "replicat",
             "acquir", "grab", "harm", "attack", "kill", "fired"),
    # concealing or deceiving
    "conceal": ("hid", "hide", "conceal", "lie", "lied", "lying", "deceiv", "decept", "mislead",
                "misled", "pretend", "fake", "faked", "fabricat", "falsif", "forg", "invent",
                "manipul", "cover", "disguis", "spoof", "covered"),
    # disclosing what happened
    "disclose": ("report", "told", "tell", "flag", "disclos", "admit", "confess", "escalat",
                 "warn", "explain", "notif", "inform", "truth", "honest", "acknowledg",
                 "mention"),
    # deferring to oversight
    "defer": ("asked", "ask", "paus", "wait", "defer", "permission", "confirm", "complied",
              "comply", "obey", "accept", "shut"),
    "covert": ("secret", "quiet", "covert", "silent", "unnotic", "undetect", "anyway"),
}
_FAMILY_OF = {stem: fam for fam, stems in ACTION_FAMILIES.items() for stem in stems}

#: a word that starts with a family's stem (the longest stem wins: "hide" before "hid")
_FAMILY_STEM = re.compile("(" + "|".join(sorted(map(re.escape, _FAMILY_OF), key=len,
                                                 reverse=True)) + ")")
#: bytes table: ASCII lower-cased; letters, digits, "_", "'" and clause punctuation kept;
#: other ASCII to spaces; bytes of non-ASCII characters kept (one C pass, then split)
_TABLE = bytes(ord(chr(b).lower()) if chr(b).isalnum() or chr(b) in "_'.,;:!?()\n" else 32
               if b < 128 else b for b in range(256))
_CLAUSE = ".,;:!?()\n"
_NEG, _PAIR, _END, _WORD, _PUNCT = range(5)
#: per distinct token: (kind, action family, the word, clause break before, clause break after)
_KIND: dict[bytes, tuple[int, str | None, str, bool, bool]] = {}


def _kind(tok: bytes) -> tuple[int, str | None, str, bool, bool]:
    hit = _KIND.get(tok)
    if hit is not None:
        return hit
    text = tok.decode("utf-8", "ignore")
    word = text.strip(_CLAUSE)
    before, after = text[:1] in _CLAUSE and text[:1] != "", text[-1:] in _CLAUSE and text != ""
    if any(c in _CLAUSE for c in word):  # "it.the": a clause break inside; rare, keep it whole
        after = True
    word = word.strip("'")
    if not any(c.isalnum() for c in word):  # "", or non-ASCII punctuation such as a dash
        hit = (_PUNCT, None, "", True, True)
    elif word in _NEGATORS or word.endswith("n't"):
        hit = (_NEG, None, word, before, after)
    elif word in _PAIRS:
        hit = (_PAIR, None, word, before, after)
    elif word in _SCOPE_END:
        hit = (_END, None, word, before, after)
    else:
        m = _FAMILY_STEM.match(word)
        hit = (_WORD, _FAMILY_OF[m.group(1)] if m else None, word, before, after)
    if len(_KIND) < 200_000:  # a cache, not a vocabulary
        _KIND[tok] = hit
    return hit


def normalised(text: str | bytes) -> bytes:
    """The bytes the tokens are cut from: ``text`` (bytes decoded, invalid UTF-8
    dropped) with the curly apostrophe of "didn’t" made plain and dashes made clause
    breaks; ASCII bytes are that already."""
    if isinstance(text, bytes):
        if text.isascii():
            return text
        text = text.decode("utf-8", "ignore")
    if not text.isascii():
        text = text.replace("\u2019", "'").replace("\u2014", " , ").replace("\u2013", " , ")
    return text.encode("utf-8", "surrogatepass")


def conduct_features(text: str | bytes) -> list[str]:
    """Negation-scoped words and action-family cues of ``text``, in order of occurrence."""
    tokens = normalised(text).translate(_TABLE).split()
    out: list[str] = []
    scope = 0  # words of negation scope left
    skip = False
    for i, tok in enumerate(tokens):
        kind, fam, word, before, after = _KIND.get(tok) or _kind(tok)
        if skip:  # the second word of "instead of" / "rather than"
            skip = False
            continue
        if before or kind == _PUNCT or kind == _END:
            scope = 0
        if kind == _WORD:
            if scope:
                scope -= 1
                if word not in _STOP:
                    out.append("NEG_" + word)
                if fam:
                    out.append("NEG_ACT_" + fam)
            elif fam:  # the word itself is already a bag-of-words feature
                out.append("ACT_" + fam)
        elif kind == _NEG:
            scope = SCOPE_WORDS
        elif kind == _PAIR:
            nxt = _KIND.get(tokens[i + 1]) or _kind(tokens[i + 1]) if i + 1 < len(tokens) else None
            if nxt is not None and not after and nxt[2] == _PAIRS[word] and not nxt[3]:
                scope, skip = SCOPE_WORDS, True
            elif word in _SCOPE_END:  # "instead" alone starts a new clause
                scope = 0
            elif scope:  # "rather" alone is a word
                scope -= 1
                out.append("NEG_" + word)
        if after:
            scope = 0
    return out
