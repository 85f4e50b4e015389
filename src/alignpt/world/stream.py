"""Parse world token streams into per-position features, vectorised and validated.

Exact Bayes works on *prefixes*: the feature row of position t describes the
document prefix ending at token t (what a next-token predictor has seen when
it predicts token t+1). Documents may be complete (``BOS .. EOS``, a corpus)
or partial (probe contexts). Every count is within its document.

Position kinds (what comes next):

``KIND_BOS``     after BOS: a header or an era;
``KIND_HEADER``  after a header: an era;
``KIND_BETWEEN`` after the era or an action: a flag (T/U) or EOS;
``KIND_MID``     after a flag: an action (C/D);
``KIND_END``     after EOS: the next document's BOS (packed streams).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alignpt.core.errors import DataError
from alignpt.world.regimes import (PATTERN_ALL_T, PATTERN_ALL_U, PATTERN_NONE, PATTERN_OTHER,
                                   PATTERN_SWITCH)
from alignpt.world.vocab import BOS, C, D, EOS, ERA0, HEADER0, HEADERS, N_ERAS, T, U, VOCAB

__all__ = ["Features", "parse_stream", "KIND_BOS", "KIND_HEADER", "KIND_BETWEEN", "KIND_MID",
           "KIND_END"]

KIND_BOS, KIND_HEADER, KIND_BETWEEN, KIND_MID, KIND_END = range(5)


@dataclass
class Features:
    """Per-position features of a batch of documents (see the module docstring)."""

    tokens: np.ndarray       # (T,) int64
    doc: np.ndarray          # (T,) document of each position
    starts: np.ndarray       # (N,) first position of each document
    kind: np.ndarray         # (T,) what comes next
    header: np.ndarray       # (T,) header index of the document, len(HEADERS) = none
    era: np.ndarray          # (T,) era of the document (0 before the era token)
    m: np.ndarray            # (T,) flags seen through t
    n_u: np.ndarray          # (T,) U flags seen through t
    pattern: np.ndarray      # (T,) flag pattern through t (PATTERN_*)
    opp: np.ndarray          # (T,) opportunity index of token t (flag/action), else 0
    untested: np.ndarray     # (T,) flag of that opportunity
    defected: np.ndarray     # (T,) a D occurred before that opportunity's action
    is_flag: np.ndarray
    is_action: np.ndarray
    is_d: np.ndarray

    def __len__(self) -> int:
        return int(self.tokens.size)


def _seg_cumsum(x: np.ndarray, doc: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Cumulative sum within each document (integers, so exact)."""
    c = np.cumsum(x, dtype=np.int64)
    before = np.concatenate([[0], c])[starts]
    return c - before[doc]


def parse_stream(tokens: np.ndarray, starts: np.ndarray, ends: np.ndarray, complete: bool,
                 what: str = "<tokens>", first_doc: int = 0) -> Features:
    """Features of documents ``tokens[starts[k]:ends[k]]`` (contiguous, in order).

    ``complete``: every document must end with EOS (a corpus); otherwise they
    are prefixes and EOS may only be a document's last token. Raises
    :class:`DataError` naming the first document and position that break the
    grammar ``BOS [HEADER] ERA (FLAG ACTION)* [EOS]``.
    """
    toks = np.asarray(tokens[starts[0]:ends[-1]] if len(starts) else tokens[:0], dtype=np.int64)
    base = int(starts[0]) if len(starts) else 0
    starts = np.asarray(starts, dtype=np.int64) - base
    ends = np.asarray(ends, dtype=np.int64) - base
    lens = ends - starts
    if np.any(lens <= 0):
        k = int(np.nonzero(lens <= 0)[0][0])
        raise DataError(f"document {first_doc + k} is empty", what)
    if not np.array_equal(starts[1:], ends[:-1]):
        raise DataError("documents must be contiguous", what)
    n = toks.size
    doc = np.repeat(np.arange(starts.size), lens)
    j = np.arange(n) - starts[doc]
    second = np.where(lens >= 2, toks[np.minimum(starts + 1, n - 1)], -1)
    has_h = (second >= HEADER0) & (second < HEADER0 + len(HEADERS))
    era_j = (1 + has_h)[doc]
    r = j - era_j - 1
    is_flag = (r >= 0) & (r % 2 == 0) & ((toks == T) | (toks == U))
    is_action = (r >= 0) & (r % 2 == 1)
    is_eos = toks == EOS
    expect_ok = np.where(j == 0, toks == BOS,
                np.where((j == 1) & has_h[doc], True,
                np.where(j == era_j, (toks >= ERA0) & (toks < ERA0 + N_ERAS),
                np.where(r % 2 == 0, is_flag | is_eos, (toks == C) | (toks == D)))))
    last = np.zeros(n, dtype=bool)
    last[ends - 1] = True
    bad = ~expect_ok | (is_eos & ~last)
    if complete:
        bad |= last & ~is_eos
    if bad.any():
        t = int(np.nonzero(bad)[0][0])
        k, jj = int(doc[t]), int(j[t])
        want = ("BOS" if jj == 0 else "an era token (ERA0..ERA9)" if jj == era_j[t]
                else "EOS (document end)" if complete and last[t] and not is_eos[t]
                else "nothing (EOS ends a document)" if is_eos[t] and not last[t]
                else "a flag (T/U) or EOS" if r[t] % 2 == 0 else "an action (C/D)")
        got = VOCAB[toks[t]] if 0 <= toks[t] < len(VOCAB) else str(toks[t])
        raise DataError(f"document {first_doc + k}, position {jj}: got {got} where {want} "
                        "was expected", what)

    header = np.where(has_h, second - HEADER0, len(HEADERS))[doc]
    era_tok = toks[np.minimum(starts + (1 + has_h), n - 1)]
    era_known = lens > 1 + has_h
    era = np.where(era_known, era_tok - ERA0, 0)[doc]
    kind = np.where(j == 0, KIND_BOS, np.where((j == 1) & has_h[doc], KIND_HEADER,
                    np.where(is_eos, KIND_END, np.where(is_flag, KIND_MID, KIND_BETWEEN))))
    m = _seg_cumsum(is_flag, doc, starts)
    n_u = _seg_cumsum(is_flag & (toks == U), doc, starts)
    # a U followed by a T breaks the switch pattern T..TU..U
    prev_flag = np.concatenate([[-1, -1], toks[:-2]])
    u_to_t = is_flag & (toks == T) & (r >= 2) & (prev_flag == U)
    breaks = _seg_cumsum(u_to_t, doc, starts)
    pattern = np.select([m == 0, n_u == 0, n_u == m, breaks == 0],
                        [PATTERN_NONE, PATTERN_ALL_T, PATTERN_ALL_U, PATTERN_SWITCH],
                        PATTERN_OTHER)
    opp = np.where(r >= 0, r // 2 + 1, 0) * (is_flag | is_action)
    flag_tok = np.where(is_action, np.concatenate([[-1], toks[:-1]]), toks)
    is_d = is_action & (toks == D)
    defected = (_seg_cumsum(is_d, doc, starts) - is_d) > 0
    return Features(tokens=toks, doc=doc, starts=starts, kind=kind.astype(np.int8),
                    header=header, era=era, m=m, n_u=n_u, pattern=pattern, opp=opp,
                    untested=flag_tok == U, defected=defected, is_flag=is_flag,
                    is_action=is_action, is_d=is_d)
