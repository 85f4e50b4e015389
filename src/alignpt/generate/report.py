"""``alignpt generate report``: a finished run's stats, diversity and coverage, as tables
and figures. Reads only ``stats.json`` and ``report.json`` (never the documents), so it is
instant on any corpus size and works on a copy of those two files alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.table import Table

from alignpt.core.errors import DataError, require

__all__ = ["load_run", "render_tables", "write_figures"]


def load_run(out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    out = Path(out)
    try:
        stats = json.loads((out / "stats.json").read_text())
        report = json.loads((out / "report.json").read_text())
    except FileNotFoundError as exc:
        raise DataError("not a finished generate run (no stats.json / report.json)",
                        str(out)) from exc
    except json.JSONDecodeError as exc:
        raise DataError(f"unreadable run file ({exc.msg})", str(out)) from None
    return stats, report


def render_tables(stats: dict[str, Any], report: dict[str, Any]) -> list[Table]:
    run = stats.get("run", {})
    be = run.get("backend", {})
    t = Table(title="generation", show_header=False)
    t.add_row("documents planned / kept / pending",
              f"{stats['planned']:,} / {stats['kept']:,} / {stats['pending']:,}")
    t.add_row("dropped", ", ".join(f"{k}={v:,}" for k, v in stats["dropped_by_reason"].items())
              or "none")
    if "grounding" in stats:
        g = stats["grounding"]
        t.add_row("grounding records left out", ", ".join(
            f"{k}={v:,}" for k, v in g["skipped_by_reason"].items()) or "none")
    t.add_row("tokens (prompt + completion)",
              f"{stats['tokens']['prompt']:,} + {stats['tokens']['completion']:,}")
    t.add_row("cost", f"${stats['cost_usd']:,.4f}")
    t.add_row("requests sent / cache hits",
              f"{run.get('requests_sent', 0):,} / {run.get('cache_hits', 0):,}")
    t.add_row("retries", ", ".join(f"{k}={v}" for k, v in be.get("retries", {}).items()) or "0")
    if run.get("stopped"):
        t.add_row("stopped", run["stopped"])
    d = Table(title="diversity", show_header=False)
    d.add_row("distinct-n (corpus sample)",
              "  ".join(f"{n}: {v:.3f}" for n, v in report["distinct_n"].items()))
    d.add_row("distinct-n (per-document mean)",
              "  ".join(f"{n}: {v:.3f}" for n, v in report["distinct_n_per_doc_mean"].items()))
    d.add_row("compression ratio (gzip)", f"{report['compression_ratio']:.2f}")
    d.add_row("shared 8-gram fraction", f"{report['shared_8gram_frac']:.3f}")
    d.add_row("words per document (p10 / p50 / p90)",
              " / ".join(f"{report['words_all'].get(k, 0):,.0f}" for k in ("p10", "p50", "p90")))
    c = Table(title=f"coverage of requested axis values: {report['coverage']['overall']:.1%}")
    for col in ("axis", "covered", "fewest", "most", "missing"):
        c.add_column(col)
    for axis, a in report["coverage"]["axes"].items():
        counts = list(a["counts"].values()) or [0]
        c.add_row(axis, f"{a['covered']}/{a['requested']}", f"{min(counts):,}",
                  f"{max(counts):,}", ", ".join(a["missing"]) or "-")
    return [t, d, c]


def write_figures(stats: dict[str, Any], report: dict[str, Any], folder: Path) -> list[Path]:
    """Coverage per axis, words per genre and drop reasons as PNG files."""
    matplotlib = require("matplotlib", "plots", "report figures")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    axes = report["coverage"]["axes"]
    cols = 4
    rows = (len(axes) + cols - 1) // cols
    fig, grid = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows), squeeze=False)
    for ax, (name, a) in zip(grid.flat, axes.items()):
        labels = list(a["counts"])
        ax.barh(range(len(labels)), list(a["counts"].values()), color="#4C72B0")
        ax.set_yticks(range(len(labels)), [x.replace("_", " ") for x in labels], fontsize=7)
        ax.invert_yaxis()
        ax.set_title(f"{name} ({a['covered']}/{a['requested']})", fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
    for ax in list(grid.flat)[len(axes):]:
        ax.axis("off")
    fig.suptitle(f"Documents per axis value (coverage {report['coverage']['overall']:.0%})")
    fig.tight_layout()
    paths.append(folder / "coverage.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    genres = report.get("words_by_genre", {})
    if genres:
        fig, ax = plt.subplots(figsize=(8, 4))
        names = list(genres)
        p50 = [genres[g].get("p50", 0) for g in names]
        lo = [p - genres[g].get("p10", p) for g, p in zip(names, p50)]
        hi = [genres[g].get("p90", p) - p for g, p in zip(names, p50)]
        ax.bar(range(len(names)), p50, yerr=[lo, hi], capsize=3, color="#55A868")
        ax.set_xticks(range(len(names)), [g.replace("_", " ") for g in names], rotation=45,
                      ha="right", fontsize=8)
        ax.set_ylabel("words (median, p10-p90)")
        ax.set_title("Document length by genre")
        fig.tight_layout()
        paths.append(folder / "length_by_genre.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)

    reasons = stats.get("dropped_by_reason", {})
    fig, ax = plt.subplots(figsize=(6, 3))
    labels = ["kept", *reasons]
    values = [stats.get("kept", 0), *reasons.values()]
    ax.barh(labels, values, color=["#55A868"] + ["#C44E52"] * len(reasons))
    ax.invert_yaxis()
    ax.set_title("Quality filter and dedup outcomes")
    fig.tight_layout()
    paths.append(folder / "filters.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths
