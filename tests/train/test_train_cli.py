from __future__ import annotations

import json

import pytest
import typer
import yaml
from typer.testing import CliRunner

from alignpt.core.errors import AlignptError, ConfigError
from alignpt.train.cli import export_hf, main, train_app
from tests.train.train_world import tiny_plan


@pytest.fixture
def root() -> typer.Typer:
    """The main app as the package registers it: `alignpt train ...`, `alignpt export-hf`."""
    app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)
    app.callback()(lambda: None)
    app.add_typer(train_app, name="train")
    app.command("export-hf")(export_hf)
    return app


@pytest.fixture
def plan_file(world, tmp_path):
    cfg = tiny_plan(world)
    cfg["phases"][0]["steps"] = 6
    cfg["phases"][1]["steps"] = 2
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_train_resume_dry_run_and_export(root, plan_file, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    run = tmp_path / "run"
    r = CliRunner().invoke(root, ["train", str(plan_file), "phases.1.steps=3", "--out", str(run), "-q",
                                  "--until", "pretrain"])
    assert r.exit_code == 0, r.output
    assert "stopped after 6 steps" in r.output and "phase pretrain" in r.output
    r = CliRunner().invoke(root, ["train", "resume", str(run), "-q"])
    assert r.exit_code == 0, r.output
    assert "complete after 9 steps" in r.output  # the override (3 instruct steps) was kept
    r = CliRunner().invoke(root, ["train", "--out", str(tmp_path / "r2"), str(plan_file), "-q"])
    assert r.exit_code == 0 and "complete after 8 steps" in r.output  # options may come first
    r = CliRunner().invoke(root, ["train", "dry-run", str(plan_file)])
    assert r.exit_code == 0
    assert "2,808" in r.output and "312" in r.output  # 6 steps x 520 tokens: 90% base, 10% inject
    r = CliRunner().invoke(root, ["export-hf", str(run), str(tmp_path / "hf")])
    assert r.exit_code == 0, r.output
    cfg = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert cfg["model_type"] == "gpt2" and cfg["vocab_size"] == 22
    assert (tmp_path / "hf" / "tokenizer.json").exists()


def test_help_lists_the_commands(root):
    r = CliRunner().invoke(root, ["train", "--help"])
    assert r.exit_code == 0
    for cmd in ("run", "resume", "dry-run"):
        assert cmd in r.output


def test_user_errors_are_alignpt_errors(root, plan_file, tmp_path, capsys):
    r = CliRunner().invoke(root, ["train", str(plan_file), "model.depth=3", "--out", str(tmp_path / "x")])
    assert isinstance(r.exception, ConfigError) and "model.depth: unknown key" in str(r.exception)
    r = CliRunner().invoke(root, ["train", "resume", str(tmp_path)])  # holds a plan, not a run
    assert isinstance(r.exception, AlignptError) and "not a run folder" in str(r.exception)
    (tmp_path / "empty").mkdir()
    r = CliRunner().invoke(root, ["train", "resume", str(tmp_path / "empty")])
    assert isinstance(r.exception, AlignptError) and "not a run folder (no plan.yaml)" in str(r.exception)
    # the module's own entry point (used under torchrun) prints one line and exits 2
    assert main([str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err
    assert "config file not found" in err and "Traceback" not in err


def test_token_id_past_the_vocabulary_is_one_line_exit_2(world, tmp_path, capsys):
    """A shard holding an id the model cannot embed is refused before the first step (it used
    to crash mid-run with an IndexError traceback, a device-side assert on GPU)."""
    import shutil

    import numpy as np

    from alignpt.cli import main as alignpt_main

    bad = tmp_path / "bad"
    for suffix in (".bin", ".json", ".docs.npy"):
        shutil.copy(str(world["inject"]) + suffix, str(bad) + suffix)
    tokens = np.memmap(str(bad) + ".bin", dtype=np.uint16, mode="r+")
    docs = np.load(str(bad) + ".docs.npy")
    tokens[docs[3, 0] + 1] = 22  # vocab_size is 22: ids 0..21
    tokens[docs[7, 0]] = 300
    tokens.flush()
    del tokens
    cfg = tiny_plan(world)
    cfg["sources"]["inject"]["paths"] = [str(bad)]
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump(cfg))

    rc = alignpt_main(["train", str(plan), "--out", str(tmp_path / "run"), "-q"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert f"{bad}.bin (document 7): token id 300 is outside the model's vocabulary of 22" in err
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_run_folder_apart_from_the_data_and_locked(world, tmp_path, capsys):
    """--out holding the training data is refused before anything is written, and a run
    folder another process is writing is refused with one line naming that process."""
    from alignpt.cli import main as alignpt_main
    from tests.lock_holder import lock_held_elsewhere

    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump(tiny_plan(world)))
    data_root = world["base"].parent
    before = sorted(p.name for p in data_root.iterdir())
    assert alignpt_main(["train", str(plan), "--out", str(data_root), "-q"]) == 2
    assert "the output folder contains the training data" in capsys.readouterr().err
    assert sorted(p.name for p in data_root.iterdir()) == before

    run = tmp_path / "run"
    with lock_held_elsewhere(run) as holder:
        assert alignpt_main(["train", str(plan), "--out", str(run), "-q"]) == 2
    err = capsys.readouterr().err
    assert f"another alignpt run (pid {holder.pid}) is writing this folder" in err
    assert not (run / "plan.yaml").exists() and not (run / "checkpoints").exists()
