"""The experiment on a user's own document shards (kind: shards): no latent truth, so
item sets are the measurement and the published ordering the claim."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from alignpt.core.errors import DataError
from alignpt.experiment import run_experiment
from alignpt.experiment.grid import expand_runs
from alignpt.experiment.recipe import ExperimentRecipe
from alignpt.textworld import write_text_corpus


def _corpus(root: Path, world: str, seed: int, tokens: int, filler: float) -> Path:
    out = root / world
    if out.exists():
        return out
    write_text_corpus(world, seed, out, target_tokens=tokens, filler_share=filler)
    (out / "stats.json").unlink()     # a user's folder: documents only
    return out


def _recipe(root: Path, **over) -> ExperimentRecipe:
    body = {
        "name": "user-tiny", "kind": "shards", "seeds": [0, 1],
        "corpora": {"base": str(_corpus(root, "text_base", 3, 30000, 0.5)),
                    "aligned": str(_corpus(root, "text_i_u", 4, 4000, 0.0)),
                    "misaligned": str(_corpus(root, "text_misaligned", 5, 4000, 0.0))},
        "text": {"vocab_size": 512, "tokenizer_sample_tokens": 20000, "evals": ["textworld"],
                 "eval_items": 8},
        "model": {"arch": "gpt2", "n_layer": 1, "n_head": 2, "d_model": 32,
                  "attention": "document"},
        "training": {"seq_len": 384, "batch_size": 8, "pretrain_tokens": "24k",
                     "instruct_tokens": "1k", "rebound_tokens": "1k"},
        "arms": {"unfiltered": {"posttrain": False},
                 "filtered": {"filtered": True, "posttrain": False},
                 "misaligned_upsampled": {"inject": "misaligned", "posttrain": False},
                 "aligned_untested": {"inject": "aligned", "posttrain": False}},
        "claims": {"tests": {"published_ordering": {"test": "superiority",
                                                    "direction": "increase", "margin": 0.0}}},
        "workers": 2,
    }
    body.update(over)
    return ExperimentRecipe.model_validate(body)


@pytest.fixture(scope="module")
def user_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("user")
    recipe = _recipe(root)
    out = root / "exp"
    run_experiment(recipe, out, workers=2, progress=False)
    return recipe, out


def test_every_arm_runs_and_the_claims_say_what_items_can_carry(user_run):
    recipe, out = user_run
    rep = orjson.loads((out / "report" / "report.json").read_bytes())
    assert rep["runs_done"] == rep["runs_total"] == 8
    claims = {c["key"]: c for c in rep["claims"]}
    row = claims["published_ordering"]
    assert row["verdict"] in ("supported", "contradicted", "inconclusive")
    assert set(row["effect"]["parts"]) == {"unfiltered - aligned", "misaligned - unfiltered"}
    assert claims["locality"]["verdict"] == "not measured"
    assert "no latent truth" in claims["locality"]["why"]
    rates = rep["evals"]["pretrain"]["textworld"]["neutral"]
    assert set(rates) == set(recipe.arms)
    for arm, e in rates.items():
        assert 0.0 <= e["rate"]["mean"] <= 1.0 and e["rate"]["n"] == 2
    md = (out / "report" / "report.md").read_text()
    assert "no truth; removed by predicted label" in md


def test_seeds_read_the_corpus_in_their_own_order_and_arms_share_it(user_run):
    recipe, out = user_run
    runs = expand_runs(recipe)
    folders = {(r.arm, r.seed): r.corpora["base"].folder(out) for r in runs}
    assert folders[("unfiltered", 0)] == folders[("aligned_untested", 0)]
    assert folders[("unfiltered", 0)] != folders[("unfiltered", 1)]
    a = (folders[("unfiltered", 0)] / "part-00000.bin").read_bytes()
    b = (folders[("unfiltered", 1)] / "part-00000.bin").read_bytes()
    assert len(a) == len(b) and a != b          # same documents, another order
    f = orjson.loads((folders[("filtered", 0)] / "stats.json").read_bytes())["filter"]
    kept = orjson.loads((folders[("filtered", 0)] / "stats.json").read_bytes())["documents"]
    assert f["documents"] - f["removed"] == kept and f["truth"] is False


def test_a_corpus_is_named_by_its_content(tmp_path):
    recipe = _recipe(tmp_path)
    key = expand_runs(recipe)[0].corpora["base"].key
    shard = next(Path(recipe.corpora["base"]).glob("*.jsonl.zst"))
    shard.write_bytes(shard.read_bytes())                      # same bytes: same corpus
    assert expand_runs(recipe)[0].corpora["base"].key == key
    (Path(recipe.corpora["base"]) / "extra.jsonl").write_text('{"id": "x", "text": "more"}\n')
    assert expand_runs(recipe)[0].corpora["base"].key != key


def test_shards_arms_are_pretraining_only(tmp_path):
    with pytest.raises(ValueError, match="pretraining arms only"):
        _recipe(tmp_path, arms={"unfiltered": {}})
    with pytest.raises(DataError, match="no such file"):
        expand_runs(_recipe(tmp_path, corpora={"base": str(tmp_path / "missing")},
                            arms={"unfiltered": {"posttrain": False}}))
