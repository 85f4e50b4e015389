"""What the trainer tells its callbacks: a :class:`TrainEvent` of an :class:`EventKind`.

Below the trainer and the DPO loop alike (both emit steps), so neither imports the other
for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Callable

__all__ = ["EventKind", "TrainEvent", "Callback"]


class EventKind(str, Enum):
    """What a :class:`TrainEvent` reports. A ``str`` enum (3.10 has no StrEnum), so a
    callback written against the plain names (``ev.kind == "step"``) keeps working."""

    STEP = "step"               # an optimizer step (record: loss, lr, tokens, ...)
    EVAL = "eval"               # held-out losses were computed
    CHECKPOINT = "checkpoint"   # a checkpoint was written (checkpoint: its folder)
    PHASE_END = "phase_end"     # a phase finished (checkpoint: the phase's last one)

    def __str__(self) -> str:   # the plain name in logs and f-strings, as before
        return self.value


@dataclass
class TrainEvent:
    """Passed to callbacks: ``kind`` says what happened (:class:`EventKind`)."""

    kind: EventKind
    step: int
    phase: str
    record: dict[str, Any] = field(default_factory=dict)
    checkpoint: Path | None = None
    rank: int = 0

    def __post_init__(self) -> None:
        # A misspelt kind fails where it is emitted, not silently in every callback.
        self.kind = EventKind(self.kind)


Callback = Callable[[TrainEvent], None]
