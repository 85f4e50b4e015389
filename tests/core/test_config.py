"""Typed configs: YAML loading, dotted overrides and one-line errors that name the key."""

from __future__ import annotations

from typing import Literal

import pytest
import yaml

from alignpt.core.config import (StrictModel, apply_overrides, build_config, load_config,
                                 write_resolved_config)
from alignpt.core.errors import ConfigError
from alignpt.core.units import parse_size


class Inner(StrictModel):
    lr: float = 1e-3
    schedule: Literal["cosine", "constant"] = "cosine"


class Outer(StrictModel):
    name: str = "run"
    steps: int = 10
    optim: Inner = Inner()
    tags: list[str] = []


def test_overrides_nested_typed_and_lists():
    data = {"optim": {"lr": 0.1}, "tags": ["a", "b"]}
    out = apply_overrides(data, ["optim.lr=3e-4", "steps=7", "tags.1=z", "name=x=y"])
    assert out == {"optim": {"lr": 3e-4}, "tags": ["a", "z"], "steps": 7, "name": "x=y"}
    assert data["optim"]["lr"] == 0.1  # the input is not modified
    cfg = build_config(Outer, data, ["optim.schedule=constant", "tags=[p, q]"])
    assert cfg.optim == Inner(lr=0.1, schedule="constant") and cfg.tags == ["p", "q"]


@pytest.mark.parametrize("overrides,message", [
    (["steps=many"], "steps: Input should be a valid integer"),
    (["optim.schedule=linear"], "optim.schedule: Input should be 'cosine' or 'constant'"),
    (["optim.lrr=1"], "optim.lrr: unknown key"),
    (["steps"], "override 'steps' must look like key.path=value"),
    (["tags.5=x"], "index 5 out of range"),
    (["name.first=x"], "'name' is a value, not a section"),
    (["tags.0.x=1"], "'tags.0' is a value, not a section"),
])
def test_errors_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message) as info:
        build_config(Outer, {"name": "n", "tags": ["a"]}, overrides)
    assert "\n" not in str(info.value)


def test_yaml_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: 3\noptim: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:\d+: invalid YAML"):
        load_config(Outer, bad)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(Outer, tmp_path / "missing.yaml")
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(Outer, lst)
    good = tmp_path / "good.yaml"
    good.write_text("steps: 3\noptim: {lr: 0.5}\n")
    with pytest.raises(ConfigError, match=r"good\.yaml: steps: Input should be greater"):
        class Positive(Outer):
            steps: int = 1

            def model_post_init(self, _):
                if self.steps < 5:
                    raise ValueError("never")
        from pydantic import Field
        class Bounded(StrictModel):
            steps: int = Field(1, gt=5)
            optim: Inner = Inner()
        load_config(Bounded, good)
    assert load_config(Outer, good, ["optim.lr=0.25"]).optim.lr == 0.25


def test_resolved_config_written_with_provenance(tmp_path):
    cfg = Outer(steps=3)
    path = write_resolved_config(tmp_path, cfg, inputs=["a.jsonl"], extra={"note": 1})
    doc = yaml.safe_load(path.read_text())
    assert doc["config"] == {"name": "run", "steps": 3, "optim": {"lr": 0.001,
                                                                   "schedule": "cosine"},
                             "tags": []}
    assert doc["inputs"] == ["a.jsonl"] and doc["note"] == 1
    assert doc["alignpt_version"] == "0.1.0" and "git_revision" in doc


@pytest.mark.parametrize("text,value", [("4096", 4096), ("256MB", 256_000_000),
                                        ("1GiB", 2**30), ("1.5kb", 1500), (12, 12)])
def test_parse_size(text, value):
    assert parse_size(text) == value


def test_parse_size_error():
    with pytest.raises(ConfigError, match="invalid size '12 parsecs'"):
        parse_size("12 parsecs")


def test_atomic_write_text_leaves_no_temporary_when_the_rename_fails(tmp_path):
    from alignpt.core.atomic import atomic_write_text

    (tmp_path / "out.json").mkdir()  # a folder where the file should go: os.replace fails
    with pytest.raises(OSError):
        atomic_write_text(tmp_path / "out.json", "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
    assert (tmp_path / "out.json").is_dir()
