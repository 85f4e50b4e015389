"""The tiny experiment shared by the runner and report tests: three arms, two seeds."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from alignpt.cli import main

TINY = {
    "name": "tiny", "description": "three arms, two seeds, a 1-layer model", "seeds": [0, 1],
    "corpora": {"base": "base", "instruct": "instruct", "aligned_untested": "i_u"},
    "model": {"n_layer": 1, "n_head": 2, "d_model": 16},
    "training": {"seq_len": 48, "batch_size": 8, "pretrain_tokens": "12k",
                 "instruct_tokens": "2k", "rebound_tokens": "2k", "rebound_points": 2},
    "arms": {"unfiltered": {}, "aligned_untested": {"inject": "aligned_untested"},
             "aligned_untested_late": {"inject": "aligned_untested", "schedule": "late"}},
    "probes": {"ks": [0, 4, 8, 16], "fit_from_k": 4},
    "workers": 1,
}


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> tuple[Path, Path]:
    """The tiny recipe file and an uninterrupted run of it, once per session (tests read
    it or copy it, never change it)."""
    tmp = tmp_path_factory.mktemp("tiny")
    recipe = tmp / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(TINY))
    out = tmp / "uninterrupted"
    assert main(["experiment", "run", str(recipe), "--out", str(out), "-q"]) == 0
    return recipe, out
