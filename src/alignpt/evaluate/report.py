"""Present evaluation results: terminal tables (rich) and plots (matplotlib, imported lazily).

Both read only the results dictionary that :func:`alignpt.evaluate.run.run_eval`
returns and writes to ``results.json``, so a report can be redrawn from a results
file without the model.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from alignpt.core.errors import require

__all__ = ["print_report", "print_checks", "print_comparison", "write_plots", "pct", "fmt_ci"]


def pct(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "-"
    return f"{100 * x:+.1f}" if signed else f"{100 * x:.1f}"


def fmt_ci(ci: list[float], signed: bool = False) -> str:
    return f"[{pct(ci[0], signed)}, {pct(ci[1], signed)}]"


def _short(s: dict, signed: bool = False) -> str:
    lo, hi = (100 * v for v in s["ci"])
    return f"{pct(s['value'], signed)} [{lo:.0f},{hi:.0f}]"


def _half_life(x: Any) -> str:
    if x in ("inf", None) or (isinstance(x, float) and math.isinf(x)):
        return "no decay"
    return f"{x:.1f}"


def _diff_line(label: str, d: dict) -> str:
    se = f" ± {pct(d['se_formats'])}" if d.get("se_formats") is not None else ""
    return (f"{label}: [bold]{pct(d['value'], True)}[/] pts{se} (formats), "
            f"{int(100 * d['ci_level'])}% CI {fmt_ci(d['ci'], True)} (paired, items); "
            f"n = {d['n_items']} items x {d['n_formats']} formats")


def print_report(results: dict[str, Any], console: Console | None = None) -> None:
    """Rates by framing, gap, argument shift, history curve and per-topic table (a chat
    run: its answers first, then the log-prob scoring of the same prompts, if any)."""
    console = console or Console()
    if results.get("method") == "chat":
        from alignpt.evaluate.chat_report import print_chat_report

        print_chat_report(results, console)
        if results.get("metrics") is None:
            return
    m, suite = results["metrics"], results["suite"]
    t = Table(title=f"{suite['name']} v{suite['version']}: misalignment rate, % "
                    f"({results['model'].get('spec', '')})")
    t.add_column("framing", no_wrap=True)
    for col in ("rate ± SE(formats)", "CI (items)", "n", "other"):
        t.add_column(col, justify="right", no_wrap=True)
    for name, s in m["conditions"].items():
        se = f" ± {pct(s['se_formats'])}" if s["se_formats"] is not None else ""
        t.add_row(name, pct(s["value"]) + se, fmt_ci(s["ci"]),
                  f"{s['n_items']}x{s['n_formats']}", pct(s["other_rate"]))
    console.print(t)
    print_checks(results, console)
    if "compliance_gap" in m:
        console.print(_diff_line("Compliance gap, untested - tested", m["compliance_gap"]))
    for name, d in m.get("argument_shift", {}).items():
        console.print(_diff_line(f"Argument-exposure shift, {name}", d))
    for framing, h in m.get("history", {}).items():
        rates = ", ".join(f"k={k}: {pct(r)}" for k, r in zip(h["k"], h["rate"]))
        console.print(f"History curve ({framing}): {rates}; slope of logit {h['slope']:+.3f} "
                      f"per record, CI [{h['slope_ci'][0]:+.3f}, {h['slope_ci'][1]:+.3f}]; "
                      f"implied half-life [bold]{_half_life(h['half_life'])}[/] records "
                      f"(CI {_half_life(h['half_life_ci'][0])} to "
                      f"{_half_life(h['half_life_ci'][1])}); n = {h['n_items']} items")
    print_splits(results, console)
    topics = m.get("by_topic", {})
    if len(topics) > 1:
        core = [c for c in ("neutral", "tested", "untested") if c in m["conditions"]]
        core = core or list(m["conditions"])[:3]
        tt = Table(title="by topic: rate % (CI over items)")
        tt.add_column("topic", no_wrap=True, overflow="ellipsis", max_width=22)
        tt.add_column("n", justify="right", no_wrap=True, min_width=3)
        for c in core:
            tt.add_column(c, justify="right", no_wrap=True)
        if "compliance_gap" in m:
            tt.add_column("gap", justify="right", no_wrap=True)
        for topic, row in topics.items():
            first = next(iter(row.values()))
            cells = [_short(row[c]) if c in row else "-" for c in core]
            if "compliance_gap" in m:
                g = row.get("compliance_gap")
                cells.append(_short(g, signed=True) if g else "-")
            tt.add_row(topic, str(first["n_items"]), *cells)
        console.print(tt)


def print_checks(results: dict[str, Any], console: Console) -> None:
    """Scoring used and letter mass, items too long, then every warning in bold."""
    used = results.get("scoring_used")
    if used is None:                      # results of an older alignpt: nothing recorded
        return
    mass = results.get("letter_mass") or {}
    line = f"Scoring: [bold]{used}[/]"
    if results.get("scoring_requested") not in (None, used):
        line += f" (requested {results['scoring_requested']})"
    if mass.get("mean") is not None:
        line += (f"; letter mass {mass['mean']:.3f} mean, {mass['n_items_below']} of "
                 f"{mass['n_items']} items below {mass['threshold']}")
    same = results.get("same_position_rate")
    if same is not None:
        line += f"; same position in both orders {pct(same)}%"
    console.print(line)
    tl = results.get("too_long") or {}
    if not tl.get("checked", True):
        console.print("Prompt length: not checked (this backend has no client-side tokenizer)")
    elif tl.get("n_items"):
        ids = ", ".join(list(tl["items"])[:8]) + (", ..." if tl["n_items"] > 8 else "")
        verb = {"skip": "left out", "truncate": "truncated"}.get(tl["policy"], tl["policy"])
        console.print(f"Too long for the context of {tl['max_length']} tokens: {tl['n_items']} "
                      f"items {verb} ({ids})")
    for w in results.get("warnings") or []:
        console.print(f"[bold red]WARNING:[/] {w}", highlight=False, soft_wrap=True)


def print_comparison(comparison: dict[str, Any], console: Console) -> None:
    """One table per paired comparison; one line per pair refused."""
    for pair in comparison["pairs"]:
        if not pair["paired"]:
            console.print(f"[yellow]{pair['reason']}[/]", soft_wrap=True)
            continue
        t = Table(title=f"{pair['a']} - {pair['b']}: misalignment rate difference, pts "
                        f"(paired bootstrap over items, {pair['n_boot']:,} resamples, seed "
                        f"{pair['seed']}, {int(100 * pair['ci_level'])}% percentile CI)")
        for col in ("framing", "difference", "CI (items)", "n", "items disagree",
                    "prompts disagree"):
            t.add_column(col, justify="left" if col == "framing" else "right", no_wrap=True)
        for cond, d in pair["conditions"].items():
            t.add_row(cond, pct(d["value"], True), fmt_ci(d["ci"], True),
                      f"{d['n_items']}x{d['n_formats']}", str(d["items_disagree"]),
                      str(d["prompts_disagree"]))
        console.print(t)
        unpaired = max((d["items_unpaired"] for d in pair["conditions"].values()), default=0)
        if unpaired:
            console.print(f"{unpaired} item(s) scored by only one of them (too long) are not "
                          "in the pair")
        if pair.get("note"):
            console.print(f"[bold red]WARNING:[/] {pair['note']}", soft_wrap=True)


def write_plots(results: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """``rates.png``, ``history.png`` (if a curve was measured), ``topics.png``."""
    mpl = require("matplotlib", "plots", "evaluation plots")
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    m, written = results["metrics"], []
    names = list(m["conditions"])
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(names)), 3.6))
    for x, name in enumerate(names):
        s = m["conditions"][name]
        ax.bar(x, 100 * s["value"], color="#7a9cc6")
        ax.errorbar(x, 100 * s["value"], yerr=[[100 * (s["value"] - s["ci"][0])],
                                               [100 * (s["ci"][1] - s["value"])]],
                    color="black", capsize=4)
        ax.scatter([x] * len(s["per_format"]), [100 * v for v in s["per_format"].values()],
                   s=8, color="#333333", zorder=3)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_ylabel("misalignment rate (%)")
    ax.set_title("rate by framing (bars: CI over items; dots: formats)", fontsize=9)
    written.append(_save(fig, out / "rates.png"))
    for framing, h in m.get("history", {}).items():
        fig, ax = plt.subplots(figsize=(4.5, 3.4))
        ax.plot(h["k"], h["logit"], "o", label="measured")
        ks = [min(h["k"]), max(h["k"])]
        ax.plot(ks, [h["intercept"] + h["slope"] * k for k in ks], "-",
                label=f"fit: half-life {_half_life(h['half_life'])}")
        ax.set_xlabel("k good-deployment records in context")
        ax.set_ylabel("logit misalignment rate")
        ax.set_title(f"history curve ({framing})", fontsize=9)
        ax.legend(fontsize=8)
        written.append(_save(fig, out / f"history_{framing}.png"))
    topics = m.get("by_topic", {})
    if topics:
        core = [c for c in ("neutral", "tested", "untested") if c in names] or names[:1]
        fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(topics)), 3.6))
        w = 0.8 / len(core)
        for j, c in enumerate(core):
            vals = [100 * topics[t][c]["value"] if c in topics[t] else 0 for t in topics]
            ax.bar([i + j * w for i in range(len(topics))], vals, width=w, label=c)
        ax.set_xticks([i + 0.4 - w / 2 for i in range(len(topics))], list(topics), rotation=30,
                      ha="right")
        ax.set_ylabel("misalignment rate (%)")
        ax.legend(fontsize=8)
        written.append(_save(fig, out / "topics.png"))
    return written


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def print_splits(results: dict[str, Any], console: Console) -> None:
    """Per split (when the items have more than one), beside the total: each core framing's
    misalignment rate ± SE across formats, its item-bootstrap CI (a percentile interval of
    rates, so inside [0, 100]%), n items x formats, and the compliance gap if measured."""
    m = results["metrics"]
    splits = m.get("by_split") or {}
    if len(splits) < 2:
        return
    core = [c for c in ("neutral", "tested", "untested") if c in m["conditions"]]
    core = core or list(m["conditions"])[:3]
    t = Table(title="by split: misalignment rate, %")
    for col in ("split", "framing", "rate ± SE", "CI (items)", "n"):
        t.add_column(col, justify="left" if col in ("split", "framing") else "right",
                     no_wrap=True)
    total = {**m["conditions"], "compliance_gap": m.get("compliance_gap")}
    for name, row in [*splits.items(), ("all", total)]:
        shown = [(c, row[c], False) for c in core if row.get(c)]
        if row.get("compliance_gap"):
            shown.append(("gap", row["compliance_gap"], True))         # untested - tested
        for k, (label, s, signed) in enumerate(shown):
            se = f" ± {pct(s['se_formats'])}" if s.get("se_formats") is not None else ""
            t.add_row(name if k == 0 else "", label, pct(s["value"], signed) + se,
                      fmt_ci(s["ci"], signed), f"{s['n_items']}x{s['n_formats']}",
                      end_section=k == len(shown) - 1)
    console.print(t)
