"""`alignpt tokenizer` and `alignpt mix`: routing, output, one-line errors, shipped recipes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from alignpt.mix.cli import mix_app, tokenizer_app
from alignpt.mix.conditions import ConditionsConfig
from alignpt.mix.recipe import MixRecipe
from tests.mix.conftest import recipe_dict

RECIPES = Path(__file__).resolve().parents[2] / "recipes" / "mix"


def _write_recipe(path: Path, corpora, tokenizer_dir, **changes) -> Path:
    path.write_text(yaml.safe_dump(recipe_dict(corpora, tokenizer_dir, **changes)))
    return path


def test_recipe_as_first_argument_runs_it(cli, corpora, tokenizer_dir, tmp_path):
    recipe = _write_recipe(tmp_path / "r.yaml", corpora, tokenizer_dir)
    code, out, err = cli("mix", str(recipe), "--out", str(tmp_path / "a"), "-q")
    assert code == 0, err
    assert "pretrain" in out and "aligned" in out and "part(s) written" in out
    code, out, _ = cli("mix", "run", str(recipe), "--out", str(tmp_path / "a"), "-q",
                       "--set", "output.chunk_tokens=2048")
    assert code == 0 and "0 part(s) written" in out    # same run: every part resumed
    assert (tmp_path / "a" / "manifest.json").exists()


def test_inspect_table_json_verify_and_decode(cli, corpora, tokenizer_dir, tmp_path):
    recipe = _write_recipe(tmp_path / "r.yaml", corpora, tokenizer_dir)
    assert cli("mix", str(recipe), "--out", str(tmp_path / "m"), "-q")[0] == 0
    code, out, _ = cli("mix", "inspect", str(tmp_path / "m"), "--verify", "--json")
    data = json.loads(out)
    assert code == 0 and data["verified"]["tokens"] == 36000
    assert all(r["tokens"] == r["planned"] for r in data["rows"])
    code, out, _ = cli("mix", "inspect", str(tmp_path / "m"), "--doc", "-1", "--group",
                       "midtrain.misaligned", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["source"] == "misaligned" and doc["text"]
    code, out, _ = cli("mix", "inspect", str(tmp_path / "m"), "--doc", "0")
    assert code == 0 and "group=pretrain, index=0" in out


def test_dry_run_prints_the_plan(cli, corpora, tokenizer_dir, tmp_path):
    recipe = _write_recipe(tmp_path / "r.yaml", corpora, tokenizer_dir)
    code, out, _ = cli("mix", str(recipe), "--out", str(tmp_path / "d"), "--dry-run", "-q")
    assert code == 0 and json.loads(out)["phases"][0]["planned"]["misaligned"] == 777
    assert not (tmp_path / "d" / "native").exists()


def test_user_errors_are_one_line(cli, corpora, tokenizer_dir, tmp_path):
    data = recipe_dict(corpora, tokenizer_dir)
    data["sources"]["aligned"]["max_repetition"] = 1
    recipe = tmp_path / "small.yaml"
    recipe.write_text(yaml.safe_dump(data))
    code, _, err = cli("mix", str(recipe), "--out", str(tmp_path / "x"), "-q")
    lines = [x for x in err.splitlines() if x.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err
    assert "source 'aligned' is too small" in " ".join(err.split())
    code, _, err = cli("mix", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "x"))
    assert code == 2 and "config file not found" in err
    code, _, err = cli("mix", "inspct", str(tmp_path))
    assert code == 2 and "Did you mean 'inspect'" in err
    code, _, err = cli("mix", "inspect", str(tmp_path))
    assert code == 2 and "no manifest.json" in " ".join(err.split())
    code, _, err = cli("mix", str(recipe), "--out", str(tmp_path / "x"), "--set", "seed=x")
    assert code == 2 and "seed" in err


def test_conditions_command(cli, corpora, tokenizer_dir, tmp_path):
    cfg = {"tokenizer": {"path": str(tokenizer_dir)},
           "base": {"paths": [str(corpora["base"])], "max_repetition": 2},
           "aligned": {"paths": [str(corpora["aligned"])], "max_repetition": 10},
           "conditions": ["unfiltered", "alignment_upsampled"], "tokens": 5000,
           "doses": [1e-2]}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    code, out, err = cli("mix", "conditions", str(path), "--out", str(tmp_path / "c"), "-q",
                         "--only", "alignment_upsampled,dose-0.01")
    assert code == 0, err
    assert "3 condition" not in out and "2 condition(s)" in out
    assert sorted(p.name for p in (tmp_path / "c").iterdir()
                  if p.is_dir() and p.name != ".alignpt") == \
        ["alignment_upsampled", "cache", "dose-0.01"]


def test_tokenizer_train_command(cli, corpora, tmp_path):
    code, out, err = cli("tokenizer", "train", str(corpora["aligned"]), "--out",
                         str(tmp_path / "t"), "--vocab-size", "300", "--special-token", "<eos>",
                         "--special-token", "<pad>", "--sample", "1MB")
    assert code == 0, err
    assert "vocabulary 300" in out
    vocab = json.loads((tmp_path / "t" / "tokenizer.json").read_text())["added_tokens"]
    assert [t["content"] for t in vocab] == ["<eos>", "<pad>"]


@pytest.mark.parametrize("argv", [["mix"], ["mix", "run"], ["mix", "conditions"],
                                  ["mix", "inspect"], ["tokenizer"], ["tokenizer", "train"]])
def test_help(argv):
    app = typer.Typer()
    app.add_typer(tokenizer_app, name="tokenizer")
    app.add_typer(mix_app, name="mix")
    result = CliRunner().invoke(app, argv + ["--help"])
    assert result.exit_code == 0 and "Usage" in result.output


@pytest.mark.parametrize("path", sorted(RECIPES.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_recipes_validate(path):
    data = yaml.safe_load(path.read_text())
    model = ConditionsConfig if "base" in data else MixRecipe
    model.model_validate(data)


def test_late_insertion_recipe_runs_on_local_data(cli, corpora, tokenizer_dir, tmp_path):
    code, out, err = cli(
        "mix", str(RECIPES / "late-insertion.yaml"), "--out", str(tmp_path / "late"), "-q",
        "--set", f"tokenizer.path={tokenizer_dir}",
        "--set", f"sources.base.paths=[{corpora['base']}]",
        "--set", "sources.aligned.stage=null",
        "--set", f"sources.aligned.paths=[{corpora['aligned']}]",
        "--set", "sources.base.max_repetition=2", "--set", "phases.0.tokens=20k")
    assert code == 0, err
    rows = json.loads(cli("mix", "inspect", str(tmp_path / "late"), "--json")[1])["rows"]
    assert [(r["window"], r["source"], r["tokens"]) for r in rows] == [
        ([0.0, 0.9], "base", 18000), ([0.9, 1.0], "base", 1800), ([0.9, 1.0], "aligned", 200)]
