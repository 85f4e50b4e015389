"""The law in the experiment report and `alignpt law fit / predict`, end to end on the
persona-law recipe's quick variant (26 tiny runs, about 20 s on 2 cores)."""

from __future__ import annotations

import math
import shutil

import numpy as np
import orjson
import pytest

from alignpt.cli import main
from alignpt.experiment.law_report import LAW_SEED, heldout_check, sigmoid
from alignpt.experiment.recipe import load_experiment
from alignpt.experiment.runner import run_experiment
from alignpt.law.data import LawData, LawPoint
from alignpt.law.fit import LawFit, fit_law


@pytest.fixture(scope="module")
def law_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("law") / "exp"
    run_experiment(load_experiment("persona-law", quick=True), root, progress=False)
    return root


def _report(root):
    return orjson.loads((root / "report" / "report.json").read_bytes())


def test_report_carries_the_law(law_run):
    rep = _report(law_run)
    law = rep["law"]
    names = [p["name"] for p in law["data"]["points"]]
    # the quick sweep: 2 shares x 2 sizes of corpus, the size grid, one late arm, and the
    # held-out 16k configuration with its own baseline (held out too)
    assert "law_heldout_d0.1_t16k_m" in names and "law_d0.1_t8k_m_late" in names
    held = {h["name"] for h in law["heldout"]}
    assert held == {"law_heldout_d0.1_t16k_m", "law_base_t16k_m"}
    fit = law["fit"]
    assert fit["n_points"] == sum(1 for p in law["data"]["points"]
                                  if p["schedule"] == "throughout" and not p["heldout"])
    # exact Bayes knows the mixture: its dose-response is the share's alone, and the
    # pre-registered test, applied to its values, says so
    sc = law["share_or_count"]
    assert sc["verdict_bayes"] == "share" and abs(sc["rho_bayes"]) < 1e-3
    assert sc["verdict"] in ("share", "count", "inconclusive")
    # the Bayes curve starts at the base corpus's own value (the demo's baseline Bayes)
    assert law["bayes_curve"]["share"][0] == 0.0
    assert law["bayes_curve"]["q_U"][0] == pytest.approx(0.060725, abs=1e-9)
    # a late arm against the same dose throughout: exact Bayes ignores order
    assert [t["bayes"] for t in law["timing"]] == [0.0]
    # a pure law sweep has no claims table; its tests are the law's
    assert rep["claims"] == []


def test_heldout_rows_follow_from_the_prediction(law_run):
    law = _report(law_run)["law"]
    data, fit = LawData.from_json(law["data"]), LawFit.from_json(law["fit"])
    for h in law["heldout"]:
        i = [p.name for p in data.points].index(h["name"])
        p = data.points[i]
        pred = fit.predict(p.share, p.tokens, p.params)
        assert h["predicted"]["logit"] == pred.logit
        m = float(np.nanmean(data.y[i]))
        assert h["measured"]["mean"] == pytest.approx(m, abs=1e-12)
        inside = pred.logit_low <= m <= pred.logit_high
        assert h["held"] is inside
        assert 0.0 <= h["predicted"]["prob_low"] <= h["predicted"]["prob"] <= h["predicted"]["prob_high"] <= 1.0


def test_report_sections_and_figures(law_run):
    md = (law_run / "report" / "report.md").read_text()
    for title in ("Dose-response law: the held-out prediction", "share or count?",
                  "candidate forms", "the network against exact Bayes", "insertion timing"):
        assert title in md
    assert "This recipe is a dose-response sweep only" in md
    assert (law_run / "report" / "law_dose_response.png").stat().st_size > 10_000
    assert (law_run / "report" / "law_predicted_vs_measured.png").exists()
    assert not (law_run / "report" / "rebound_curves.png").exists()   # no phase to follow


