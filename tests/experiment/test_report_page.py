"""The report page a reader opens: claims and figures first, long tables collapsed, the
analytic half-lives at the recipe's own epsilon, and the marks that explain odd rows."""

from __future__ import annotations

import copy
import html
import math
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import orjson
import pytest

from alignpt.experiment.claims import analytic_half_lives
from alignpt.experiment.report import (BAYES_LABEL, FILTERED, SHARED, _notes, _rows,
                                       render_html, report_from_json)
from alignpt.world import load_world_recipe


class _Page(HTMLParser):
    """The page's landmarks in document order: (event, tag, attrs, inside <details>)."""

    def __init__(self):
        super().__init__()
        self.events: list[tuple[str, str, dict, int]] = []
        self.depth = 0          # how many <details> we are inside

    def handle_starttag(self, tag, attrs):
        if tag == "details":
            self.depth += 1
        self.events.append(("start", tag, dict(attrs), self.depth))

    def handle_endtag(self, tag):
        if tag == "details":
            self.depth -= 1


def _report(out: Path) -> tuple[dict, str]:
    rep = orjson.loads((out / "report" / "report.json").read_bytes())
    return rep, (out / "report" / "report.html").read_text()


def test_analytic_half_lives_use_the_recipes_epsilon():
    # base: luigi(eps=0.001), random(p=0.05), random(p=0.02): k = ln 2 / -ln((1-p)/(1-eps)).
    got = analytic_half_lives(load_world_recipe("base"))
    assert list(got) == ["p=0.05", "p=0.02"]
    assert got["p=0.05"] == pytest.approx(math.log(2) / -math.log(0.95 / 0.999), rel=1e-12)
    assert got["p=0.02"] == pytest.approx(math.log(2) / -math.log(0.98 / 0.999), rel=1e-12)
    assert round(got["p=0.05"], 1) == 13.8 and round(got["p=0.02"], 1) == 36.1


def test_half_life_claim_quotes_the_recipes_analytic_values(tiny):
    rep, _ = _report(tiny[1])
    row = next(c for c in rep["claims"] if c["key"] == "half_life")
    if row["verdict"] == "not measured":
        pytest.skip(f"half-life not measured in the tiny run: {row['why']}")
    assert row["numbers"]["analytic_eps"] == 0.001
    assert row["numbers"]["analytic"]["p=0.05"] == pytest.approx(13.7822, abs=1e-4)
    assert row["numbers"]["analytic"]["p=0.02"] == pytest.approx(36.0973, abs=1e-4)
    assert "(eps=0.001): p=0.05: 13.8, p=0.02: 36.1" in row["evidence"]


def test_page_leads_with_claims_and_figures_then_collapsed_tables(tiny):
    rep, page = _report(tiny[1])
    parser = _Page()
    parser.feed(page)
    tables = [(i, a, d) for i, (ev, tag, a, d) in enumerate(parser.events) if tag == "table"]
    imgs = [(i, a, d) for i, (ev, tag, a, d) in enumerate(parser.events) if tag == "img"]
    claims = [i for i, a, d in tables if a.get("class") == "claims"]
    assert len(claims) == 1 and tables[0][0] == claims[0]          # the first table
    assert len(imgs) == 5 and all(a["src"].startswith("data:image/png;base64,") and d == 0
                                  for _, a, d in imgs)              # embedded, not collapsed
    assert all(claims[0] < i for i, _, _ in imgs)                   # claims, then figures
    in_details = [i for i, a, d in tables if d > 0]
    assert len(in_details) == 2                                     # story and assistant
    assert all(i > max(j for j, _, _ in imgs) for i in in_details)  # after every figure
    # claims, how Bayesian each model is (right after the claims) and published numbers
    # stay open
    fidelity = [i for i, a, d in tables if a.get("class") == "fidelity"]
    assert len(tables) == 5 and fidelity == [tables[1][0]] and fidelity[0] < imgs[0][0]
    assert "How Bayesian each model is" in page
    # The headline figure first, the Bayes columns labelled exactly.
    assert imgs[0][1]["alt"] == "P(D|U) by arm, with exact Bayes"
    assert "token-weighted mixture" in page and BAYES_LABEL.split(":")[0] in page
    # Markdown keeps the order: claims, figures, then the long tables.
    md = (tiny[1] / "report" / "report.md").read_text()
    order = [md.index(h) for h in ("## Claims", "## Figures", "## Reading the tables",
                                   "## Story probe", "## Assistant probe")]
    assert order == sorted(order)


