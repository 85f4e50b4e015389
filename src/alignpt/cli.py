"""The ``alignpt`` command line.

Exit codes: 0 success; 2 a user, data or config error (one line, no traceback);
1 a bug (traceback kept, since that is what a bug report needs).
"""

from __future__ import annotations

import sys

import typer

from alignpt.cli_support import invoke

app = typer.Typer(
    name="alignpt",
    help="Alignment pretraining: tag, filter, generate, mix, train, evaluate and run experiments.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        from alignpt import __version__

        typer.echo(__version__)
        raise typer.Exit(0)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", is_eager=True,
                                       callback=_print_version,
                                       help="Print the version and exit.")) -> None:
    """Alignment pretraining: tag, filter, generate, mix, train, evaluate and run experiments."""


def _register_subcommands() -> None:
    # Each area owns its commands; importing them is cheap (heavy libraries
    # such as torch are imported inside the commands that need them).
    from alignpt.evaluate.cli import eval_app, eval_command
    from alignpt.experiment.cli import experiment_app
    from alignpt.experiment.law_cli import law_app
    from alignpt.filter.cli import filter_cmd
    from alignpt.generate.cli import generate_app
    from alignpt.mix.cli import mix_app, tokenizer_app
    from alignpt.convert.cli import app as shards_app
    from alignpt.tag.cli import tag_app
    from alignpt.train.cli import export_hf, train_app
    from alignpt.world.cli import bayes_app, world_app

    app.add_typer(shards_app, name="shards")
    app.add_typer(world_app, name="world")
    app.add_typer(bayes_app, name="bayes")
    app.add_typer(train_app, name="train")
    app.command("export-hf")(export_hf)
    app.add_typer(tag_app, name="tag")
    app.command("filter")(filter_cmd)
    app.add_typer(generate_app, name="generate")
    app.add_typer(tokenizer_app, name="tokenizer")
    app.add_typer(mix_app, name="mix")
    app.command("eval")(eval_command)
    app.add_typer(eval_app, name="eval-suite")
    app.add_typer(experiment_app, name="experiment")
    app.add_typer(law_app, name="law")


_register_subcommands()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (see the module docstring)."""
    return invoke(app, argv, "alignpt")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
