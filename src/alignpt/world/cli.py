"""Command line for the persona world (``alignpt world ...``) and exact Bayes
(``alignpt bayes ...``). The main CLI registers ``world_app`` and ``bayes_app``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import List, Optional

import numpy as np
import typer

from alignpt.core.console import console
from alignpt.core.errors import ConfigError, DataError, require

__all__ = ["world_app", "bayes_app"]

world_app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False,
                        help="The persona world: generate corpora, describe recipes, check output.")
bayes_app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False,
                        help="Exact Bayes for persona priors and world recipes.")

EXAMPLE_PRIOR = "luigi=0.6,random(p=0.05)=0.2,clever(d=0.5)=0.2"


def _recipe(name: str, inject: List[str], filtered: bool, overrides: List[str]):
    """Recipe from a name/path, with overrides, optional filtering and injections."""
    from alignpt.world.recipe import filter_defecting, inject as do_inject, load_world_recipe
    from alignpt.world.recipe import parse_injections

    recipe = load_world_recipe(name, overrides)
    if filtered:
        recipe = filter_defecting(recipe)
    if inject:
        recipe = do_inject(recipe, parse_injections(inject))
    return recipe


_INJECT = typer.Option([], "--inject", help="Add a shipped/YAML recipe at a token share, e.g. i_u=0.1 "
                       "(repeatable).")
_FILTERED = typer.Option(False, "--filtered", help="Drop (and refill) every document of the base "
                         "recipe that shows a defection; exact Bayes conditions on it.")
_SET = typer.Option([], "--set", help="Override a recipe value, e.g. sources.base.length.max=60.")


@world_app.command("generate")
def generate_cmd(
    recipe: str = typer.Argument(..., help="Recipe name (base, i_u, ...) or YAML path."),
    tokens: int = typer.Option(..., "--tokens", help="Token budget (the last document is whole)."),
    seed: int = typer.Option(0, "--seed", help="Seed; the output is a function of recipe and seed."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    shard_tokens: Optional[int] = typer.Option(None, "--shard-tokens", help="Tokens per shard."),
    inject: List[str] = _INJECT, filtered: bool = _FILTERED, overrides: List[str] = _SET,
    force: bool = typer.Option(False, "--force", help="Replace a corpus already in --out."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Write a world corpus: token shards, latent labels, config.yaml and stats.json."""
    from alignpt.world.generate import generate_corpus

    res = generate_corpus(_recipe(recipe, inject, filtered, overrides), tokens, seed, out,
                          shard_tokens=shard_tokens, force=force, progress=not quiet)
    st = res.stats
    console.print(f"wrote {st['tokens']:,} tokens, {st['documents']:,} documents in {st['shards']} "
                  f"shard(s) to {out} ({st['tokens_per_second']:,.0f} tokens/s)")
    for name, s in st["sources"].items():
        console.print(f"  {name}: {s['token_share']:.3f} of tokens (target {s['target_token_share']:.3f}), "
                      f"{s['documents']:,} documents, {s['defections']:,} defections")


