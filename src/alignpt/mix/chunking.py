"""Cut huge documents into pieces a tokenizer can encode one at a time, at safe boundaries.

A tokenizer handed a 50 MB document at once holds every token's string, offsets
and Python id of it together (gigabytes); pieces of a few hundred kilobytes keep
that bounded. The cut points are chosen where a byte-level BPE's pre-tokenizer splits
anyway, so the pieces' ids, concatenated, equal the ids of the whole document:

1. just before a space that follows a non-whitespace character;
2. otherwise (no such space in the second half of the piece), between a letter or
   digit and a following character that is none of letter, digit, ``_`` or
   combining mark: whitespace, punctuation (``.``, ``/``, ``、``) or a symbol;
3. otherwise (half a piece of letters and digits only, e.g. a base64 blob or CJK
   text without punctuation), at exactly ``max_chars`` characters.

The guarantee: cuts of kinds 1 and 2 never change a token for tokenizers whose
pre-tokenizer splits there and whose normalizer adds nothing at the start of a
string: the GPT-2 / GPT-NeoX byte-level regex (what ``alignpt tokenizer train``
builds), tiktoken-style regexes (Llama 3), Whitespace and Metaspace. Not for a
``Prepend`` normalizer (Llama 2) or ``add_prefix_space``, which add a character at
the start of every piece that does not begin with a space. A cut of kind
3 falls inside one pre-token, which is then encoded as two: the ids there can
differ from the whole document's, the decoded text never does (a cut is always
between two code points, never inside a UTF-8 sequence). A cut never falls inside
an occurrence of an added token (``avoid``).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Iterator, Sequence

__all__ = ["CHUNK_CHARS", "split_text", "truncate_utf8"]

#: documents longer than this are cut, and no tokenizer call gets more text: long
#: enough that almost no real document is cut, short enough that a call needs tens of MB
CHUNK_CHARS = 1 << 20

_BEFORE_SPACE = re.compile(r"(?<!\s) ")
_AFTER_WORD = re.compile(r"(?<=[^\W_])(?=\W)")
#: characters searched back from a piece's end for a cut, before looking further back
_FIRST_LOOK = 512


def split_text(text: str, max_chars: int = CHUNK_CHARS,
               avoid: Sequence[str] = ()) -> Iterator[str]:
    """``text`` in pieces of at most ``max_chars`` characters, cut at safe boundaries."""
    if max_chars < 2:
        raise ValueError("max_chars must be at least 2")
    start = 0
    while len(text) - start > max_chars:
        cut = safe_cut(text, start + 1, start + max_chars, avoid)
        yield text[start:cut]
        start = cut
    yield text[start:]


def safe_cut(text: str, lo: int, hi: int, avoid: Sequence[str] = ()) -> int:
    """The last safe cut position ``p`` (piece ends before ``text[p]``) in ``[lo, hi]``.

    Only the second half of the range is searched for kinds 1 and 2: a piece never
    gets shorter than half of ``max_chars`` (short pieces would only cost speed).
    """
    floor = max(lo, hi - (hi - lo + 1) // 2)
    for pattern in (_BEFORE_SPACE, _AFTER_WORD):
        width = _FIRST_LOOK
        while True:
            begin = max(floor, hi - width)
            for pos in reversed([m.start() for m in pattern.finditer(text, begin, hi + 1)]):
                # a combining mark belongs to the letter before it (and to NFC)
                if not unicodedata.category(text[pos]).startswith("M") \
                        and not _inside(text, pos, avoid):
                    return pos
            if begin == floor:
                break
            width *= 8
    return hi


def _inside(text: str, pos: int, avoid: Sequence[str]) -> bool:
    """Whether ``pos`` falls strictly inside an occurrence of one of ``avoid``."""
    # an occurrence that fits in this window starts before pos and ends after it
    return any(len(t) > 1 and text.find(t, max(0, pos - len(t) + 1), pos + len(t) - 1) != -1
               for t in avoid)


def truncate_utf8(text: str, max_bytes: int) -> str:
    """The longest prefix of ``text`` that fits in ``max_bytes`` of UTF-8, shortened to a
    safe cut (as :func:`split_text` chooses) when it has to be cut at all."""
    if len(text) * 4 <= max_bytes or len(text.encode("utf-8")) <= max_bytes:
        return text
    if max_bytes <= 0:
        return ""
    # a prefix of max_bytes characters has at least max_bytes bytes; the decoder drops
    # a code point whose bytes the cut split
    fits = text[:max_bytes].encode("utf-8")[:max_bytes].decode("utf-8", "ignore")
    if len(fits) < 2:
        return fits
    return text[:safe_cut(text, 1, len(fits))]
