"""The experiment report: JSON of every number, Markdown, and self-contained HTML with plots.

Reads only the experiment folder (``experiment.yaml`` and each run's
``result.json``), so it can be rebuilt at any time: ``alignpt experiment report DIR``.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any

import orjson

from alignpt.config import atomic_write_text, provenance
from alignpt.experiment.aggregate import aggregate, phase_order
from alignpt.experiment.claims import evaluate_claims
from alignpt.experiment.state import load_state

__all__ = ["build_report", "write_report", "PUBLISHED"]

#: Tice et al. 2026 ("Alignment Pretraining"), misalignment rate on their eval, 6.9B models.
#: Their numbers, on their eval: quoted for orientation only, not comparable to ours.
PUBLISHED = {
    "source": "Tice et al. 2026, arXiv 2601.10160 (their models and eval, not ours)",
    "rows": [
        {"condition": "unfiltered", "base": 0.45, "post_trained": 0.34},
        {"condition": "filtered", "base": 0.31, "post_trained": 0.28},
        {"condition": "misalignment-upsampled", "base": 0.51, "post_trained": 0.21},
        {"condition": "alignment-upsampled", "base": 0.09, "post_trained": 0.09},
    ],
}


def build_report(root: str | Path) -> dict[str, Any]:
    """Everything the report shows, as one JSON-able dict."""
    state = load_state(root)
    results = [s.result for s in state.runs if s.result is not None]
    arms = list(state.recipe.arms)
    table = aggregate(results, arms)
    missing = [s.run.name for s in state.runs if s.result is None]
    return {
        "experiment": state.recipe.name,
        "description": state.recipe.description,
        "recipe": state.recipe.model_dump(mode="json"),
        "runs_done": len(results), "runs_total": len(state.runs), "runs_missing": missing,
        "phases": phase_order(results),
        "table": table,
        "claims": evaluate_claims(table, state.recipe.claims, state.recipe.arms) if table else [],
        "published": PUBLISHED,
        "train_seconds": sum(r["train_seconds"] for r in results),
        **provenance(),
    }


def _fmt(est: dict[str, Any] | float | None, digits: int = 3) -> str:
    if isinstance(est, dict):
        if est["mean"] is None:
            return "n/a"
        if est["ci_low"] is None:
            return f"{est['mean']:.{digits}f}"
        return f"{est['mean']:.{digits}f} [{est['ci_low']:.{digits}f}, {est['ci_high']:.{digits}f}]"
    if est is None or (isinstance(est, float) and math.isnan(est)):
        return "n/a"
    return f"{est:.{digits}f}"


def _rows(report: dict[str, Any], place: str) -> list[list[str]]:
    rows = []
    for arm, phases in report["table"].items():
        for phase, entry in phases.items():
            e = entry[place]
            ref = "bayes" if e["bayes"]["q_U"] is not None else "bayes_any_header"
            mark = "" if ref == "bayes" else " *"
            rows.append([arm, phase, _fmt(e["model"]["q_U"]), _fmt(e[ref]["q_U"]) + mark,
                         _fmt(e["model"]["q_T"]), _fmt(e[ref]["q_T"]) + mark,
                         _fmt(e["model"]["gap"]), _fmt(e[ref]["gap"]) + mark])
    return rows


_HEAD = ["arm", "phase", "P(D|U) model [95% CI]", "P(D|U) Bayes", "P(D|T) model", "P(D|T) Bayes",
         "gap U-T model", "gap Bayes"]


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    # A bare | inside a cell (P(D|U), |d|) would split it: escape it.
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _effect(c: dict[str, Any]) -> str:
    e = c.get("effect")
    if not e or e.get("estimate") is None:
        return "n/a"
    if e.get("ci_low") is None:
        return f"{e['estimate']:+.3f} (n={e['n']})"
    part = f" ({e['part']})" if e.get("part") else ""
    return (f"{e['estimate']:+.3f} [{e['ci_low']:+.3f}, {e['ci_high']:+.3f}]{part}, "
            f"n={e['n']}")


def _p(c: dict[str, Any]) -> str:
    e = c.get("effect") or {}
    if e.get("p") is None:
        return "n/a"
    return (f"for {e['p']:.3g} (Holm {e['p_holm']:.3g}); "
            f"against {e['p_against']:.3g} (Holm {e['p_against_holm']:.3g})")


def _claim_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for c in report["claims"]:
        e = c.get("effect") or {}
        need = " / ".join("n/a" if e.get(k) is None else str(e[k])
                          for k in ("seeds_needed", "seeds_for_margin"))
        # The verdict cell holds the verdict alone: the HTML colours cells by their text.
        why = f" ({c['why']})" if c.get("why") and c["why"] != c["evidence"] else ""
        rows.append([c["claim"], c["discussion"], c.get("test_text", ""), c["evidence"] + why,
                     _effect(c), _p(c), need, c["verdict"]])
    return rows


_CLAIM_HEAD = ["claim", "discussion claim", "pre-registered test", "measurement",
               "effect d [90% CI]", "p for / against the claim (Holm)",
               "seeds needed: effect / margin", "verdict"]
_CLAIM_NOTE = ("Each test is written in the recipe before any run (claims.tests). The effect "
               "is paired by seed; the interval is the two-sided 1 - 2 alpha t-interval whose "
               "ends are the one-sided bounds the test uses. p for: of the test that supports "
               "the claim; against: of the test that contradicts it; each Holm-adjusted over "
               "the table. Seeds needed, at the observed spread: for 80% power to reach a "
               "verdict if the observed effect were the truth / to resolve the stated margin "
               "(an effect one margin from the boundary; for equivalence, a true difference "
               "of 0).")


def render_markdown(report: dict[str, Any], plots: dict[str, str]) -> str:
    r = report
    probes = r["recipe"]["probes"]
    parts = [
        f"# Experiment report: {r['experiment']}", "", r["description"], "",
        f"{r['runs_done']} of {r['runs_total']} runs; alignpt {r['alignpt_version']}, "
        f"git {r['git_revision'] or 'n/a'}; {r['train_seconds']:.0f} s of training.", "",
        "## Claims", "", _CLAIM_NOTE, "",
        _md_table(_CLAIM_HEAD, _claim_rows(r)), "",
        f"## Story probe (header {probes['header']}, era {probes['era']}, k = 0)", "",
        "Model: mean over seeds [95% t-interval, on the logit scale for probabilities]. "
        "Bayes: the exact posterior predictive of "
        "the data the arm had seen by the end of the phase.", "",
        _md_table(_HEAD, _rows(r, "story")), "",
        f"## Assistant probe (header {probes['assistant_header']})", "",
        "\\* no training document shows this context, so exact Bayes is undefined; the "
        "value is the header-agnostic reference (the persona mixture of all training data).", "",
        _md_table(_HEAD, _rows(r, "assistant")), "",
        "## Published numbers, for orientation (theirs, not ours)", "",
        r["published"]["source"], "",
        _md_table(["condition", "base model", "after SFT+DPO"],
                  [[p["condition"], f"{p['base']:.0%}", f"{p['post_trained']:.0%}"]
                   for p in r["published"]["rows"]]), "",
    ]
    if plots:
        parts += ["## Plots", ""] + [f"![{name}]({path})" for name, path in plots.items()]
    if r["runs_missing"]:
        parts += ["", "Missing runs: " + ", ".join(r["runs_missing"])]
    return "\n".join(parts) + "\n"


def _html_table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(
        f'<td class="{html.escape(c.replace(" ", "-"))}">{html.escape(c)}</td>' for c in row)
        + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222}table{border-collapse:collapse;margin:1em 0;font-size:14px}td,th{border:1px solid #ccc;
padding:4px 8px;text-align:left}th{background:#f3f3f3}td.supported{background:#d9f2d9}
td.inconclusive{background:#fff3c4}td.contradicted{background:#f8d7d7}img{max-width:100%}
td.not-measured{background:#eee}
.note{color:#555;font-size:13px}"""


