"""Keep the hyperscan database cache inside the test session, not in the user's home."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _hyperscan_cache(tmp_path_factory):
    old = os.environ.get("ALIGNPT_CACHE")
    os.environ["ALIGNPT_CACHE"] = str(tmp_path_factory.mktemp("alignpt-cache"))
    yield
    if old is None:
        os.environ.pop("ALIGNPT_CACHE", None)
    else:
        os.environ["ALIGNPT_CACHE"] = old


@pytest.fixture
def one_torch_thread():
    """Tiny models on a shared CPU: one torch thread is faster than several fighting for
    cores. Restores the count after the test."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
