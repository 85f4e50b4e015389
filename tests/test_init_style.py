"""One ``__init__`` style for every package under src/alignpt.

An ``__init__.py`` imports names from the package's modules and lists the ones a user needs in
``__all__``. It defines no class (base classes live in ``base.py``) and no function except the
PEP 562 hooks of the one lazy pattern, used only where an import is heavy (torch): a ``_LAZY``
table of name -> module behind ``__getattr__``, with a ``# Lazy (PEP 562):`` comment saying why.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import alignpt
from alignpt.core.errors import MissingDependencyError

SRC = Path(alignpt.__file__).parent
INITS = sorted(SRC.rglob("__init__.py"))
PEP562_HOOKS = {"__getattr__", "__dir__"}


def package_name(init: Path) -> str:
    return ".".join(init.parent.relative_to(SRC.parent).parts)


def declared_all(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        if (isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)):
            return list(ast.literal_eval(node.value))
    return None


def init_problems(source: str) -> list[str]:
    """What in one ``__init__.py``'s source breaks the house style (empty when nothing)."""
    tree = ast.parse(source)
    problems = []
    names = declared_all(tree)
    if names is None:
        problems.append("no __all__ (a literal list of the names a user needs)")
    elif len(set(names)) != len(names):
        problems.append("__all__ lists a name twice")
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            problems.append(f"defines class {node.name} (base classes live in base.py)")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name not in PEP562_HOOKS:
            problems.append(f"defines function {node.name} (move it to a module and import it)")
    hooks = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)} & PEP562_HOOKS
    if hooks:
        lazy = next((node.value for node in tree.body if isinstance(node, ast.Assign)
                     and any(isinstance(t, ast.Name) and t.id == "_LAZY" for t in node.targets)),
                    None)
        if "__getattr__" not in hooks or not isinstance(lazy, ast.Dict):
            problems.append("lazy names need the one pattern: a _LAZY dict behind __getattr__")
        elif names is not None and not {ast.literal_eval(k) for k in lazy.keys} <= set(names):
            problems.append("a _LAZY name is missing from __all__")
        if "# Lazy (PEP 562):" not in source:
            problems.append("lazy names need a '# Lazy (PEP 562): why' comment")
    return problems


def test_every_package_has_an_init():
    assert len(INITS) >= 12
    assert {package_name(p) for p in INITS} >= {
        "alignpt", "alignpt.world", "alignpt.mix", "alignpt.mix.writers",
        "alignpt.generate.backends", "alignpt.evaluate.backends", "alignpt.train"}


@pytest.mark.parametrize("init", INITS, ids=package_name)
def test_init_follows_the_house_style(init):
    assert init_problems(init.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("init", INITS, ids=package_name)
def test_every_exported_name_resolves(init):
    package = importlib.import_module(package_name(init))
    assert package.__all__ == declared_all(ast.parse(init.read_text(encoding="utf-8")))
    for name in package.__all__:
        try:
            getattr(package, name)
        except MissingDependencyError as exc:       # a lazy name whose extra is absent
            pytest.skip(f"{package.__name__}.{name}: {exc}")


def test_the_checker_finds_each_problem():
    """The same checker reports a class, a helper function, a missing __all__ and a lazy hook
    without the pattern (so the style test can fail)."""
    bad = ("import importlib\n"
           "class Base:\n    pass\n"
           "def helper():\n    pass\n"
           "def __getattr__(name):\n    return importlib.import_module(name)\n")
    assert init_problems(bad) == [
        "no __all__ (a literal list of the names a user needs)",
        "defines class Base (base classes live in base.py)",
        "defines function helper (move it to a module and import it)",
        "lazy names need the one pattern: a _LAZY dict behind __getattr__",
        "lazy names need a '# Lazy (PEP 562): why' comment",
    ]
    good = ('from a.b import c\n__all__ = ["c", "d"]\n'
            '# Lazy (PEP 562): d needs torch.\n_LAZY = {"d": "a.heavy"}\n'
            "def __getattr__(name):\n    pass\n")
    assert init_problems(good) == []
    assert init_problems(good.replace('"c", "d"', '"c"')) == ["a _LAZY name is missing from __all__"]
