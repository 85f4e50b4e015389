"""What every ``alignpt`` command group shares: a default ``run`` subcommand and exit codes."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import typer
from typer import _click as click
from typer.core import TyperGroup

from alignpt.core.errors import AlignptError

__all__ = ["DefaultRunGroup", "invoke"]


class DefaultRunGroup(TyperGroup):
    """A group whose first argument may be the target of its ``run`` command.

    Click has no default subcommand. ``alignpt train PLAN.yaml`` becomes
    ``alignpt train run PLAN.yaml`` when the first argument is not a subcommand
    and is either an option of ``run`` (options may come first) or looks like a
    path (an existing file or folder, or anything with a dot, slash or glob
    character). A bare word close to a subcommand is left to click, so a typo still
    gets "No such command 'inspct'. Did you mean 'inspect'?"; any other bare word is
    neither (every ``run`` takes a path first), and the one-line error says so.
    """

    default_command = "run"

    def _routes(self, first: str) -> bool:
        if not first or first in self.commands or first in ("--help", "-h"):
            return False
        return (first.startswith("-") or any(ch in first for ch in "./*?[")
                or Path(first).exists())

    def parse_args(self, ctx, args):  # type: ignore[override]
        # Routed before click parses the group's own options, so `--set k=v PLAN`
        # reaches `run` instead of failing as an unknown group option.
        if args and self._routes(args[0]):
            args = [self.default_command, *args]
        elif args and args[0] not in self.commands and not args[0].startswith("-"):
            # the same closeness test click uses for its "Did you mean" suggestion
            if not difflib.get_close_matches(args[0], list(self.commands)):
                raise AlignptError(f"no such command or path '{args[0]}' (commands: "
                                   f"{', '.join(self.commands)})")
        return super().parse_args(ctx, args)


def invoke(app: typer.Typer, argv: list[str] | None, prog_name: str) -> int:
    """Run a typer app; map outcomes to exit codes: 0 ok, 2 user/data/config error (one
    line, no traceback), 130 interrupted. Anything else is a bug and propagates (exit 1)."""
    from alignpt.core.console import err_console

    try:
        result: Any = app(args=argv, prog_name=prog_name, standalone_mode=False)
    except AlignptError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        return 2
    except click.exceptions.UsageError as exc:
        exc.show()
        return 2
    except click.exceptions.ClickException as exc:
        exc.show()
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("interrupted")
        return 130
    except BrokenPipeError:
        return 0
    return result if isinstance(result, int) else 0
