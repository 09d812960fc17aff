"""The package reads as the pipeline: imports flow one way between stages and form no cycle.

Stages, bottom first: the shared modules directly in ``corrector/``, then ``data``, ``decoding``,
``correction``, ``training``, ``evaluation``, ``cli`` and the demo. A module may import its own stage
or an earlier one, never a later one. Every import counts, function-level ones too (read with ``ast``).
The package face (``corrector/__init__.py``) re-exports lazily and is exempt; importing it is
importing the package itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "corrector"
BOTTOM = {"nbest", "errors", "files", "metrics", "hub", "models"}
STAGES = ["data", "decoding", "correction", "training", "evaluation", "cli", "demo"]


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def stage(module: str) -> int:
    """0 for the shared bottom, 1.. for the stages in pipeline order."""
    part = module.split(".")[1]
    return 0 if part in BOTTOM else STAGES.index(part) + 1


def imports(path: Path, module: str, package: Path = PACKAGE) -> set[str]:
    """The ``corrector`` modules that ``path`` imports, resolving ``from corrector.x import y`` to the module."""
    found: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "corrector"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join(anchor + ([base] if base else []))
            if base.split(".")[0] != "corrector":
                continue
            for a in node.names:
                sub = f"{base}.{a.name}"
                found.add(sub if (package.parent / (sub.replace(".", "/") + ".py")).exists() else base)
    return {m for m in found if m != "corrector"}


def graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    mods = {module_name(p, package): p for p in sorted(package.rglob("*.py"))}
    return {m: imports(p, m, package) for m, p in mods.items() if m != "corrector"}


def upward(g: dict[str, set[str]]) -> list[str]:
    return sorted(f"{m} -> {d}" for m, deps in g.items() for d in deps if stage(d) > stage(m))


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan), plus self-imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in g.get(v, ()):
                found.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return found


def test_every_module_has_a_stage():
    for m in graph():
        stage(m)  # ValueError names a module outside every stage


def test_imports_flow_one_way():
    assert upward(graph()) == [], "imports against the stage order (bottom, " + ", ".join(STAGES) + ")"


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_imports_resolve_to_modules():
    g = graph()
    missing = sorted(f"{m} -> {d}" for m, deps in g.items() for d in deps if d not in g)
    assert missing == []


def test_few_modules_at_the_top():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 8, top


def test_every_stage_says_what_it_owns():
    for name in STAGES[:-1]:
        init = PACKAGE / name / "__init__.py"
        assert ast.get_docstring(ast.parse(init.read_text())), f"{init} needs a docstring"


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        ({"data/formats.py": "from corrector.correction.gate import gated\n"}, "upward"),
        (
            {
                "data/a.py": "def f():\n    from corrector.data import b\n",
                "data/b.py": "from corrector.data.a import f\n",
            },
            "cycle",
        ),
        ({"metrics.py": "from corrector.data.prompts import render\n"}, "upward"),
    ],
)
def test_the_checks_catch_a_bad_import(tmp_path, files, problem):
    pkg = tmp_path / "corrector"
    for d in ["", *STAGES[:-1]]:
        (pkg / d).mkdir(parents=True, exist_ok=True)
        (pkg / d / "__init__.py").write_text("")
    for name in ("prompts", "formats"):
        (pkg / "data" / f"{name}.py").write_text("")
    (pkg / "correction" / "gate.py").write_text("")
    for rel, text in files.items():
        (pkg / rel).write_text(text)
    g = graph(pkg)
    if problem == "upward":
        assert upward(g) and not cycles(g)
    else:
        assert cycles(g) == [["corrector.data.a", "corrector.data.b"]] and not upward(g)
