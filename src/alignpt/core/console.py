"""Terminal output shared by the CLI and long-running stages: one console, one progress style."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, SpinnerColumn,
                           Task, TextColumn, TimeElapsedColumn, TimeRemainingColumn)
from rich.text import Text

__all__ = ["console", "err_console", "progress_bar", "RateColumn"]

console = Console()
err_console = Console(stderr=True)


class RateColumn(ProgressColumn):
    """Shows a rate from a task field, e.g. documents/s and MB/s, next to the bar."""

    def __init__(self, field: str, unit: str, scale: float = 1.0):
        super().__init__()
        self.field, self.unit, self.scale = field, unit, scale

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        value = task.fields.get(self.field, 0) / self.scale
        rate = value / elapsed if elapsed > 0 else 0.0
        return Text(f"{rate:,.1f} {self.unit}", style="progress.data.speed")


@contextmanager
def progress_bar(*extra: ProgressColumn, transient: bool = False,
                 disable: bool = False) -> Iterator[Progress]:
    """A rich progress bar writing to stderr; extra columns show rates or metrics."""
    with Progress(SpinnerColumn(), TextColumn("[progress.description]{task.description}"),
                  BarColumn(), MofNCompleteColumn(), *extra, TimeElapsedColumn(),
                  TimeRemainingColumn(), console=err_console, transient=transient,
                  disable=disable) as prog:
        yield prog
