"""``alignpt law``: fit a dose-response law on experiment folders, predict a configuration.

``law fit RUN_DIRS... --out DIR`` reads each experiment folder's finished runs (a recipe
with a ``law:`` sweep contributes its configurations; any other recipe its unfiltered
arms that inject nothing or one corpus), fits the candidate forms with the choice rule
stated in advance, runs the share-or-count test, checks the held-out configurations and
writes ``law.json``, ``law.md``, ``config.yaml`` and the figures. ``law predict LAW.json``
then predicts any (share, tokens, parameters) with its interval.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import numpy as np
import typer

from alignpt.core.console import console
from alignpt.core.errors import ConfigError

if TYPE_CHECKING:       # the CLI imports the experiment lazily, inside each command
    from alignpt.experiment.law_results import LawSummary

law_app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False,
                      help="Dose-response laws: fit on cheap runs, predict a larger one.")


def _folder_data(folder: Path, inject: str | None, heldout: list[str]):
    from alignpt.experiment.aggregate import aggregate
    from alignpt.experiment.law_data import law_data
    from alignpt.experiment.posttrain_report import split_results
    from alignpt.experiment.state import load_state

    if not (folder / "experiment.yaml").exists():
        raise ConfigError(f"{folder}: not an experiment folder (no experiment.yaml)")
    state = load_state(folder)
    results, _ = split_results([s.result for s in state.runs if s.result is not None])
    if not results:
        raise ConfigError(f"{folder}: no finished runs yet")
    table = aggregate(results, list(state.recipe.arms))
    mine = tuple(h for h in heldout if h in state.recipe.arms)
    return state.recipe, law_data(state.recipe, table, folder, inject, mine)


def merge(datas: list, labels: list[str]):
    """Several folders' law data as one: points side by side (named ``label/arm`` when
    there is more than one folder), seeds the union (a seed a folder lacks is missing)."""
    from alignpt.law.data import LawData, LawPoint

    if len(datas) == 1:
        return datas[0]
    seeds = sorted({s for d in datas for s in d.seeds})
    points, rows, bayes = [], [], []
    for d, label in zip(datas, labels):
        col = {s: j for j, s in enumerate(d.seeds)}
        for i, p in enumerate(d.points):
            points.append(LawPoint(name=f"{label}/{p.name}", share=p.share, tokens=p.tokens,
                                   params=p.params, schedule=p.schedule, heldout=p.heldout))
            rows.append([d.y[i, col[s]] if s in col else math.nan for s in seeds])
            bayes.append(d.bayes[i])
    return LawData(points=points, seeds=seeds, y=np.array(rows, dtype=np.float64),
                   bayes=np.array(bayes, dtype=np.float64), response=datas[0].response)


@law_app.command("fit")
def fit_cmd(
    folders: List[Path] = typer.Argument(..., help="Experiment folders (finished runs are read)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for law.json, law.md and figures."),
    inject: Optional[str] = typer.Option(None, help="Without a law: sweep, the injected corpus "
                                         "whose arms make the law (default: the most common)."),
    heldout: List[str] = typer.Option([], "--heldout", help="An arm never used to fit (repeat)."),
    forms: str = typer.Option("share_saturating,count_saturating,share_linear",
                              help="Candidate forms, comma-separated."),
    tolerance: float = typer.Option(0.05, help="Parsimony tolerance of the choice rule."),
    n_boot: int = typer.Option(1000, "--n-boot", help="Bootstrap replicates (over seeds)."),
    margin: float = typer.Option(0.5, help="Share-or-count margin on rho."),
    alpha: float = typer.Option(0.05, help="Share-or-count alpha (one-sided, each side)."),
) -> None:
    """Fit the law, test share against count, check held-out configurations."""
    import orjson

    from alignpt.core.atomic import atomic_write_text
    from alignpt.core.config import provenance, write_resolved_config
    from alignpt.experiment.law_plots import law_plots
    from alignpt.experiment.law_report import bayes_curve, summarize
    from alignpt.law.forms import FORMS
    from alignpt.core.outdir import OutputLock, check_output_apart

    check_output_apart(out, folders, what="experiment folder")
    names = [f.strip() for f in forms.split(",") if f.strip()]
    unknown = [f for f in names if f not in FORMS]
    if unknown or not names:
        raise ConfigError(f"--forms: unknown form(s) {', '.join(unknown) or '(none)'} "
                          f"(known: {', '.join(FORMS)})")
    if n_boot < 100:
        raise ConfigError(f"--n-boot {n_boot}: use at least 100 replicates")
    if not 0 < tolerance < 1 or margin <= 0 or not 0 < alpha < 0.5:
        raise ConfigError("--tolerance must be in (0, 1), --margin > 0, --alpha in (0, 0.5)")
    datas, labels, recipes = [], [], []
    for folder in folders:
        recipe, data = _folder_data(folder, inject, heldout)
        if data is None:
            raise ConfigError(f"{folder}: fewer than two configurations carry the P(D|U) reading")
        datas.append(data), labels.append(folder.name), recipes.append(recipe)
    have = {p.name.split("/")[-1] for d in datas for p in d.points}
    missing = sorted(set(heldout) - have)
    if missing:
        raise ConfigError(f"--heldout: no configuration named {', '.join(missing)}")
    data = merge(datas, labels)
    settings = {"forms": names, "tolerance": tolerance, "n_boot": n_boot, "margin": margin,
                "alpha": alpha}
    with OutputLock(out):
        summary = summarize(data, settings)
        if len(recipes) == 1 and recipes[0].law is not None and recipes[0].kind != "shards":
            summary = replace(summary, bayes_curve=bayes_curve(recipes[0], data))
        report = {"law": summary, "folders": [str(f) for f in folders], **provenance()}
        body = {**report, "law": summary.to_json()}
        atomic_write_text(out / "law.json", orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
        write_resolved_config(out, settings, inputs=[str(f) for f in folders])
        plots = law_plots(report, out)
        atomic_write_text(out / "law.md", render_law_markdown(report, plots))
    _print_summary(summary, out)


def render_law_markdown(report: dict, plots: dict[str, Path]) -> str:
    """The law's sections as markdown (the experiment report's own tables and notes)."""
    from alignpt.experiment.law_plots import LAW_FIGURES
    from alignpt.experiment.report_sections import SECTIONS

    parts = ["# Dose-response law", "", f"Response: {report['law'].response}.", ""]
    for sec in SECTIONS:
        if not sec.anchor.startswith("law-"):
            continue
        rows = sec.rows(report)
        if rows:
            head = "| " + " | ".join(sec.head) + " |\n|" + "---|" * len(sec.head)
            body = "\n".join("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows)
            parts += [f"## {sec.title}", "", sec.note, "", head, body, ""]
    for name, path in plots.items():
        parts += [f"![{name}]({path.name})", "", LAW_FIGURES.get(name, ""), ""]
    return "\n".join(parts) + "\n"


def _print_summary(summary: LawSummary, out: Path) -> None:
    fit = summary.fit
    if fit is None:
        console.print(f"no law fitted: {summary.fit_error}", highlight=False)
    else:
        console.print(f"law: {fit.form} on {fit.n_points} configurations x "
                      f"{fit.n_seeds} seeds", highlight=False)
    for h in summary.heldout:
        p = h.predicted
        verdict = "n/a" if h.held is None else "held" if h.held else \
            f"did not hold (by {h.miss_prob:.4f})"
        measured = h.measured_prob if h.measured_prob is None else round(h.measured_prob, 4)
        console.print(f"held out {h.name}: predicted {p.prob:.4f} "
                      f"[{p.prob_low:.4f}, {p.prob_high:.4f}], measured {measured}"
                      f": {verdict}", highlight=False)
    sc = summary.share_or_count
    console.print(f"share or count: network {sc.verdict}, exact Bayes "
                  f"{sc.verdict_bayes}", highlight=False)
    console.print(f"written: {out / 'law.json'}, {out / 'law.md'}", highlight=False)


@law_app.command("predict")
def predict_cmd(
    law: Path = typer.Argument(..., help="law.json written by `alignpt law fit`."),
    share: float = typer.Option(..., help="Injected share of pretraining tokens, in [0, 1)."),
    tokens: str = typer.Option(..., help="Pretraining tokens (e.g. 1.2M)."),
    params: str = typer.Option(..., help="Model parameters (e.g. 60k)."),
    level: float = typer.Option(0.95, help="Prediction interval level."),
) -> None:
    """Predict P(D|U) for one configuration, with its prediction interval."""
    import orjson

    from alignpt.law.fit import LawFit
    from alignpt.train.config import parse_count

    if not law.is_file():
        raise ConfigError(f"{law}: no such file (run `alignpt law fit` first)")
    try:
        body = orjson.loads(law.read_bytes())
        fit_json = body["law"]["fit"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise ConfigError(f"{law}: not a law.json written by `alignpt law fit` ({exc})") from None
    if fit_json is None:
        raise ConfigError(f"{law}: holds no fitted law ({body['law'].get('fit_error')})")
    if not 0 <= share < 1 or not 0 < level < 1:
        raise ConfigError("--share must be in [0, 1) and --level in (0, 1)")
    try:
        n_tokens, n_params = parse_count(tokens), parse_count(params)
    except ValueError as exc:
        raise ConfigError(f"--tokens / --params: {exc}") from None
    if n_tokens <= 0 or n_params <= 0:
        raise ConfigError("--tokens and --params must be positive")
    fit = LawFit.from_json(fit_json)
    pred = fit.predict(share, n_tokens, n_params, level=level)
    console.print(f"{fit.form}: P(D|U) {pred.prob:.4f} [{pred.prob_low:.4f}, {pred.prob_high:.4f}] "
                  f"({round(100 * level)}% PI) at share {share:g}, {n_tokens:,} tokens, "
                  f"{n_params:,} parameters", highlight=False)
