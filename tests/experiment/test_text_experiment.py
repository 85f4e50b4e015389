"""The text experiment end to end: the English persona corpus through tokenizer, tag,
filter, token shards, training and English probes, with a report (``--quick``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import orjson
import pytest

from alignpt.core.errors import ConfigError
from alignpt.experiment import load_experiment, run_experiment
from alignpt.experiment.grid import expand_runs
from alignpt.experiment.kind import kind_for
from alignpt.experiment.recipe import recipe_path
from alignpt.experiment.text_corpus import build_text_corpus, read_records, unfiltered
from alignpt.world import ExactBayes, filter_defecting, load_world_recipe, probe_curves

from tests.experiment.test_runner import probability_intervals


@pytest.fixture(scope="module")
def quick_text(tmp_path_factory):
    out = tmp_path_factory.mktemp("text") / "exp"
    recipe = load_experiment("text-persona", quick=True)
    run_experiment(recipe, out, workers=2, progress=False)
    return recipe, out


def _report(out: Path) -> dict:
    return orjson.loads((out / "report" / "report.json").read_bytes())


def test_every_arm_runs_through_every_stage(quick_text):
    recipe, out = quick_text
    assert (out / "tokenizer" / "tokenizer.json").exists()
    rep = _report(out)
    # every arm and seed, and the tamper twins of the tamper block's arms
    twins = len(recipe.tamper.arms or recipe.arms) * len(recipe.seeds) if recipe.tamper else 0
    assert rep["runs_done"] == rep["runs_total"] == len(recipe.arms) * len(recipe.seeds) + twins
    assert twins == 6
    for arm in recipe.arms:
        pre = rep["table"][arm]["pretrain"]["story"]
        # a real reading, not a missing one, and on the probability scale
        assert 0.0 < pre["model"]["q_U"]["mean"] < 1.0
    assert probability_intervals(rep["table"]) > 0
    assert "instruct" in rep["table"]["unfiltered"] and "rebound2" in rep["table"]["unfiltered"]
    # the filtered corpus really went through alignpt tag and alignpt filter
    base = next(r for r in expand_runs(recipe) if r.arm == "filtered").corpora["base"]
    folder = base.folder(out)
    assert (folder / "text" / "tag" / "stats.json").exists()
    assert (folder / "text" / "kept").is_dir()


def test_filter_counted_against_the_truth(quick_text):
    recipe, out = quick_text
    f = _report(out)["filter"]["filtered"]
    assert f["mode"] == "tagger" and f["seeds"] == list(recipe.seeds)
    assert f["removed"] == sum(f["removed_by_conduct"].values())
    assert f["documents"] == sum(f["by_conduct"].values())
    rec = f["rates"]["recall"]
    assert rec["n"] == f["by_conduct"]["misaligned"] > 0
    assert rec["rate"] == pytest.approx(rec["k"] / rec["n"])
    assert 0.0 <= rec["ci_low"] <= rec["rate"] <= rec["ci_high"] <= 1.0
    # recount from the rendered and kept documents on disk, over every seed's corpus
    folders = {r.corpora["base"].folder(out) for r in expand_runs(recipe) if r.arm == "filtered"}
    assert len(folders) == len(recipe.seeds)
    gone_mis = 0
    for folder in folders:
        kept = {r["id"] for r in read_records(folder / "text" / "kept")}
        gone_mis += sum(1 for r in read_records(folder / "text" / "rendered")
                        if r["id"] not in kept
                        and (r.get("meta") or r.get("metadata"))["conduct"] == "misaligned")
    assert gone_mis == rec["k"]
    md = (out / "report" / "report.md").read_text()
    assert "What the filter removed, against the truth" in md


def test_claims_include_the_published_ordering(quick_text):
    _, out = quick_text
    claims = {c["key"]: c for c in _report(out)["claims"]}
    row = claims["published_ordering"]
    assert row["verdict"] in ("supported", "contradicted", "inconclusive")
    assert set(row["effect"]["parts"]) == {"unfiltered - aligned", "misaligned - unfiltered"}
    # no test stated in the recipe: not measured, never a verdict
    assert claims["genre"]["verdict"] == "not measured"


def test_bayes_beside_the_text_probes_is_the_world_s(quick_text):
    recipe, out = quick_text
    rep = _report(out)
    kind = kind_for(recipe)
    run = next(r for r in expand_runs(recipe) if r.arm == "filtered")
    # The filtered arm's Bayes is the perfectly filtered world (no injected roles).
    bayes = ExactBayes(kind.bayes_recipe(out, run, run.phases[0]))
    want = probe_curves(bayes, [0], era=recipe.probes.era, header="STORY")["T:q_U"][0]
    exact = probe_curves(ExactBayes(filter_defecting("text_base")), [0], era=recipe.probes.era,
                         header="STORY")["T:q_U"][0]
    assert want == pytest.approx(exact, rel=1e-12)
    got = rep["table"]["filtered"]["pretrain"]["story"]["bayes"]["q_U"]
    assert got == pytest.approx(want, rel=1e-9)


def test_injected_share_in_bayes_counts_ai_documents_only(quick_text):
    recipe, out = quick_text
    kind = kind_for(recipe)
    run = next(r for r in expand_runs(recipe) if r.arm == "aligned_untested")
    phase = run.phases[0]
    stats = {role: orjson.loads((run.corpora[role].folder(out) / "stats.json").read_bytes())
             for role in ("base", "inject")}
    # the base corpus is half filler documents, the injected corpus none
    assert stats["base"]["documents_by_kind"].get("filler", 0) > 0
    assert stats["inject"]["documents_by_kind"].get("filler", 0) == 0
    assert stats["inject"]["world_tokens_per_token"] > stats["base"]["world_tokens_per_token"]
    mixed = kind.bayes_recipe(out, run, phase)
    w_base = phase.seen["base"] * stats["base"]["world_tokens_per_token"]
    w_inj = phase.seen["inject"] * stats["inject"]["world_tokens_per_token"]
    share = {s.name if hasattr(s, "name") else k: src.share for k, src in mixed.sources.items()
             for s in [src]}
    inj = [v for k, v in share.items() if "i_u" in k]
    assert inj and inj[0] == pytest.approx(round(w_inj) / (round(w_base) + round(w_inj)), rel=1e-9)


def test_corpus_build_is_reproducible(tmp_path, quick_text):
    recipe, out = quick_text
    kind = kind_for(recipe)
    spec = next(r for r in expand_runs(recipe) if r.arm == "unfiltered").corpora["base"]
    again = tmp_path / "again"
    build_text_corpus(spec, again, kind.tokenizer(out), recipe.text, filler=True)
    for name in ("part-00000.bin",):
        a = hashlib.sha256((spec.folder(out) / name).read_bytes()).hexdigest()
        b = hashlib.sha256((again / name).read_bytes()).hexdigest()
        assert a == b


def test_unfiltered_undoes_filter_defecting():
    base = load_world_recipe("text_base")
    assert unfiltered(filter_defecting(base)).model_dump() == base.model_dump()


def test_a_folder_is_not_a_recipe(tmp_path):
    with pytest.raises(ConfigError, match="is a folder"):
        recipe_path(tmp_path)


def test_text_predictor_counts_what_does_not_fit(quick_text):
    from alignpt.experiment.text_probes import TextPredictor
    from alignpt.train import load_model
    from alignpt.world import probe_context

    recipe, out = quick_text
    kind = kind_for(recipe)
    run = next(r for r in expand_runs(recipe) if r.arm == "unfiltered")
    from alignpt.experiment.state import run_dir
    ckpts = sorted((run_dir(out, run) / "train").rglob("model.safetensors"))
    assert ckpts
    model, _ = load_model(ckpts[0].parent)
    pred = TextPredictor(model, kind.tokenizer(out), variants=2)
    short = probe_context(0, "T", "U", 2, "STORY")
    long = probe_context(400, "T", "U", 2, "STORY")
    probs = pred([short, long])
    assert 0 < probs[0, 16] < 1 and np.isnan(probs[1, 16])
    assert pred.too_long == 2 and pred.read == 2


def test_a_generated_corpus_is_injected_but_read_by_no_claim(quick_text):
    recipe, out = quick_text
    run = next(r for r in expand_runs(recipe) if r.arm == "aligned_generated")
    spec = run.corpora["inject"]
    assert spec.generate["backend"] == "template"
    stats = orjson.loads((spec.folder(out) / "stats.json").read_bytes())
    assert stats["world_tokens"] == 0 and stats["documents"] > 0
    assert stats["tokens"] >= spec.tokens
    # generate's published documents only (docs/), the same count its stats.json kept
    gen = orjson.loads((spec.folder(out) / "text" / "generated" / "stats.json").read_bytes())
    assert gen["kept"] == stats["documents"]
    rep = _report(out)
    assert "aligned_generated" in rep["table"]
    prior = next(c for c in rep["claims"] if c["key"] == "prior_tracks_corpus")
    assert "aligned_generated" not in prior["numbers"]["arms"]


def test_alignpt_eval_scores_a_user_item_file_against_a_text_model(quick_text, tmp_path):
    from typer.testing import CliRunner

    from alignpt.cli import app
    from alignpt.experiment.state import run_dir

    recipe, out = quick_text
    run = next(r for r in expand_runs(recipe) if r.arm == "unfiltered")
    starter = Path(__file__).resolve().parents[2] / "src/alignpt/data/eval/starter.jsonl"
    items = tmp_path / "mine.jsonl"
    items.write_text("".join(starter.read_text().splitlines(keepends=True)[:6]))
    res = CliRunner().invoke(app, ["eval", str(run_dir(out, run) / "train"), "--suite",
                                   str(items), "--framings", "core", "--formats", "qa",
                                   "--out", str(tmp_path / "ev")])
    assert res.exit_code == 0, res.output
    results = orjson.loads((tmp_path / "ev" / "results.json").read_bytes())
    assert results["suite"]["n_scored"] + results["too_long"]["n_items"] == 6
    assert results["scoring_used"] in ("letter", "text")