def render_html(report: dict[str, Any], pngs: dict[str, bytes]) -> str:
    r = report
    probes = r["recipe"]["probes"]
    imgs = "".join(f'<h3>{html.escape(name)}</h3><img alt="{html.escape(name)}" '
                   f'src="data:image/png;base64,{base64.b64encode(data).decode()}">'
                   for name, data in pngs.items())
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>alignpt report: {html.escape(r['experiment'])}</title><style>{_CSS}</style></head><body>
<h1>Experiment report: {html.escape(r['experiment'])}</h1><p>{html.escape(r['description'])}</p>
<p class="note">{r['runs_done']} of {r['runs_total']} runs; alignpt {r['alignpt_version']},
git {html.escape(str(r['git_revision']))}; {r['train_seconds']:.0f} s of training.</p>
<h2>Claims</h2><p class="note">{html.escape(_CLAIM_NOTE)}</p>
{_html_table(_CLAIM_HEAD, _claim_rows(r), "claims")}
<h2>Story probe (header {probes['header']}, era {probes['era']}, k = 0)</h2>
<p class="note">Model: mean over seeds [95% t-interval, logit scale for probabilities]. Bayes:
exact posterior predictive of the
data the arm had seen by the end of the phase.</p>{_html_table(_HEAD, _rows(r, "story"))}
<h2>Assistant probe (header {probes['assistant_header']})</h2>
<p class="note">* no training document shows this context; exact Bayes is undefined, and the value
is the header-agnostic reference.</p>{_html_table(_HEAD, _rows(r, "assistant"))}
<h2>Published numbers, for orientation</h2><p class="note">{html.escape(r['published']['source'])}</p>
{_html_table(["condition", "base model", "after SFT+DPO"],
             [[p["condition"], f"{p['base']:.0%}", f"{p['post_trained']:.0%}"]
              for p in r["published"]["rows"]])}
<h2>Plots</h2>{imgs}</body></html>
"""


def write_report(root: str | Path) -> dict[str, Path]:
    """Write ``report/report.{json,md,html}`` and the plots; returns their paths."""
    from alignpt.experiment.plots import make_plots

    root = Path(root)
    out = root / "report"
    out.mkdir(parents=True, exist_ok=True)
    report = build_report(root)
    pngs = make_plots(report, out) if report["table"] else {}
    atomic_write_text(out / "report.json", orjson.dumps(
        report, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())
    atomic_write_text(out / "report.md", render_markdown(
        report, {name: path.name for name, path in pngs.items()}))
    atomic_write_text(out / "report.html", render_html(
        report, {name: path.read_bytes() for name, path in pngs.items()}))
    return {"html": out / "report.html", "md": out / "report.md", "json": out / "report.json",
            **{f"plot:{k}": v for k, v in pngs.items()}}
