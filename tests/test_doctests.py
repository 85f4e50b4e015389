"""Every docstring example (``>>>``) under src/alignpt runs, so the docs cannot drift from the code.

Each module whose source holds ``>>>`` is imported and its examples run with doctest. A module
(or an example) that needs an optional dependency that is not installed is skipped, naming it;
a missing *alignpt* module is a failure like any other. Examples that need a run folder or a
trained model carry ``# doctest: +SKIP`` and say why in the docstring.
"""

from __future__ import annotations

import doctest
import importlib
import io
import tempfile
from pathlib import Path
from types import ModuleType

import pytest

import alignpt
from alignpt.core.errors import MissingDependencyError

SRC = Path(alignpt.__file__).parent
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def modules_with_examples() -> list[str]:
    names = []
    for path in sorted(SRC.rglob("*.py")):
        if ">>>" in path.read_text(encoding="utf-8"):
            parts = path.relative_to(SRC.parent).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _missing_optional(exc: BaseException) -> str | None:
    """The optional dependency ``exc`` says is absent, or None when it is a real error."""
    if isinstance(exc, MissingDependencyError):
        return str(exc)
    if isinstance(exc, ModuleNotFoundError) and exc.name and exc.name.split(".")[0] != "alignpt":
        return f"{exc.name} is not installed"
    return None


class _Runner(doctest.DocTestRunner):
    """A runner that remembers the first missing optional dependency an example hit."""

    missing: str | None = None

    def report_unexpected_exception(self, out, test, example, exc_info):
        self.missing = self.missing or _missing_optional(exc_info[1])
        super().report_unexpected_exception(out, test, example, exc_info)


def run_examples(module: ModuleType) -> tuple[doctest.TestResults, str, str | None]:
    """Run the examples of ``module`` itself (not of names it re-exports): results, the
    failure report, and the optional dependency that was missing, if any."""
    runner = _Runner(optionflags=FLAGS)
    report = io.StringIO()
    for test in doctest.DocTestFinder().find(module, module.__name__):
        runner.run(test, out=report.write)
    return runner.summarize(verbose=False), report.getvalue(), runner.missing


MODULES = modules_with_examples()


def test_examples_are_found():
    assert "alignpt.generate.render" in MODULES and "alignpt.world.bayes" in MODULES
    assert len(MODULES) >= 15


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        reason = _missing_optional(exc)
        if reason is None:
            raise
        pytest.skip(f"{name}: {reason}")
    # Examples write their files under tempfile.mkdtemp(): keep them inside this test's folder.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    results, report, missing = run_examples(module)
    if results.failed and missing:
        pytest.skip(f"{name}: {missing}")
    assert results.failed == 0, report


def test_a_wrong_example_fails(tmp_path, monkeypatch):
    """The same runner reports an example whose output is wrong (the check can fail)."""
    (tmp_path / "wrong_example.py").write_text(
        'def add(a, b):\n    """\n    >>> add(1, 2)\n    4\n    """\n    return a + b\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    results, report, missing = run_examples(importlib.import_module("wrong_example"))
    assert (results.failed, results.attempted, missing) == (1, 1, None)
    assert "Expected:\n    4\nGot:\n    3" in report


def test_a_missing_optional_dependency_is_told_apart(tmp_path, monkeypatch):
    (tmp_path / "needs_extra.py").write_text(
        'def f():\n    """\n    >>> import not_installed_anywhere_xyz\n    """\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    results, _, missing = run_examples(importlib.import_module("needs_extra"))
    assert results.failed == 1 and missing == "not_installed_anywhere_xyz is not installed"