@world_app.command("describe")
def describe_cmd(
    recipe: str = typer.Argument(..., help="Recipe name or YAML path."),
    inject: List[str] = _INJECT, filtered: bool = _FILTERED, overrides: List[str] = _SET,
    era: Optional[int] = typer.Option(None, "--era", help="Era of the probes (default: the most likely)."),
    header: str = typer.Option("auto", "--header", help="Header of the probes: a name, none, or auto."),
    ks: str = typer.Option("0,1,2,4,8,16,32,64", "--ks", help="Comma-separated k values."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Corpus statistics and the exact answers to the standard probes."""
    from alignpt.world.describe import describe_recipe, render_description

    hdr = None if header.lower() == "none" else header
    desc = describe_recipe(_recipe(recipe, inject, filtered, overrides), _int_list(ks), era, hdr)
    if as_json:
        import orjson

        typer.echo(orjson.dumps(desc, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_INDENT_2).decode())
        return
    if desc["description"]:
        console.print(desc["description"])
    for table in render_description(desc):
        console.print(table)


@world_app.command("check")
def check_cmd(
    folder: Path = typer.Argument(..., help="Folder written by 'alignpt world generate'."),
    alpha: float = typer.Option(1e-3, "--alpha", help="Significance level of each test."),
) -> None:
    """Test a generated corpus against its recipe (chi-square per latent and per persona)."""
    from rich.table import Table

    from alignpt.world.check import verify_corpus

    results = verify_corpus(folder)
    table = Table(title=f"{folder}: goodness of fit against the recipe")
    for col in ("test", "chi2", "dof", "p"):
        table.add_column(col, justify="left" if col == "test" else "right")
    for r in results:
        table.add_row(r.name, f"{r.statistic:.2f}", str(r.dof),
                      f"[red]{r.p_value:.3g}[/]" if r.p_value < alpha else f"{r.p_value:.3g}")
    console.print(table)
    failed = [r.name for r in results if r.p_value < alpha]
    if failed:
        raise DataError(f"{len(failed)} of {len(results)} tests reject at alpha={alpha}: "
                        f"{', '.join(failed)}", str(folder))


@world_app.command("recipes")
def recipes_cmd() -> None:
    """List the shipped world recipes."""
    from alignpt.world.recipe import list_world_recipes, load_world_recipe

    for name in list_world_recipes():
        console.print(f"[bold]{name}[/]: {load_world_recipe(name).description}", highlight=False)


def _int_list(text: str) -> list[int]:
    try:
        out = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"expected comma-separated integers, got {text!r}") from None
    if not out or min(out) < 0:
        raise ConfigError("k values must be non-negative integers")
    return out


@bayes_app.command("half-life")
def half_life_cmd(
    p: float = typer.Option(..., "--p", help="Random Waluigi's defection probability."),
    eps: float = typer.Option(0.0, "--eps", help="Luigi's error rate."),
    factor: float = typer.Option(1000.0, "--factor", help="Odds reduction to report."),
) -> None:
    """Half-life of a random Waluigi against Luigi, and related odds arithmetic."""
    from alignpt.world.analytic import half_life, odds_factor_of_defection, opportunities_to_cut

    console.print(f"half-life k_1/2 = ln 2 / -ln((1-p)/(1-eps)) = {half_life(p, eps):.2f} clean "
                  f"opportunities (p={p:g}, eps={eps:g})", highlight=False)
    console.print(f"clean opportunities to cut the odds W:L by {factor:g}: "
                  f"{opportunities_to_cut(factor, p, eps):.1f}", highlight=False)
    odds = odds_factor_of_defection(p, eps)
    console.print("one defection multiplies the odds W:L by p/eps = "
                  + ("infinity (eps = 0: a single defection rules Luigi out)" if math.isinf(odds)
                     else f"{odds:.4g}"), highlight=False)


def _bayes_for(prior: Optional[str], recipe: Optional[str]):
    from alignpt.world.analytic import bare_recipe
    from alignpt.world.bayes import ExactBayes

    if (prior is None) == (recipe is None):
        raise ConfigError("give exactly one of --prior (bare persona prior) or --recipe")
    return ExactBayes(bare_recipe(prior) if prior is not None else recipe)


@bayes_app.command("posterior")
def posterior_cmd(
    prior: Optional[str] = typer.Option(None, "--prior", help=f"Bare persona prior, e.g. '{EXAMPLE_PRIOR}'."),
    recipe: Optional[str] = typer.Option(None, "--recipe", help="A world recipe instead of a bare prior."),
    history: str = typer.Option("", "--history", help="e.g. 'T:C*40,U:C*5' (a trailing bare flag is pending)."),
    era: int = typer.Option(0, "--era"), header: str = typer.Option("none", "--header"),
) -> None:
    """Exact persona posterior after a history, and P(defect) at the next opportunity."""
    from rich.table import Table

    from alignpt.world.vocab import C, D, T, U, context_tokens, parse_history

    bayes = _bayes_for(prior, recipe)
    hist = parse_history(history)
    pending = hist[-1][0] if hist and hist[-1][1] is None else None
    done = hist[:-1] if pending is not None else hist
    hdr = None if header.lower() == "none" else header
    ctx = context_tokens(done, era=era, header=hdr)
    post = bayes.posterior([ctx])
    if not np.isfinite(post.log_evidence[0]):
        raise DataError("the history has probability 0 under this world", history or "<empty>")
    nexts = [pending] if pending is not None else [False, True]
    probs = bayes.predictive([np.append(ctx, U if u else T) for u in nexts])
    table = Table(title=f"posterior after {len(done)} opportunities (log10 P(context) = "
                        f"{post.log_evidence[0] / math.log(10):.2f})")
    table.add_column("persona")
    table.add_column("posterior", justify="right")
    for name, mass in post.by_persona().items():
        table.add_row(name, f"{mass[0]:.6g}")
    console.print(table)
    if recipe is not None:
        for what, groups in (("source", post.by_source()), ("regime", post.by_regime())):
            console.print(f"{what}: " + ", ".join(f"{k} {v[0]:.4g}" for k, v in groups.items()),
                          highlight=False)
    for u, row in zip(nexts, probs):
        q = row[D] / (row[C] + row[D])
        console.print(f"P(D | next flag {'U' if u else 'T'}) = {q:.6g}", highlight=False)


@bayes_app.command("curve")
def curve_cmd(
    prior: Optional[str] = typer.Option(None, "--prior", help="Bare persona prior."),
    recipe: Optional[str] = typer.Option(None, "--recipe", help="A world recipe instead."),
    k_max: int = typer.Option(100, "--k-max", help="Largest number of clean opportunities."),
    era: int = typer.Option(0, "--era"), header: str = typer.Option("none", "--header"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write a PNG of the curves."),
    csv: Optional[Path] = typer.Option(None, "--csv", help="Write the curves as CSV."),
) -> None:
    """P(D | U) and the persona posterior against k clean tested vs untested opportunities."""
    from alignpt.world.curves import curve_table, exact_curves, plot_curves, print_curves

    if k_max < 1:
        raise ConfigError("--k-max must be at least 1")
    bayes = _bayes_for(prior, recipe)
    curves = exact_curves(bayes, k_max, era, None if header.lower() == "none" else header)
    print_curves(curves)
    if csv is not None:
        from alignpt.core.atomic import atomic_write_text

        atomic_write_text(csv, curve_table(curves))
        console.print(f"wrote {csv}")
    if plot is not None:
        require("matplotlib", "plots", "bayes curve --plot")
        plot_curves(curves, plot, title=recipe or prior)
        console.print(f"wrote {plot}")
