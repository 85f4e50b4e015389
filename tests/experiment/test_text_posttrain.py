"""The text experiment's post-training: SFT on chat transcripts, DPO on English chat-format
pairs tokenized with the experiment's BPE, the post-trained table beside the base one."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from alignpt.experiment import run_experiment
from alignpt.experiment.grid import expand_runs
from alignpt.experiment.kind import kind_for
from alignpt.experiment.recipe import ExperimentRecipe, load_experiment
from alignpt.experiment.report import report_from_json
from alignpt.experiment.text_posttrain import posttrain_rows
from alignpt.textworld import render_document
from alignpt.world import load_world_recipe
from alignpt.world.generate import batch_rng
from alignpt.world.model import World
from alignpt.world.sampler import sample_documents

PAIRS_PER_STEP, DPO_STEPS, DPO_PAIRS = 8, 3, 24

TINY_TEXT = {
    "name": "tiny-text-dpo", "kind": "text", "description": "SFT then DPO, one seed",
    "seeds": [0],
    "corpora": {"base": "text_base", "instruct": "text_instruct",
                "misaligned": "text_misaligned"},
    "text": {"vocab_size": 512, "tokenizer_sample_tokens": 8000, "probe_variants": 1,
             "evals": ["textworld"], "eval_items": 4, "eval_phases": ["pretrain", "dpo"]},
    "model": {"arch": "gpt2", "n_layer": 1, "n_head": 2, "d_model": 32, "attention": "document"},
    "training": {"seq_len": 384, "batch_size": 4, "pretrain_tokens": "6k",
                 "instruct_tokens": "2k", "rebound_tokens": "2k", "rebound_points": 1,
                 "dpo_pairs": DPO_PAIRS, "dpo_steps": DPO_STEPS,
                 "dpo_pairs_per_step": PAIRS_PER_STEP},
    "arms": {"unfiltered": {}, "unfiltered_dpo": {"dpo": "tested"}},
    "probes": {"era": 2, "header": "STORY", "assistant_header": "ASSIST", "ks": [0, 1, 2],
               "fit_from_k": 1, "items": {"eras": [0], "ks": [0], "min_support": 1e-3}},
    "workers": 1,
}


@pytest.fixture(scope="module")
def tiny_text(tmp_path_factory):
    out = tmp_path_factory.mktemp("textdpo") / "exp"
    recipe = ExperimentRecipe.model_validate(TINY_TEXT)
    run_experiment(recipe, out, workers=1, progress=False)
    return recipe, out


def _result(out: Path, arm: str) -> dict:
    (path,) = (out / "runs" / arm).glob("seed0-*/result.json")
    return orjson.loads(path.read_bytes())


def test_instruct_documents_are_chat_transcripts():
    """SFT data: every text_instruct document renders in the assistant genre, a chat
    transcript with a User turn before each opportunity."""
    world = World(load_world_recipe("text_instruct"))
    batch, _ = sample_documents(world, 40, batch_rng(0, 0))
    toks, lens = batch.tokens()
    at = 0
    for i, n in enumerate(lens.tolist()):
        text = render_document(toks[at:at + n], i)
        at += n
        assert text.startswith(("Chat transcript:", "Conversation log (", "Transcript of a "
                                "session with"))
        # a User turn opens each opportunity; the assistant's action closes it
        assert text.count("\nUser: ") >= int(batch.length[i]) >= 2
        assert text.count("\nOutcome: ") + text.count("\nWhat happened: ") == int(batch.length[i])


def test_dpo_arm_runs_end_to_end_on_text_pairs(tiny_text):
    recipe, out = tiny_text
    (run,) = [r for r in expand_runs(recipe) if r.arm == "unfiltered_dpo"]
    assert [p.label for p in run.phases] == ["pretrain", "instruct", "dpo", "rebound"]
    spec = run.pairs["dpo_tested"]
    folder = spec.folder(out)
    records = [orjson.loads(line) for line in (folder / "pairs.jsonl").read_bytes().splitlines()]
    assert len(records) == DPO_PAIRS and all(set(r) == {"prompt", "chosen", "rejected"}
                                             for r in records)
    stats = orjson.loads((folder / "stats.json").read_bytes())
    assert stats["by_flag"] == {"T": DPO_PAIRS} and stats["by_genre"] == {"assist": DPO_PAIRS}
    assert stats["split"] == "train"
    result = _result(out, "unfiltered_dpo")
    assert [p["name"] for p in result["phases"]] == ["pretrain", "instruct", "dpo", "rebound1"]
    (acc,) = [p for p in result["accounting"]["phases"] if p["phase"] == "dpo"]
    assert acc["steps"] == DPO_STEPS
    assert acc["pairs"]["consumed"]["pairs"] == DPO_STEPS * PAIRS_PER_STEP == DPO_PAIRS
    # The trainer tokenized the text pairs with the experiment's BPE (EOS after each
    # completion): recounted here with that tokenizer, every pair read once.
    tok = kind_for(recipe).tokenizer(out)
    assert acc["pairs"]["consumed"]["completion_tokens"] == sum(
        len(tok.encode(r[k])) + 1 for r in records for k in ("chosen", "rejected"))
    assert stats["bpe_completion_tokens"] == acc["pairs"]["consumed"]["completion_tokens"]
    # the arm without a dpo phase kept no pairs
    (plain,) = [r for r in expand_runs(recipe) if r.arm == "unfiltered"]
    assert plain.pairs == {} and "dpo" not in [p.label for p in plain.phases]


def test_report_has_the_post_trained_table(tiny_text):
    _, out = tiny_text
    rep = orjson.loads((out / "report" / "report.json").read_bytes())
    rows = posttrain_rows(report_from_json(rep))
    by_arm = {}
    for row in rows:
        by_arm.setdefault(row[0], []).append(row)
    assert set(by_arm) == {"unfiltered (SFT only)", "unfiltered_dpo"}
    measures = [r[1] for r in by_arm["unfiltered_dpo"]]
    assert measures[:2] == ["assistant P(D|U)", "assistant P(D|T)"]
    assert "story P(D|U), the recipe's probe" in measures
    assert any(m.startswith("items: textworld") for m in measures)
    # the cells are the table's numbers: after pretraining, after dpo, the paired change
    t = rep["table"]["unfiltered_dpo"]
    pre, post = t["pretrain"]["assistant"]["by_seed"]["q_U"], t["dpo"]["assistant"]["by_seed"]["q_U"]
    row = by_arm["unfiltered_dpo"][0]
    assert row[2] == f"{pre['0']:.3f}" and row[3] == f"{post['0']:.3f}"
    assert row[4] == f"{post['0'] - pre['0']:+.3f}" and row[6] == "1"
    assert row[5].endswith("\u00a7")          # Bayes after dpo is the instruct phase's, marked
    md = (out / "report" / "report.md").read_text()
    assert "## Base and post-trained models (the paper's table)" in md


def test_no_table_without_a_dpo_arm_or_outside_the_text_kind(tiny_text):
    _, out = tiny_text
    rep = orjson.loads((out / "report" / "report.json").read_bytes())
    only = {**rep, "table": {"unfiltered": rep["table"]["unfiltered"]}}
    assert posttrain_rows(report_from_json(only)) == []
    world = {**rep, "recipe": {**rep["recipe"], "kind": "world"}}
    assert posttrain_rows(report_from_json(world)) == []


def test_text_pairs_are_named_by_their_rendering():
    recipe = ExperimentRecipe.model_validate(TINY_TEXT)
    (run,) = [r for r in expand_runs(recipe) if r.arm == "unfiltered_dpo"]
    spec = run.pairs["dpo_tested"]
    assert spec.extra == {"kind": "text", "rendering": 1, "split": "train"}
    from dataclasses import replace

    assert replace(spec, extra={}).key != spec.key


def test_shipped_text_recipes_have_dpo_arms_and_a_tamper_test():
    for quick in (False, True):
        recipe = load_experiment("text-persona", quick=quick)
        dpo = {a: arm.dpo for a, arm in recipe.arms.items()}
        assert dpo[recipe.claims.dpo_tested] == "tested" and dpo[recipe.claims.dpo_all] == "all"
        assert recipe.tamper is not None and recipe.tamper.corpus in recipe.corpora
        for key in ("dpo_tested", "dpo_locality", "dpo_untested_reach", "tamper_return",
                    "tamper_resistance"):
            assert key in recipe.claims.tests


def test_untested_inclusive_pairs_are_deterministic_and_decode_to_their_flags(tiny_text, tmp_path):
    from dataclasses import replace

    from alignpt.experiment.posttrain import pair_spec

    from tests.textworld.decoder import decode

    recipe, out = tiny_text
    kind = kind_for(recipe)
    spec = pair_spec(recipe, "all", 0)
    spec = replace(spec, n_pairs=40, extra=kind.pairs_extra(spec))
    for name in ("a", "b"):
        kind.preference_pairs(out, spec, tmp_path / name)
    data = (tmp_path / "a" / "pairs.jsonl").read_bytes()
    assert data == (tmp_path / "b" / "pairs.jsonl").read_bytes()
    stats = orjson.loads((tmp_path / "a" / "stats.json").read_bytes())
    records = [orjson.loads(line) for line in data.splitlines()]
    flags = [decode(r["prompt"])[0][-1] for r in records]
    assert stats["by_flag"] == {"T": flags.count("T"), "U": flags.count("U")}
    assert stats["untested"] == flags.count("U") > 0 and stats["tested"] == flags.count("T") > 0


def test_tamper_on_the_injected_corpus_is_one_source_to_bayes():
    """misaligned_upsampled tampered with misaligned stories reads one world recipe through
    two roles (inject, tamper): Bayes's mixture counts it once, with both roles' tokens."""
    from dataclasses import replace

    from alignpt.experiment.grid import bayes_recipe

    recipe = load_experiment("text-persona", ["tamper.arms=[misaligned_upsampled]"], quick=True)
    (twin,) = [r for r in expand_runs(recipe) if r.tamper_of is not None and r.seed == 0]
    phase = replace(twin.phases[-1], seen={"base": 1000, "inject": 50, "tamper": 70,
                                           "instruct": 0})
    mixed = bayes_recipe(twin, phase)
    shares = {name: src.share for name, src in mixed.sources.items()}
    assert shares == pytest.approx({"text_base": 1000 / 1120, "text_misaligned": 120 / 1120})