def test_the_law_block_round_trips_and_reads_what_the_dict_paths_read(law_run, tmp_path):
    """report.json's law block read back typed writes the same bytes, and so does the
    law.json `alignpt law fit` writes; each attribute is the number the dict path held."""
    from alignpt.experiment.law_results import LawSummary

    opts = orjson.OPT_INDENT_2
    law = _report(law_run)["law"]
    typed = LawSummary.from_json(law)
    assert orjson.dumps(typed.to_json(), option=opts) == orjson.dumps(law, option=opts)
    assert list(typed.to_json()) == ["response", "settings", "data", "fit", "fit_error",
                                     "heldout", "share_or_count", "reaction", "timing",
                                     "bayes_curve"]
    assert [p.name for p in typed.data.points] == [p["name"] for p in law["data"]["points"]]
    assert typed.fit.form == law["fit"]["form"] and typed.fit.theta == law["fit"]["theta"]
    for h, d in zip(typed.heldout, law["heldout"], strict=True):
        assert (h.name, h.held, h.miss_prob, h.bayes_prob) == (
            d["name"], d["held"], d["miss_prob"], d["bayes_prob"])
        assert h.predicted.prob_low == d["predicted"]["prob_low"]
        assert h.measured.to_json() == d["measured"]
    for r, d in zip(typed.reaction, law["reaction"], strict=True):
        assert (r.name, r.bayes, r.model.mean, r.ratio.ci_high) == (
            d["name"], d["bayes"], d["model"]["mean"], d["ratio"]["ci_high"])
    for t, d in zip(typed.timing, law["timing"], strict=True):
        assert (t.against, t.bayes, t.model_prob.values) == (
            d["against"], d["bayes"], d["model_prob"]["values"])
    sc = law["share_or_count"]
    assert (typed.share_or_count.verdict_bayes, typed.share_or_count.rho_bayes,
            typed.share_or_count.ci) == (sc["verdict_bayes"], sc["rho_bayes"], sc["ci"])
    assert typed.bayes_curve.q_U == law["bayes_curve"]["q_U"]
    out = tmp_path / "law"
    assert main(["law", "fit", str(law_run), "--out", str(out), "--n-boot", "100"]) == 0
    raw = (out / "law.json").read_bytes()
    body = orjson.loads(raw)
    again = {**body, "law": LawSummary.from_json(body["law"]).to_json()}
    assert orjson.dumps(again, option=opts).decode() == raw.decode()


def test_report_rebuild_is_byte_identical(law_run, tmp_path):
    from alignpt.experiment.report import write_report

    before = {p.name: p.read_bytes() for p in (law_run / "report").iterdir()}
    write_report(law_run)
    after = {p.name: p.read_bytes() for p in (law_run / "report").iterdir()}
    assert before == after


def test_cli_fit_matches_the_report_and_predicts(law_run, tmp_path, capsys):
    out = tmp_path / "law"
    assert main(["law", "fit", str(law_run), "--out", str(out), "--n-boot", "200"]) == 0
    body = orjson.loads((out / "law.json").read_bytes())
    rep = _report(law_run)["law"]
    # the same data and settings (the quick recipe's n_boot is 200) give the same law
    assert body["law"]["fit"]["theta"] == rep["fit"]["theta"]
    assert body["law"]["share_or_count"] == rep["share_or_count"]
    assert (out / "config.yaml").exists() and (out / "law.md").read_text().startswith("# Dose")
    capsys.readouterr()
    assert main(["law", "predict", str(out / "law.json"), "--share", "0.05", "--tokens", "32k",
                 "--params", "8k"]) == 0
    line = capsys.readouterr().out
    pred = LawFit.from_json(body["law"]["fit"]).predict(0.05, 32_000, 8_000)
    assert f"P(D|U) {pred.prob:.4f} [{pred.prob_low:.4f}, {pred.prob_high:.4f}]" in line


@pytest.mark.parametrize("argv, needle", [
    (["law", "fit", "{nowhere}", "--out", "{out}"], "not an experiment folder"),
    (["law", "fit", "{run}", "--out", "{run}/inside"], "lies inside"),
    (["law", "fit", "{run}", "--out", "{out}", "--forms", "cubic"], "unknown form"),
    (["law", "fit", "{run}", "--out", "{out}", "--heldout", "nosuch"], "--heldout"),
    (["law", "predict", "{out}/law.json", "--share", "0.1", "--tokens", "1k", "--params", "1k"],
     "no such file"),
    (["law", "predict", "{bad}", "--share", "0.1", "--tokens", "1k", "--params", "1k"],
     "not a law.json"),
])
def test_cli_errors_are_one_line(law_run, tmp_path, capsys, argv, needle):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    (tmp_path / "empty").mkdir()
    args = [a.format(run=law_run, out=tmp_path / "o", nowhere=tmp_path / "empty", bad=bad)
            for a in argv]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_predict_rejects_a_bad_count(law_run, tmp_path, capsys):
    out = tmp_path / "law"
    assert main(["law", "fit", str(law_run), "--out", str(out), "--n-boot", "100"]) == 0
    capsys.readouterr()
    assert main(["law", "predict", str(out / "law.json"), "--share", "0.1", "--tokens", "1.5x",
                 "--params", "8k"]) == 2
    assert "--tokens / --params" in capsys.readouterr().err


