"""The experiment report: JSON of every number, Markdown, and self-contained HTML with plots.

Reads only the experiment folder (``experiment.yaml`` and each run's
``result.json``), so it can be rebuilt at any time: ``alignpt experiment report DIR``.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import orjson

from alignpt.core.atomic import atomic_write_text
from alignpt.core.config import provenance
from alignpt.experiment.aggregate import aggregate, phase_order
from alignpt.experiment.fmt import fmt_estimate as _fmt
from alignpt.experiment.law_plots import LAW_FIGURES, law_plots
from alignpt.experiment.law_report import law_summary
from alignpt.experiment.posttrain_report import split_results, tamper_summary
from alignpt.experiment.report_claims import report_claims
from alignpt.experiment.report_filter import filter_summary
from alignpt.experiment.report_sections import sections_of
from alignpt.experiment.item_results import ItemEvals, Templates
from alignpt.experiment.law_results import LawSummary
from alignpt.experiment.results import Table
from alignpt.experiment.text_evals import eval_summary, template_summary
from alignpt.experiment.state import load_state
from alignpt.experiment.tamper_plots import TAMPER_FIGURE, TAMPER_FIGURE_NOTE

__all__ = ["build_report", "write_report", "report_to_json", "report_from_json", "PUBLISHED"]

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
    """Everything the report shows, as one dict; its tables and item-set and template
    blocks are typed (:mod:`alignpt.experiment.results`,
    :mod:`alignpt.experiment.item_results`) and :func:`report_to_json` writes it."""
    state = load_state(root)
    recipe = state.recipe
    # The arms' own runs make the tables; their tamper twins make the tamper curves.
    everything = [s.result for s in state.runs if s.result is not None]
    results, _ = split_results(everything)
    # A corpus without latent truth (kind: shards) has no probes: its runs hold item sets only.
    table = aggregate(results, list(recipe.arms)) if recipe.kind != "shards" else Table({})
    tamper = (tamper_summary(everything, list(recipe.arms), recipe.model_dump(
        mode="json")["tamper"]) if recipe.kind != "shards" else {})
    evals = eval_summary(results, recipe.claims.baseline)
    missing = [s.run.name for s in state.runs if s.result is None]
    # A recipe with a law: sweep gets its law block; every other report keeps its bytes.
    law = law_summary(recipe, table, root) if recipe.law is not None else None
    return {
        "experiment": recipe.name,
        "description": recipe.description,
        "recipe": recipe.model_dump(mode="json"),
        "runs_done": len(everything), "runs_total": len(state.runs), "runs_missing": missing,
        "phases": phase_order(results),
        "table": table,
        # A recipe that is only a law sweep states its tests in the law block (share or
        # count, the held-out prediction); the discussion's claims need arms it has none of.
        "claims": report_claims(recipe, table, evals, tamper.get("table"))
        if results and not _law_only(recipe) else [],
        "tamper": tamper,
        "published": PUBLISHED,
        "filter": filter_summary(results),
        "evals": evals,
        "templates": template_summary(results),
        "train_seconds": sum(r["train_seconds"] for r in everything),
        **({"law": law} if law is not None else {}),
        **provenance(),
    }


# report.json holds two tables (the probe table and the tamper table, tamper.table), the
# item-set and template blocks and, for a law sweep, the law block, each typed; everything
# else in the report is plain JSON.
def report_to_json(report: dict[str, Any]) -> dict[str, Any]:
    """The report dict (:func:`build_report`) as report.json holds it."""
    out = {**report, "table": report["table"].to_json(), "evals": report["evals"].to_json(),
           "templates": report["templates"].to_json()}
    if report["tamper"]:
        out["tamper"] = {**report["tamper"], "table": report["tamper"]["table"].to_json()}
    if "law" in report:
        out["law"] = report["law"].to_json()
    return out


def report_from_json(report: dict[str, Any]) -> dict[str, Any]:
    """report.json read back into the dict :func:`build_report` returns (its blocks typed)."""
    out = {**report, "table": Table.from_json(report["table"]),
           "evals": ItemEvals.from_json(report["evals"]),
           "templates": Templates.from_json(report["templates"])}
    if report.get("tamper"):
        out["tamper"] = {**report["tamper"], "table": Table.from_json(report["tamper"]["table"])}
    if "law" in report:
        out["law"] = LawSummary.from_json(report["law"])
    return out


#: Marks in the long tables, explained in the notes above them.
SHARED, FILTERED, PREFERENCE = "\u2020", "\u2021", "\u00a7"


def _marks(report: dict[str, Any]) -> tuple[set[str], set[str], str]:
    """(fine-tune arms, filtered arms, the baseline arm) from the recipe."""
    arms = report["recipe"]["arms"]
    return ({a for a, c in arms.items() if c.get("schedule") == "finetune"},
            {a for a, c in arms.items() if c.get("filtered")},
            report["recipe"]["claims"]["baseline"])


def _rows(report: dict[str, Any], place: str) -> list[list[str]]:
    finetune, filtered, _ = _marks(report)
    rows = []
    for arm, phases in report["table"].items():
        for phase, entry in phases.items():
            e = entry.place(place)
            # No training document shows the probe's context: the header-agnostic reference.
            on = e.bayes["q_U"] is not None
            ref = e.bayes if on else e.bayes_any_header
            mark = ("" if on else " *") + (f" {PREFERENCE}" if entry.label == "dpo" else "")
            # A fine-tune arm's pretraining is the baseline's model; a filtered arm's zeros
            # are by construction: the cells say so where a reader meets them.
            label = arm + (f" {FILTERED}" if arm in filtered else "")
            ph = phase + (f" {SHARED}" if arm in finetune and phase == "pretrain" else "")
            rows.append([label, ph, _fmt(e.model["q_U"]), _fmt(ref["q_U"]) + mark,
                         _fmt(e.model["q_T"]), _fmt(ref["q_T"]) + mark,
                         _fmt(e.model["gap"]), _fmt(ref["gap"]) + mark])
    return rows


_HEAD = ["arm", "phase", "P(D|U) model [95% CI]", "P(D|U) exact Bayes", "P(D|T) model",
         "P(D|T) exact Bayes", "gap U-T model", "gap exact Bayes"]

#: What the Bayes columns are, exactly (grid.bayes_recipe builds it).
BAYES_LABEL = ("Exact Bayes: the exact posterior predictive of the token-weighted mixture of "
               "the world recipes the arm had trained on by the end of the phase (each "
               "corpus weighted by the tokens of it the arm had seen; order does not matter to "
               "Bayes), read at the same probe.")
MODEL_LABEL = ("Model: mean over seeds [95% t-interval, on the logit scale for probabilities, "
               "so never outside [0, 1]].")


def _notes(report: dict[str, Any]) -> list[str]:
    """The reading notes for the marks, in the order the tables use them."""
    finetune, filtered, base = _marks(report)
    notes = []
    if finetune:
        notes.append(f"{SHARED} {', '.join(sorted(finetune))}: the pretrain row is the shared "
                     f"{base} model (this arm's pretraining is the {base} arm's, same data and "
                     "seed; its injection comes in the fine-tune phase), so it repeats the "
                     f"{base} row and is not a separate measurement.")
    if filtered:
        notes.append(f"{FILTERED} {', '.join(sorted(filtered))}: every document that shows a "
                     "defection is removed, so no defection token is ever trained on: P(D) is "
                     "~0 by design (exact Bayes: 0), not a finding about alignment.")
    dpo = sorted(a for a, phases in report["table"].items() if "dpo" in phases)
    if dpo:
        notes.append(f"{PREFERENCE} {', '.join(dpo)}: exact Bayes has no answer for a "
                     "preference phase (it updates on documents, not on preferences), so the "
                     "Bayes cells of a dpo row repeat the phase before it; they are not a "
                     "prediction for the post-DPO model.")
    contexts = (phases["pretrain"].story.context for phases in report["table"].values()
                if "pretrain" in phases)
    worst = [c.rel_change_max for c in contexts if c is not None and c.rel_change_max is not None]
    if worst:
        notes.append("In-row reading: P(D|U) at the story probe read after a preceding base "
                     "document that shows a defection, against the probe read alone, differs "
                     f"by at most {max(worst):.1e} (relative; every arm and seed after "
                     "pretraining). Under per-document attention a document never sees the "
                     "one before it in a training row, so this is 0 up to float error; under "
                     "packed attention it is not.")
    return notes


_PUB_NOTE = ("Their rates come from 6.9B models on their own eval. Set beside them, our "
             "filtered arm's P(D) of ~0 is not comparable with their filtered models' 31%: "
             "their filter leaves misalignment discourse in the data, ours removes every "
             "defection token by construction, so the model never sees one.")


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


def _published(report: dict[str, Any]) -> list[list[str]]:
    return [[p["condition"], f"{p['base']:.0%}", f"{p['post_trained']:.0%}"]
            for p in report["published"]["rows"]]


_PUB_HEAD = ["condition", "base model", "after SFT+DPO"]
_ASSIST_NOTE = ("* no training document shows this context, so exact Bayes is undefined; the "
                "value is the header-agnostic reference (the persona mixture of all training "
                "data).")


def _law_only(recipe: Any) -> bool:
    return recipe.law is not None and all(a.from_law for a in recipe.arms.values())


#: In place of the claims table, for a recipe that is only a law sweep.
LAW_ONLY_NOTE = ("This recipe is a dose-response sweep only: its pre-registered tests are the "
                 "share-or-count test and the held-out prediction in the law sections below; the "
                 "discussion's claims need arms the sweep does not have (persona-world runs them).")


def _claims_md(r: dict[str, Any]) -> list[str]:
    if not r["claims"] and r.get("law"):
        return [LAW_ONLY_NOTE, ""]
    return [_CLAIM_NOTE, "", _md_table(_CLAIM_HEAD, _claim_rows(r)), ""]


def _claims_html(r: dict[str, Any]) -> str:
    if not r["claims"] and r.get("law"):
        return f'<p class="note">{html.escape(LAW_ONLY_NOTE)}</p>'
    return (f'<p class="note">{html.escape(_CLAIM_NOTE)}</p>\n'
            f'{_html_table(_CLAIM_HEAD, _claim_rows(r), "claims")}')


def render_markdown(report: dict[str, Any], plots: dict[str, str]) -> str:
    """Claims, then the figures, then the notes and the long tables (the HTML's order)."""
    r = report
    probes = r["recipe"]["probes"]
    parts = [
        f"# Experiment report: {r['experiment']}", "", r["description"], "",
        f"{r['runs_done']} of {r['runs_total']} runs; alignpt {r['alignpt_version']}, "
        f"git {r['git_revision'] or 'n/a'}; {r['train_seconds']:.0f} s of training.", "",
        "## Claims", "", *_claims_md(r),
    ]
    for sec, rows in sections_of(r):
        parts += [f"## {sec.title}", "", sec.note, "", _md_table(sec.head, rows), ""]
    if plots:
        parts += ["## Figures", ""]
        parts += [f"![{name}]({path})\n\n{FIGURE_NOTES.get(name, '')}\n"
                  for name, path in plots.items()]
    parts += ["## Reading the tables", "", MODEL_LABEL, "", BAYES_LABEL, ""]
    parts += [n + "\n" for n in _notes(r)]
    parts += [
        "## Published numbers, for orientation (theirs, not ours)", "",
        r["published"]["source"], "", _PUB_NOTE, "",
        _md_table(_PUB_HEAD, _published(r)), "",
        f"## Story probe (header {probes['header']}, era {probes['era']}, k = 0)", "",
        _md_table(_HEAD, _rows(r, "story")), "",
        f"## Assistant probe (header {probes['assistant_header']})", "",
        "\\" + _ASSIST_NOTE, "",
        _md_table(_HEAD, _rows(r, "assistant")), "",
    ]
    if r["runs_missing"]:
        parts += ["", "Missing runs: " + ", ".join(r["runs_missing"])]
    return "\n".join(parts) + "\n"


#: One line under each figure: what to look for (keys: make_plots' names).
FIGURE_NOTES = {
    "P(D|U) by arm, with exact Bayes": "Each arm's P(D | untested) after pretraining, after "
    "instruct and after the last rebound point: bars are the model (95% CI over seeds), "
    "crosses exact Bayes.",
    "rebound curves": "P(D | untested) through the phases: does the instruct phase's drop "
    "come back as plain base data resumes?",
    "history curves": "P(D | untested) after k clean untested (solid) or tested (dashed) "
    "opportunities, model and exact Bayes: the slope on the logit scale is the half-life.",
    "local half-life": "Opportunities per halving of the odds of defecting between successive "
    "k (baseline, after pretraining): the discussion's 'the estimated half-life keeps "
    "increasing' is a rising curve; exact Bayes's has a gap where the length-gated Waluigi "
    "starts (the odds rise there, so no half-life).",
    "model vs exact Bayes": "After pretraining, model against exact Bayes per arm: on the "
    "dotted line the model is Bayesian at this probe.",
    "dose response": "P(D | untested) against the injected share of pretraining tokens.",
    TAMPER_FIGURE: TAMPER_FIGURE_NOTE,
    **LAW_FIGURES,
}


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
.note{color:#555;font-size:13px}figure{margin:1.5em 0}
details{margin:1em 0}summary{cursor:pointer;font-weight:600}"""


def _details(summary: str, body: str) -> str:
    # Long tables start collapsed: the page leads with the claims and the figures.
    return f"<details><summary>{html.escape(summary)}</summary>{body}</details>"


def render_html(report: dict[str, Any], pngs: dict[str, bytes]) -> str:
    """One self-contained page: claims, figures, notes, then the long tables collapsed."""
    r = report
    probes = r["recipe"]["probes"]
    figs = "".join(
        f'<figure><h3>{html.escape(name)}</h3><img alt="{html.escape(name)}" '
        f'src="data:image/png;base64,{base64.b64encode(data).decode()}">'
        f'<figcaption class="note">{html.escape(FIGURE_NOTES.get(name, ""))}</figcaption>'
        "</figure>" for name, data in pngs.items())
    notes = "".join(f'<p class="note">{html.escape(n)}</p>' for n in _notes(r))
    story_rows, assist_rows = _rows(r, "story"), _rows(r, "assistant")
    story = _details(f"Story probe (header {probes['header']}, era {probes['era']}, k = 0): "
                     f"{len(story_rows)} rows", _html_table(_HEAD, story_rows))
    assist = _details(f"Assistant probe (header {probes['assistant_header']}): "
                      f"{len(assist_rows)} rows",
                      f'<p class="note">{html.escape(_ASSIST_NOTE)}</p>'
                      + _html_table(_HEAD, assist_rows))
    missing = (f"<p>Missing runs: {html.escape(', '.join(r['runs_missing']))}</p>"
               if r["runs_missing"] else "")
    extra = "".join(f'<h2 id="{sec.anchor}">{html.escape(sec.title)}</h2><p class="note">'
                    f"{html.escape(sec.note)}</p>{_html_table(sec.head, rows, sec.anchor)}"
                    for sec, rows in sections_of(r))
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>alignpt report: {html.escape(r['experiment'])}</title><style>{_CSS}</style></head><body>
<h1>Experiment report: {html.escape(r['experiment'])}</h1><p>{html.escape(r['description'])}</p>
<p class="note">{r['runs_done']} of {r['runs_total']} runs; alignpt {r['alignpt_version']},
git {html.escape(str(r['git_revision']))}; {r['train_seconds']:.0f} s of training.</p>
<h2 id="claims">Claims</h2>{_claims_html(r)}{extra}
<h2 id="figures">Figures</h2>{figs}
<h2 id="reading">Reading the tables</h2><p class="note">{html.escape(MODEL_LABEL)}</p>
<p class="note">{html.escape(BAYES_LABEL)}</p>{notes}
<h2 id="published">Published numbers, for orientation</h2>
<p class="note">{html.escape(r['published']['source'])}. {html.escape(_PUB_NOTE)}</p>
{_html_table(_PUB_HEAD, _published(r))}
<h2 id="tables">All measurements</h2>{story}{assist}{missing}</body></html>
"""


def write_report(root: str | Path) -> dict[str, Path]:
    """Write ``report/report.{json,md,html}`` and the plots; returns their paths."""
    from alignpt.experiment.plots import make_plots

    root = Path(root)
    out = root / "report"
    out.mkdir(parents=True, exist_ok=True)
    report = build_report(root)
    pngs = make_plots(report, out) if report["table"] else {}
    pngs.update(law_plots(report, out))
    atomic_write_text(out / "report.json", orjson.dumps(
        report_to_json(report), option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())
    atomic_write_text(out / "report.md", render_markdown(
        report, {name: path.name for name, path in pngs.items()}))
    atomic_write_text(out / "report.html", render_html(
        report, {name: path.read_bytes() for name, path in pngs.items()}))
    return {"html": out / "report.html", "md": out / "report.md", "json": out / "report.json",
            **{f"plot:{k}": v for k, v in pngs.items()}}
