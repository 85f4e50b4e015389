"""TrainEvent.kind is a typed EventKind whose values are the plain names callbacks compare."""

from __future__ import annotations

import pytest

from alignpt.train.events import EventKind, TrainEvent


def test_kinds_are_the_names_the_trainer_always_emitted():
    assert [k.value for k in EventKind] == ["step", "eval", "checkpoint", "phase_end"]
    ev = TrainEvent("step", 3, "pretrain")          # a plain name still builds an event
    assert ev.kind is EventKind.STEP and ev.kind == "step" and f"{ev.kind}" == "step"
    assert str(EventKind.PHASE_END) == "phase_end"


def test_a_misspelt_kind_fails_where_it_is_emitted():
    with pytest.raises(ValueError, match="steps"):
        TrainEvent("steps", 0, "pretrain")