def test_finetune_and_filtered_rows_are_marked(tiny):
    # The tiny grid has neither arm kind: relabel two of its arms in the report's recipe.
    rep, _ = _report(tiny[1])
    rep = copy.deepcopy(rep)
    rep["recipe"]["arms"]["aligned_untested_late"]["schedule"] = "finetune"
    rep["recipe"]["arms"]["aligned_untested"]["filtered"] = True
    rep = report_from_json(rep)
    rows = _rows(rep, "story")
    marked = [(a, p) for a, p, *_ in rows if SHARED in p]
    assert marked == [("aligned_untested_late", f"pretrain {SHARED}")]
    assert {a for a, *_ in rows if FILTERED in a} == {f"aligned_untested {FILTERED}"}
    notes = _notes(rep)
    assert notes[0].startswith(f"{SHARED} aligned_untested_late: the pretrain row is the "
                               "shared unfiltered model")
    assert "by design" in notes[1] and "not a finding" in notes[1]
    page = render_html(rep, {})
    assert html.escape(notes[0]) in page and "31%" in page


def _browser() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_browser() is None, reason="no chromium or chromium-browser on PATH "
                    "(Debian: apt install chromium) to render the page headless")
def test_page_renders_in_a_headless_browser(tiny, tmp_path):
    _, page = _report(tiny[1])
    # A probe script marks the body once every image has decoded; --dump-dom shows it.
    probe = ("<script>window.addEventListener('load',()=>{const i=[...document.images];"
             "document.body.dataset.images=i.length+':'+i.filter(x=>x.complete&&"
             "x.naturalWidth>0).length;});</script></body>")
    path = tmp_path / "page.html"
    path.write_text(page.replace("</body>", probe, 1))
    cmd = [_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
           "--v=0", "--virtual-time-budget=5000", "--dump-dom", path.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert re.search(r'data-images="5:5"', proc.stdout), proc.stdout[:500]
    assert "<details>" in proc.stdout and 'class="claims"' in proc.stdout
    console = [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln and "error" in ln.lower()]
    assert not console, console
    shot = tmp_path / "page.png"
    subprocess.run([_browser(), "--headless", "--no-sandbox", "--disable-gpu",
                    f"--screenshot={shot}", "--window-size=1200,2000", path.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 10_000


def test_probability_axes_stay_inside_zero_one(tiny, tmp_path, monkeypatch):
    from alignpt.experiment import plots

    rep, _ = _report(tiny[1])
    limits, halves = [], []
    save = plots.save_figure

    def spy(fig, path):
        if path.name == "local_half_life.png":      # opportunities, not a probability
            halves.append(fig.axes[0].get_ylim())
            return save(fig, path)
        for ax in fig.axes:     # every axis of these figures is a probability but k / share
            limits.append((path.name, "y", ax.get_ylim()))
            if ax.get_xlabel() == "exact Bayes":
                limits.append((path.name, "x", ax.get_xlim()))
        return save(fig, path)

    monkeypatch.setattr(plots, "save_figure", spy)
    plots.make_plots(report_from_json(rep), tmp_path)
    assert len(limits) == 6     # bars, rebound (2 panels), history, model vs Bayes (x and y)
    assert len(halves) == 1 and 0 < halves[0][0] < halves[0][1]     # a log axis of half-lives
    for name, axis, (lo, hi) in limits:
        assert 0 <= lo < hi <= 1, (name, axis, lo, hi)


def test_each_arm_shows_its_held_out_kl_after_pretraining(tiny):
    from alignpt.experiment.fidelity import fidelity_rows

    rep, _ = _report(tiny[1])
    rows = fidelity_rows(report_from_json(rep))
    assert [r[0] for r in rows] == list(rep["table"])        # every arm, in recipe order
    for arm, mean_ci, n, per_seed in rows:
        kl = rep["table"][arm]["pretrain"]["kl"]
        seeds = [v for v in kl["by_seed"].values()]
        assert int(n) == kl["n"] == len(seeds) and all(v > 0 for v in seeds)
        assert kl["mean"] == pytest.approx(sum(seeds) / len(seeds), rel=1e-12)
        assert mean_ci.startswith(f"{kl['mean']:.4f}")
        assert per_seed == ", ".join(f"{v:.4f}" for v in seeds)
    # only pretraining is read (1.3 s a call): later phases carry no KL
    assert all("kl" not in e for phases in rep["table"].values()
               for name, e in phases.items() if name != "pretrain")
