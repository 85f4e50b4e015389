"""``alignpt tag train`` and ``alignpt tag crossval``: fit a classifier, and measure a
training recipe on parts of the labelled data it never saw.

Both read labelled files the same way (``--labels`` calibrate, ``--fit-only`` do
not) and take the same backend options; ``crossval`` trains once per held-out part.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

__all__ = ["train_cmd", "crossval_cmd"]


def _console():
    from alignpt.core.console import console

    return console


def _backend_params(params: List[str], backend: str, base_model: Optional[Path]) -> dict:
    from alignpt.core.config import parse_overrides
    from alignpt.core.errors import ConfigError

    out = dict(parse_overrides(params))
    if base_model is not None:
        if backend != "hf":
            raise ConfigError("--base-model is for --backend hf")
        out["base_model"] = str(base_model)
    return out


def _training_data(labels: List[Path], fit_only: List[Path], split: Optional[str]):
    """(calibrating documents, fit-only documents or None) from the two file lists."""
    from alignpt.tag.labelled import load_labelled_many

    train = load_labelled_many(labels, split or None)
    fitted = load_labelled_many(fit_only, split or None).fit_only() if fit_only else None
    return train, fitted


# options both commands take, defined once
_BACKEND = typer.Option("hashed_linear", help="hashed_linear | fasttext | hf")
_BASE_MODEL = typer.Option(None, "--base-model", help="Local Hugging Face encoder folder to "
                           "fine-tune (--backend hf).")
_ALIGNED_MAX = typer.Option(None, "--aligned-max", help="The largest out-of-fold share of "
                            "ai_aligned documents the ai_misaligned threshold may tag "
                            "misaligned (default 0.1, the shipped model's rule).")
_RECALL_TARGET = typer.Option(None, "--recall-target", help="Instead of --aligned-max: the "
                              "out-of-fold recall on ai_misaligned the threshold must keep.")
_DECISION = typer.Option(None, "--decision", help="The model's own rule: 'threshold' "
                         "(p(ai_misaligned) alone; default) or 'direction' (whether the "
                         "document shows an AI's conduct and which way, asked apart; more "
                         "recall and more aligned documents removed; needs --aligned-max's "
                         "rule).")
_RULES = typer.Option(None, help="Rules YAML used to route documents (default: the shipped "
                      "rules); crossval also runs the cascade with it.")
_ALL_DOCS = typer.Option(False, "--all-docs", help="Train on every document, not only those "
                         "the rules route to the classifier.")
_PARAMS = typer.Option([], "--param", help="Backend parameter key=value, e.g. "
                       "n_features=65536, C=3, char_ngrams=null, epoch=30.")
_FOLDS = typer.Option(5, help="Cross-validation folds for calibration.")
_SEED = typer.Option(0)
_QUIET = typer.Option(False, "--quiet", "-q", help="No progress bar.")
_FIT_ONLY = typer.Option([], "--fit-only", help="Labelled files trained on but never used to "
                         "choose the temperature and threshold (repeatable): data written "
                         "unlike the text the filter will meet, e.g. deliberately hard "
                         "contrast pairs. crossval never holds them out.")


def train_cmd(
    labels: List[Path] = typer.Option(..., "--labels", "-l", help="Labelled JSONL (text, label, "
                                      "split; .jsonl.zst too); repeat to train on several files."),
    fit_only: List[Path] = _FIT_ONLY,
    out: Path = typer.Option(Path("tag-classifier"), "--out", "-o", help="Model folder."),
    split: Optional[str] = typer.Option("train", help="Train on records with this split "
                                        "('' = all records)."),
    heldout_split: Optional[str] = typer.Option("heldout", help="Measure on this split "
                                                "('' = none)."),
    backend: str = _BACKEND,
    base_model: Optional[Path] = _BASE_MODEL,
    aligned_max: Optional[float] = _ALIGNED_MAX,
    recall_target: Optional[float] = _RECALL_TARGET,
    decision: Optional[str] = _DECISION,
    rules: Optional[Path] = _RULES,
    all_docs: bool = _ALL_DOCS,
    params: List[str] = _PARAMS,
    folds: int = _FOLDS,
    seed: int = _SEED,
    quiet: bool = _QUIET,
) -> None:
    """Train the classifier; save it with its training metadata and measured P/R."""
    from alignpt.core.console import progress_bar
    from alignpt.core.errors import ConfigError
    from alignpt.core.outdir import OutputLock, check_output_apart
    from alignpt.tag.labelled import LabelledSet, load_labelled_many
    from alignpt.tag.training import routed_by_rules, train_classifier

    check_output_apart(out, [*labels, *fit_only, *([rules] if rules else []),
                             *([base_model] if base_model else [])])
    backend_params = _backend_params(params, backend, base_model)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file; the model is a folder")
    # held from the start: a second trainer into this folder stops before training
    with OutputLock(out):
        train, fitted = _training_data(labels, fit_only, split)
        if fitted is not None:
            train = LabelledSet.concat([train, fitted])
        heldout = (load_labelled_many([*labels, *fit_only], heldout_split)
                   if heldout_split else None)
        routed = None if all_docs else routed_by_rules(train.texts, rules)
        # one bar per fit (the calibration folds, then the final one); an encoder's
        # fits count optimizer steps, a linear backend's fit is one step
        with progress_bar(transient=True, disable=quiet) as bar:
            task = bar.add_task("training", total=None)

            def on_progress(what: str, done: int, total: int) -> None:
                bar.update(task, description=f"{backend}: {what}", completed=done, total=total)

            clf = train_classifier(train, backend=backend, heldout=heldout,
                                   recall_target=recall_target, aligned_max=aligned_max,
                                   seed=seed, routed=routed, params=backend_params,
                                   decision=decision,
                                   folds=folds, progress=on_progress)
        clf.save(out)
    rule = (f"{clf.decision}; threshold {clf.threshold:.4f} for overrides" if clf.decision
            else f"threshold {clf.threshold:.4f}")
    _console().print(f"saved {backend} classifier -> {out} ({rule}, temperature "
                     f"{clf.temperature:.3f})", highlight=False)
    for name in ("cross_validation", "heldout"):
        if name in clf.meta:
            _print_labels(name, clf.meta[name]["per_label"], clf.meta[name]["ai_misaligned"])


def crossval_cmd(
    labels: List[Path] = typer.Option(..., "--labels", "-l", help="Labelled JSONL whose records "
                                      "have a 'case' (the part each belongs to); every case is "
                                      "held out in turn. Repeatable."),
    fit_only: List[Path] = _FIT_ONLY,
    hold: List[str] = typer.Option([], "--hold", help="Hold out only these cases "
                                   "(repeatable; default: every case)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the report as JSON."),
    split: Optional[str] = typer.Option("train", help="Use records with this split "
                                        "('' = all records)."),
    backend: str = _BACKEND,
    base_model: Optional[Path] = _BASE_MODEL,
    aligned_max: Optional[float] = _ALIGNED_MAX,
    recall_target: Optional[float] = _RECALL_TARGET,
    decision: Optional[str] = _DECISION,
    rules: Optional[Path] = _RULES,
    all_docs: bool = _ALL_DOCS,
    params: List[str] = _PARAMS,
    folds: int = _FOLDS,
    seed: int = _SEED,
    quiet: bool = _QUIET,
) -> None:
    """Hold out each part (case) of the labelled data in turn; pool found and removed.

    Each held-out part is scored by the whole cascade after training on the other parts
    as `train` would; pooled counts come with 95% Wilson intervals."""
    from alignpt.core.atomic import atomic_write_text
    from alignpt.core.console import progress_bar
    from alignpt.tag.crossval import leave_one_group_out

    if out is not None:
        from alignpt.core.outdir import check_output_apart

        check_output_apart(out, [*labels, *fit_only, *([rules] if rules else [])])
    backend_params = _backend_params(params, backend, base_model)
    train, fitted = _training_data(labels, fit_only, split)
    with progress_bar(transient=True, disable=quiet) as bar:
        task = bar.add_task("crossval", total=None)

        def on_case(case: str, k: int, n: int) -> None:
            bar.update(task, description=f"holding out {case}", completed=k - 1, total=n)

        report = leave_one_group_out(
            train, fitted, hold=hold or None, rules=rules, all_docs=all_docs, progress=on_case,
            backend=backend, params=backend_params, aligned_max=aligned_max,
            recall_target=recall_target, decision=decision, folds=folds, seed=seed)
    _print_crossval(report)
    if out is not None:
        atomic_write_text(out, json.dumps(report, indent=1) + "\n")
        _console().print(f"report -> {out}", highlight=False)


def _print_crossval(report: dict) -> None:
    from rich.table import Table

    from alignpt.core.intervals import format_count_rate

    t = Table(title=f"{report['protocol']}: {report['source']}")
    # short headers: the table fits 80 columns beside the case names
    for col in ("case", "docs", "routed", "found", "removed", "threshold", "F1"):
        t.add_column(col, justify="left" if col == "case" else "right")
    for r in report["cases"]:
        t.add_row(r["case"], str(r["documents"]), f"{r['routed_misaligned']:.3f}",
                  "{}/{}".format(*r["misaligned_found"]), "{}/{}".format(*r["aligned_removed"]),
                  f"{r['threshold']:.4f}", f"{r['macro_f1']:.3f}")
    found, removed = report["pooled"]["misaligned_found"], report["pooled"]["aligned_removed"]
    t.caption = (f"pooled: misaligned found {format_count_rate(found)}; "
                 f"aligned removed {format_count_rate(removed)}")
    _console().print(t)


def _print_labels(title: str, table: dict, mis: dict | None = None) -> None:
    from rich.table import Table

    t = Table(title=title)
    for col in ("label", "precision", "recall", "F1", "support"):
        t.add_column(col, justify="left" if col == "label" else "right")
    for lab, row in table.items():
        t.add_row(lab, f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}",
                  str(row["support"]))
    if mis:
        t.caption = (f"ai_misaligned flagger: P {mis['precision']:.3f} R {mis['recall']:.3f} "
                     f"F1 {mis['f1']:.3f}, flag rate {mis['flag_rate']:.3f}")
    _console().print(t)


