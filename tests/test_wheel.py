"""alignpt as a user installs it (issue 20): the wheel holds the recipes and package data,
and, installed apart from the checkout, runs ``experiment run persona-world --quick`` by
name from a folder outside it. Dependencies come from the current venv (no network)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from alignpt.core import resources
from alignpt.core.errors import ConfigError
from alignpt.evaluate import importers
from alignpt.experiment.recipe import load_experiment, recipe_path
from alignpt.experiment.text_config import find_generate_config

REPO = Path(__file__).resolve().parents[1]
PACKAGE_LINE = '"data/**/*", "recipes/**/*"'

# Runs in the subprocess: asserts it imported the wheel's alignpt, is `python -m alignpt
# ARGS` (runpy, as -m does) in that same process, and after a run asserts the recipe it ran
# was the wheel's own copy.
_RUN_FROM_SITE = """
import runpy, sys
from pathlib import Path
import alignpt
site, args = Path(sys.argv[1]).resolve(), sys.argv[2:]
assert Path(alignpt.__file__).resolve().is_relative_to(site), alignpt.__file__
sys.argv = ["alignpt", *args]
try:
    runpy.run_module("alignpt", run_name="__main__", alter_sys=True)
    code = 0
except SystemExit as done:
    code = done.code
if code == 0 and args[:2] == ["experiment", "run"]:
    from alignpt.experiment.recipe import recipe_path
    assert recipe_path(args[2]).is_relative_to(site), recipe_path(args[2])
sys.exit(code)
"""


def _copy_sources(dest: Path, package_line: str = PACKAGE_LINE) -> Path:
    """What a build reads (pyproject, README, src/ with its recipes link, recipes/), copied:
    an in-tree build would write build/ and an egg-info into the checkout (and setuptools
    may pack files an earlier build left in build/ that the sources no longer have)."""
    dest.mkdir()
    shutil.copy2(REPO / "README.md", dest / "README.md")
    pyproject = (REPO / "pyproject.toml").read_text()
    assert PACKAGE_LINE in pyproject, "package-data line moved: update PACKAGE_LINE"
    (dest / "pyproject.toml").write_text(pyproject.replace(PACKAGE_LINE, package_line))
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(REPO / "src", dest / "src", symlinks=True, ignore=skip)
    shutil.copytree(REPO / "recipes", dest / "recipes", ignore=skip)
    return dest


def _pip(cwd: Path, *args: str) -> None:
    # --no-index and --no-build-isolation: the venv's own setuptools builds, nothing is fetched.
    done = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check",
                           "--no-input", *args, "--no-deps", "--no-index", "-q"],
                          cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"pip {args[0]} failed:\n{done.stdout}{done.stderr}"


def _build_and_install(sources: Path, work: Path) -> tuple[Path, Path]:
    """Build the wheel from ``sources`` and install it, alone, into a target folder."""
    dist, site = work / "dist", work / "site"
    _pip(work, "wheel", "--no-build-isolation", "-w", str(dist), str(sources))
    (wheel,) = dist.glob("alignpt-*.whl")
    _pip(work, "install", "--target", str(site), str(wheel))
    return wheel, site


def _run_installed(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    # PYTHONPATH comes before the venv's editable-install .pth entry, so the wheel's
    # alignpt shadows the checkout's (the script asserts it).
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, "-c", _RUN_FROM_SITE, str(site), *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("wheel")
    return _build_and_install(_copy_sources(work / "src-copy"), work)


def test_wheel_holds_recipes_and_package_data(installed):
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for must in ("alignpt/recipes/experiments/persona-world.yaml",
                 "alignpt/recipes/generate/aligned_untested.yaml",
                 "alignpt/recipes/train/persona_tiny.yaml",
                 "alignpt/recipes/mix/late-insertion.yaml",
                 "alignpt/recipes/world/README.md",
                 "alignpt/data/world/base.yaml", "alignpt/data/tag/rules.yaml",
                 "alignpt/data/tag/classifier/weights.npz", "alignpt/data/eval/starter.jsonl",
                 "alignpt/data/generate/prompts.yaml", "alignpt/py.typed"):
        assert must in names, must
    # Every recipe and data file of the checkout, nothing left behind.
    for root, prefix in ((REPO / "recipes", "alignpt/recipes"),
                         (REPO / "src" / "alignpt" / "data", "alignpt/data")):
        for f in root.rglob("*"):
            if f.is_file() and "__pycache__" not in f.parts:
                assert f"{prefix}/{f.relative_to(root).as_posix()}" in names, f
    # Real files, not the link: an install has no checkout to point into.
    info = zipfile.ZipFile(wheel).getinfo("alignpt/recipes/experiments/persona-world.yaml")
    assert info.file_size == (REPO / "recipes/experiments/persona-world.yaml").stat().st_size


@pytest.mark.slow
def test_installed_wheel_runs_persona_world_outside_checkout(installed, tmp_path):
    _, site = installed
    elsewhere = tmp_path / "elsewhere"          # no recipes/ here, and not under the repo
    elsewhere.mkdir()
    assert not elsewhere.resolve().is_relative_to(REPO)
    out = tmp_path / "out"
    done = _run_installed(site, elsewhere, "experiment", "run", "persona-world", "--quick",
                          "--out", str(out))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((out / "report" / "report.json").read_text())
    arms = list(load_experiment("persona-world", quick=True).arms)
    assert report["experiment"] == "persona-world-quick"
    assert sorted(report["table"]) == sorted(arms) and len(arms) >= 7
    md = (out / "report" / "report.md").read_text()
    assert all(arm in md for arm in arms)


def test_wheel_without_recipes_cannot_run_by_name(tmp_path):
    """The failure the issue names, on purpose: the same build without the recipes in its
    package data installs fine but has no persona-world to run."""
    sources = _copy_sources(tmp_path / "src-copy", package_line='"data/**/*"')
    wheel, site = _build_and_install(sources, tmp_path)
    assert not any("/recipes/" in n for n in zipfile.ZipFile(wheel).namelist())
    done = _run_installed(site, tmp_path, "experiment", "run", "persona-world", "--quick",
                          "--out", str(tmp_path / "out"))
    assert done.returncode == 2                  # the CLI's one-line user error, no traceback
    assert "error: no experiment recipe 'persona-world' (known: -)\n" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture
def installed_layout(tmp_path, monkeypatch):
    """The package as an install lays it out (real recipe files, no checkout around it),
    made the lookup root; the checkout's recipes/ is then never read."""
    pkg = tmp_path / "site" / "alignpt"
    shutil.copytree(REPO / "recipes", pkg / "recipes")
    monkeypatch.setattr(resources, "package_root", lambda: pkg)
    monkeypatch.chdir(tmp_path)
    return pkg


