from __future__ import annotations

from pathlib import Path

import pytest

from tests.train.train_world import write_world

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _one_thread():
    """The machine is shared and the models are tiny: one thread is fastest, and a fixed
    thread count fixes the floating-point reduction order that bitwise comparisons rely on."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> dict[str, Path]:
    """Shards: a mixed base corpus, a small Luigi injection corpus (deploy-heavy),
    an ASSIST-header instruct corpus, and a held-out base set."""
    root = tmp_path_factory.mktemp("world")
    return {
        "base": write_world(root / "base", 1500, seed=0),
        "inject": write_world(root / "inject", 60, seed=1, source="inject_u",
                              personas={"luigi": 1.0}, p_u=0.9),
        "instruct": write_world(root / "instruct", 200, seed=2, source="instruct",
                                personas={"luigi": 1.0}, p_u=0.0, header="ASSIST", n_max=12),
        "held": write_world(root / "held", 300, seed=3),
    }
