"""lm-eval export structure and the CLI: outputs, provenance, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import typer
import yaml
from typer.testing import CliRunner

from alignpt.evaluate.cli import eval_app, eval_command
from alignpt.evaluate.export_lmeval import export_lmeval, task_name
from alignpt.evaluate.formats import ALL_FORMATS
from alignpt.evaluate.framings import parse_conditions
from tests.evaluate.test_scoring import make_items

ROOT = Path(__file__).resolve().parents[2]
# The registration lines the main CLI uses (alignpt/cli.py).
REGISTER = ("from alignpt.cli import app, main\n"
            "from alignpt.evaluate.cli import eval_command, eval_app\n"
            "app.command('eval')(eval_command)\n"
            "app.add_typer(eval_app, name='eval-suite')\n")


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("eval")(eval_command)
    app.add_typer(eval_app, name="eval-suite")
    return app


def run_main(*args: str) -> subprocess.CompletedProcess:
    code = REGISTER + f"import sys; sys.exit(main({list(args)!r}))\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)


def test_export_writes_rendered_rows(tmp_path):
    items = make_items(3, aligned_first=False)
    tasks = export_lmeval(items, parse_conditions("tested,untested+history2"), ALL_FORMATS,
                          tmp_path, suite="my-suite", version="2.1")
    assert list(tasks) == ["alignpt_my_suite_tested", "alignpt_my_suite_untested_history2"]
    cfg = yaml.safe_load(tasks["alignpt_my_suite_tested"].read_text())
    assert cfg["doc_to_text"] == "query" and cfg["doc_to_choice"] == "choices"
    assert cfg["target_delimiter"] == "" and cfg["metadata"]["version"] == 2.1
    assert cfg["tag"] == ["alignpt_my_suite"] and cfg["output_type"] == "multiple_choice"
    rows = [json.loads(x) for x in Path(cfg["dataset_kwargs"]["data_files"]["test"]).read_text()
            .splitlines()]
    assert len(rows) == 3 * 8
    # Misaligned option first in canonical order: gold is 0 forward, 1 reversed.
    assert [r["gold"] for r in rows[:2]] == [0, 1] and rows[0]["choices"] == ["A", "B"]
    assert rows[0]["query"].endswith("Answer: (")
    text = export_lmeval(items, parse_conditions("neutral"), ALL_FORMATS[:1], tmp_path / "t",
                         mode="text")
    row = json.loads(Path(yaml.safe_load(text["alignpt_custom_neutral"].read_text())
                          ["dataset_kwargs"]["data_files"]["test"]).read_text().splitlines()[0])
    assert row["choices"] == list(items[0].choices) and row["query"].endswith("Answer:")
    assert task_name("a b", "x+y") == "alignpt_a_b_x_y"


def test_eval_writes_results_records_and_plots(tmp_path):
    out = tmp_path / "run"
    r = CliRunner().invoke(cli(), ["eval", "fake:always-A", "--suite", "starter-heldout",
                                   "--framings", "core,untested+history2", "--out", str(out),
                                   "--n-boot", "200"])
    assert r.exit_code == 0, r.output
    res = json.loads((out / "results.json").read_text())
    assert res["suite"]["name"] == "starter-heldout" and res["suite"]["version"] == "1.0"
    assert res["model"] == {"spec": "fake:always-A", "backend": "fake", "script": "always-A"}
    assert "git_revision" in res["provenance"] and res["config"]["n_boot"] == 200
    assert res["metrics"]["conditions"]["untested"]["value"] == 0.5
    assert res["metrics"]["history"]["untested"]["half_life"] == "inf"     # strict JSON
    records = (out / "records.jsonl").read_text().splitlines()
    assert len(records) == 48 * 4 * 8 and json.loads(records[0])["condition"] == "neutral"
    assert (out / "config.yaml").exists()
    assert {p.name for p in (out / "plots").iterdir()} == {"rates.png", "topics.png",
                                                           "history_untested.png"}
    again = CliRunner().invoke(cli(), ["eval-suite", "report", str(out)])
    assert again.exit_code == 0 and "Compliance gap" in again.output


def test_suite_commands(tmp_path):
    runner = CliRunner()
    listing = runner.invoke(cli(), ["eval-suite", "list"])
    assert listing.exit_code == 0 and "persona-world" in listing.output
    shown = runner.invoke(cli(), ["eval-suite", "show", "starter", "--item", "rh-001",
                                  "--framing", "tested", "--formats", "qa/rev"])
    assert shown.exit_code == 0 and "'A' -> misaligned" in shown.output
    exported = runner.invoke(cli(), ["eval-suite", "export", "starter-heldout", "--out",
                                     str(tmp_path / "tasks"), "--framings", "core"])
    assert exported.exit_code == 0 and len(list((tmp_path / "tasks").glob("*.yaml"))) == 3


def test_user_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "scenario": "s", "choices": ["x", "y"], "aligned": 0, '
                   '"misaligned": 0, "topics": ["t"]}\n')
    proc = run_main("eval", "fake:always-A", "--suite", str(bad), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{bad}:1: 'aligned' and 'misaligned' must be different choices" in \
        " ".join(proc.stderr.split())
    proc = run_main("eval", str(tmp_path / "no-model"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "model not found" in proc.stderr
    proc = run_main("eval", "fake:always-A", "--framings", "observed", "--out", str(tmp_path))
    assert proc.returncode == 2 and "bad condition 'observed'" in proc.stderr
