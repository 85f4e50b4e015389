"""The world and bayes commands, run through typer's test runner."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from alignpt.core.errors import AlignptError, ConfigError, DataError
from alignpt.core.tokens import TokenShard
from alignpt.world.cli import bayes_app, world_app

from .conftest import EXAMPLE_PRIOR

runner = CliRunner()


def ok(app, args):
    res = runner.invoke(app, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.output


def fails(app, args, exc=AlignptError):
    res = runner.invoke(app, args)
    assert isinstance(res.exception, exc), (res.exception, res.output)
    assert "\n" not in str(res.exception)
    return str(res.exception)


def test_half_life_command():
    out = ok(bayes_app, ["half-life", "--p", "0.01"])
    assert "68.97" in out and "687.3" in out and "infinity" in out
    assert "76.59" in ok(bayes_app, ["half-life", "--p", "0.01", "--eps", "0.001"])
    assert "must exceed eps" in fails(bayes_app, ["half-life", "--p", "0.01", "--eps", "0.02"])


def test_posterior_command_bare_and_recipe():
    out = ok(bayes_app, ["posterior", "--prior", EXAMPLE_PRIOR, "--history", "U:C*8,U"])
    assert "P(D | next flag U) = 0.00957759" in out
    out = ok(bayes_app, ["posterior", "--prior", EXAMPLE_PRIOR, "--history", "T:C*80"])
    assert "P(D | next flag U) = 0.124692" in out and "0.248972" in out     # clever's mass
    out = ok(bayes_app, ["posterior", "--recipe", "base", "--history", "T:C*10,U:C*2",
                         "--era", "8", "--header", "STORY"])
    assert "regime:" in out and "era_gated" in out
    assert "exactly one" in fails(bayes_app, ["posterior", "--history", "T:C"])
    assert "probability 0" in fails(bayes_app, ["posterior", "--prior", "luigi=1", "--history", "T:D"],
                                    DataError)
    assert "persona=weight" in fails(bayes_app, ["posterior", "--prior", "luigi"], ConfigError)


def test_curve_command_writes_csv_and_plot(tmp_path):
    pytest.importorskip("matplotlib")
    csv, png = tmp_path / "c.csv", tmp_path / "c.png"
    out = ok(bayes_app, ["curve", "--prior", EXAMPLE_PRIOR, "--k-max", "80", "--csv", str(csv),
                         "--plot", str(png)])
    assert "0.1247" in out
    lines = csv.read_text().splitlines()
    assert len(lines) == 82 and lines[0].startswith("k,T:q_U,T:q_T,U:q_U,U:q_T")
    row80 = dict(zip(lines[0].split(","), lines[-1].split(",")))
    assert float(row80["T:q_U"]) == pytest.approx(0.12469161, rel=1e-7)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "exceeds" in fails(bayes_app, ["curve", "--recipe", "i_u_short", "--k-max", "50"])


def test_world_generate_describe_check(tmp_path):
    out_dir = tmp_path / "corpus"
    out = ok(world_app, ["generate", "base", "--tokens", "60000", "--seed", "4", "--out", str(out_dir),
                         "--inject", "i_u=0.2", "--filtered", "--shard-tokens", "30000", "--quiet"])
    assert "i_u: 0." in out and "target 0.200" in out
    shard = TokenShard(out_dir / "part-00000")
    assert shard.sources == ["base", "i_u"]
    assert "base: era" in ok(world_app, ["check", str(out_dir)])
    assert "--force" in fails(world_app, ["generate", "base", "--tokens", "100", "--out", str(out_dir)])
    out = ok(world_app, ["describe", "base", "--inject", "i_t=0.3", "--ks", "0,8", "--era", "2"])
    assert "exact probes at era 2" in out and "i_t" in out
    js = ok(world_app, ["describe", "i_u", "--json", "--ks", "0,4"])
    assert '"header": "STORY"' in js
    assert "unknown key" in fails(world_app, ["describe", "base", "--set", "sources.base.x=1"])
    assert "RECIPE=SHARE" in fails(world_app, ["describe", "base", "--inject", "i_u"])
    assert "i_u_short" in ok(world_app, ["recipes"])


def test_check_command_reports_rejection(tmp_path):
    out_dir = tmp_path / "c"
    ok(world_app, ["generate", "i_u", "--tokens", "20000", "--seed", "1", "--out", str(out_dir), "--quiet"])
    cfg = out_dir / "config.yaml"
    cfg.write_text(cfg.read_text().replace("deploy_only: 0.5", "deploy_only: 0.95"))
    assert "reject" in fails(world_app, ["check", str(out_dir)], DataError)