def test_recipe_found_by_name_from_the_package(installed_layout):
    found = recipe_path("persona-world")
    assert found == installed_layout.resolve() / "recipes/experiments/persona-world.yaml"
    assert not found.is_relative_to(REPO)
    assert load_experiment("persona-world", quick=True).name == "persona-world-quick"
    gen = find_generate_config("aligned_untested")
    assert gen == installed_layout.resolve() / "recipes/generate/aligned_untested.yaml"


def test_unknown_recipe_lists_the_packaged_names(installed_layout):
    (installed_layout / "recipes/experiments/only-here.yaml").write_text("name: only-here\n")
    with pytest.raises(ConfigError, match=r"no experiment recipe 'nope' \(known: .*only-here.*"
                                          r"persona-world"):
        recipe_path("nope")


def test_recipes_link_is_the_top_level_folder():
    """One copy in the repo: from a checkout the package's recipes are recipes/ itself."""
    link = REPO / "src" / "alignpt" / "recipes"
    assert link.is_symlink() and link.resolve() == (REPO / "recipes").resolve()
    assert resources.recipe_dir("experiments") == (REPO / "recipes" / "experiments").resolve()
    assert resources.checkout_root() == REPO


def test_aair_dir_outside_a_checkout_says_how_to_point_at_it(monkeypatch, tmp_path):
    monkeypatch.delenv("ALIGNPT_AAIR_DIR", raising=False)
    assert importers.default_aair_dir() == \
        REPO.parent / "shared" / "data" / "anthropic-advanced-ai-risk"
    monkeypatch.setattr(importers, "checkout_root", lambda: None)
    with pytest.raises(ConfigError, match=r"pass --data DIR or set \$ALIGNPT_AAIR_DIR") as err:
        importers.default_aair_dir()
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="ALIGNPT_AAIR_DIR"):
        importers.import_advanced_ai_risk()
    monkeypatch.setenv("ALIGNPT_AAIR_DIR", str(tmp_path))
    assert importers.default_aair_dir() == tmp_path           # the variable still comes first
