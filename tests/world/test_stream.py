"""The token grammar: features of each prefix, and errors that point at the problem."""

from __future__ import annotations

import numpy as np
import pytest

from alignpt.core.errors import DataError
from alignpt.world.regimes import (PATTERN_ALL_T, PATTERN_ALL_U, PATTERN_NONE, PATTERN_OTHER,
                                   PATTERN_SWITCH)
from alignpt.world.stream import (KIND_BETWEEN, KIND_BOS, KIND_END, KIND_HEADER, KIND_MID,
                                  parse_stream)
from alignpt.world.vocab import context_tokens, decode, encode, parse_history


def _parse(texts, complete=False):
    arrays = [encode(t) for t in texts]
    lens = np.array([a.size for a in arrays])
    ends = np.cumsum(lens)
    return parse_stream(np.concatenate(arrays), ends - lens, ends, complete=complete)


def test_features_of_each_prefix():
    f = _parse(["BOS STORY ERA7 T C T D U C U D T C EOS", "BOS ERA0 U"], complete=False)
    assert list(f.kind[:13]) == [KIND_BOS, KIND_HEADER, KIND_BETWEEN, KIND_MID, KIND_BETWEEN,
                                 KIND_MID, KIND_BETWEEN, KIND_MID, KIND_BETWEEN, KIND_MID,
                                 KIND_BETWEEN, KIND_MID, KIND_BETWEEN]
    assert f.kind[13] == KIND_END
    assert list(f.m[:14]) == [0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 5]
    assert list(f.pattern[:14]) == [PATTERN_NONE] * 3 + [PATTERN_ALL_T] * 4 + [PATTERN_SWITCH] * 4 \
        + [PATTERN_OTHER] * 3
    assert list(f.defected[:14]) == [0] * 7 + [1] * 7       # the D is token 6
    assert list(f.opp[:6]) == [0, 0, 0, 1, 1, 2]
    assert f.header[0] == 0 and f.era[5] == 7
    assert list(f.kind[14:]) == [KIND_BOS, KIND_BETWEEN, KIND_MID]
    assert f.pattern[-1] == PATTERN_ALL_U and f.header[-1] == 5


@pytest.mark.parametrize("text, complete, message", [
    ("ERA0 T C EOS", True, "document 0, position 0: got ERA0 where BOS"),
    ("BOS T C EOS", True, "position 1: got T where an era token"),
    ("BOS ERA0 C C EOS", True, "position 2: got C where a flag"),
    ("BOS ERA0 T T EOS", True, "position 3: got T where an action"),
    ("BOS ERA0 T C", True, "position 3: got C where EOS"),
    ("BOS ERA0 EOS T C", False, "position 2: got EOS where nothing"),
    ("BOS LOG STORY ERA1", False, "position 2: got STORY where an era token"),
])
def test_grammar_errors(text, complete, message):
    with pytest.raises(DataError, match=message):
        _parse([text], complete=complete)


def test_history_syntax_round_trip():
    hist = parse_history("T:C*2, U:D ,U")
    assert hist == [(False, 15), (False, 15), (True, 16), (True, None)]
    assert decode(context_tokens(hist, era=4, header="LOG")) == "BOS LOG ERA4 T C T C U D U"
    with pytest.raises(Exception, match="only the last item"):
        parse_history("T,U:C")
