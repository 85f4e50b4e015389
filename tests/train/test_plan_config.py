from __future__ import annotations

import pytest
import yaml

from alignpt.core.errors import ConfigError
from alignpt.train.config import ModelConfig, TrainPlan, WindowConfig, parse_count
from alignpt.train.phases import load_plan, validate_plan
from tests.train.train_world import tiny_plan


@pytest.mark.parametrize("text, value", [("8M", 8_000_000), ("200k", 200_000), ("1.5B", 1_500_000_000),
                                         ("2e6", 2_000_000), ("12_345", 12345), (4096, 4096),
                                         (1e3, 1000)])
def test_parse_count(text, value):
    assert parse_count(text) == value


@pytest.mark.parametrize("bad", ["1.5", "ten", "3.3k7", 2.5, True])
def test_parse_count_rejects(bad):
    with pytest.raises(ValueError):
        parse_count(bad)


@pytest.mark.parametrize("spec, bounds", [("throughout", (0.0, 1.0)), ("last 10%", (0.9, 1.0)),
                                          ("first 20%", (0.0, 0.2)), ("first 0.5", (0.0, 0.5)),
                                          ({"last": 0.25}, (0.75, 1.0)),
                                          ({"start": 0.3, "end": 0.6}, (0.3, 0.6))])
def test_window_forms(spec, bounds):
    w = WindowConfig.model_validate(spec)
    assert (w.start, w.end) == pytest.approx(bounds)


def test_model_config_defaults_and_resolution():
    cfg = ModelConfig(arch="llama", d_model=96, n_head=4)
    assert cfg.ffn_dim == 256  # 8/3 * 96 = 256, already a multiple of 32
    assert ModelConfig(d_model=64).ffn_dim == 256
    r = ModelConfig(vocab_multiple=64).resolved(vocab_size=20, seq_len=128)
    assert (r.vocab_size, r.max_seq_len, r.d_ff) == (64, 128, 256)
    with pytest.raises(ValueError, match="divisible"):
        ModelConfig(d_model=30, n_head=4)
    with pytest.raises(ConfigError, match="shorter than seq_len"):
        ModelConfig(max_seq_len=32).resolved(20, 64)


def _write(tmp_path, plan):
    p = tmp_path / "plan.yaml"
    p.write_text(yaml.safe_dump(plan))
    return p


def test_load_plan_with_overrides_and_absolute_paths(tmp_path, world, monkeypatch):
    plan = tiny_plan(world)
    plan["sources"]["base"]["paths"] = ["rel/base"]
    path = _write(tmp_path, plan)
    monkeypatch.chdir(tmp_path)
    cfg = load_plan(path, ["seed=7", "phases.0.steps=12", "model.d_model=16"])
    assert cfg.seed == 7 and cfg.phases[0].steps == 12 and cfg.model.d_model == 16
    assert cfg.sources["base"].paths == [str(tmp_path / "rel" / "base")]
    assert cfg.tokens_per_step == 8 * 65


@pytest.mark.parametrize("override, message", [
    ("phases.0.mix.1.share=1.5", "phases.0.mix.1.share"),
    ("model.depth=3", "model.depth: unknown key"),
    ("phases.0.mix.1.source=nope", "unknown source 'nope'"),
    ("phases.0.tokens=1000", "exactly one of tokens or steps"),
])
def test_plan_errors_name_the_key(tmp_path, world, override, message):
    path = _write(tmp_path, tiny_plan(world))
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("'", ".")):
        load_plan(path, [override])


def test_budget_errors(world):
    plan = tiny_plan(world)
    plan["phases"][0]["mix"] = [{"source": "base", "share": 0.5}, {"source": "inject", "share": 0.3}]
    with pytest.raises(ConfigError, match="shares add up to 0.8"):
        validate_plan(TrainPlan.model_validate(plan))
    plan["phases"][0]["mix"] = ["base", {"source": "inject", "share": 0.5, "window": "last 25%"}]
    with pytest.raises(ConfigError, match="windowed sources need"):
        validate_plan(TrainPlan.model_validate(plan))
    plan["phases"][0]["mix"] = [{"source": "base", "share": 0.5, "window": "first 50%"},
                                {"source": "inject", "share": 0.5, "window": "last 25%"}]
    with pytest.raises(ConfigError, match="not covered"):
        validate_plan(TrainPlan.model_validate(plan))
    plan["phases"][0]["mix"] = ["base", {"source": "inject", "share": 0.1, "window": "last 1%"}]
    with pytest.raises(ConfigError, match="need 1248 tokens in steps 23-24, which hold only 520"):
        validate_plan(TrainPlan.model_validate(plan))