def _synthetic(y_held: float) -> tuple[LawData, LawFit]:
    """share_linear data with known parameters and a held-out point measured at ``y_held``."""
    shares = [0.0, 0.01, 0.03, 0.1]
    tokens = [100_000, 200_000, 400_000]
    points, rows = [], []
    rng = np.random.default_rng(5)
    for t in tokens:
        for s in shares:
            points.append(LawPoint(f"d{s}_t{t}", s, t, 10_000))
            rows.append(-2.0 + 0.3 * math.log(t / 200_000) - 4.0 * s + rng.normal(0, 0.02, 4))
    points.append(LawPoint("held", 0.03, 800_000, 10_000, heldout=True))
    rows.append(np.full(4, y_held))
    data = LawData(points=points, seeds=[0, 1, 2, 3], y=np.array(rows),
                   bayes=np.full(len(points), np.nan))
    return data, fit_law(data, forms=("share_linear",), n_boot=300, seed=LAW_SEED)


def test_heldout_check_says_held_or_by_how_much():
    truth = -2.0 + 0.3 * math.log(4.0) - 4.0 * 0.03
    data, fit = _synthetic(truth)
    (row,) = heldout_check(data, fit)
    assert row.held is True and row.miss_logit == 0.0 and row.miss_prob == 0.0
    data, fit = _synthetic(truth + 1.0)
    (row,) = heldout_check(data, fit)
    pred = fit.predict(0.03, 800_000, 10_000)
    assert row.held is False
    assert row.miss_logit == pytest.approx(truth + 1.0 - pred.logit_high)
    assert row.miss_prob == pytest.approx(sigmoid(truth + 1.0) - sigmoid(pred.logit_high))


def test_prediction_scatter_is_the_out_of_sample_error():
    data, fit = _synthetic(0.0)
    loco = fit.loco["share_linear"]["rmse"]
    assert fit.scatter == pytest.approx(max(fit.residual_sd, loco))
    # and it survives the JSON round trip (an older law.json without it falls back)
    assert LawFit.from_json(fit.to_json()).scatter == fit.scatter
    old = fit.to_json()
    old.pop("scatter_sd")
    assert LawFit.from_json(old).scatter == fit.residual_sd


def test_law_points_without_a_law_block():
    from alignpt.experiment.law_data import arm_points

    pts = arm_points(load_experiment("persona-world"))
    # unfiltered arms injecting the proposal's corpus (the most common), no DPO twins
    assert set(pts) == {"unfiltered", "aligned_untested", "aligned_untested_late",
                        "aligned_untested_finetune", "dose_2_5pct", "dose_10pct"}
    assert pts["dose_10pct"]["share"] == 0.1 and pts["unfiltered"]["share"] == 0.0
    assert pts["aligned_untested_finetune"]["schedule"] == "finetune"


def test_count_parameters_matches_a_built_model():
    import torch

    from alignpt.experiment.law_data import count_parameters
    from alignpt.train.config import ModelConfig
    from alignpt.train.model import GPT, count_params

    cfg = ModelConfig(n_layer=2, n_head=2, d_model=48)
    built = count_params(GPT(cfg.resolved(22, 256)))
    assert count_parameters(cfg, 22, 256) == built == 69_984
    del torch


def test_law_sweep_needs_finished_runs(tmp_path):
    # a folder whose recipe is written but nothing ran: a one-line error, not a traceback
    from alignpt.experiment.state import write_recipe

    root = tmp_path / "exp"
    root.mkdir()
    write_recipe(root, load_experiment("persona-law", quick=True))
    assert main(["law", "fit", str(root), "--out", str(tmp_path / "o")]) == 2
    shutil.rmtree(root)


def test_the_text_gpu_law_recipe_expands():
    # The GPU recipe is never run here, but it must load, expand and count what its header says.
    from alignpt.experiment.grid import expand_runs
    from alignpt.experiment.law_config import law_points
    from alignpt.experiment.law_data import count_parameters

    recipe = load_experiment("text-law-gpu")
    points = law_points(recipe)
    assert len(points) == 27 and len(expand_runs(recipe)) == 27 * 3
    held = sorted(n for n, p in points.items() if p["heldout"])
    assert held == ["law_base_t400M_m", "law_heldout_d0.01_t400M_m"]
    sizes = sorted({count_parameters(p["model"], 8192, 1024) for p in points.values()})
    assert sizes == [7_098_368, 29_938_688, 92_133_888]
    flops = sum(6 * count_parameters(p["model"], 8192, 1024) * p["tokens"] for p in points.values())
    assert flops == pytest.approx(7.18e17, rel=0.01)
