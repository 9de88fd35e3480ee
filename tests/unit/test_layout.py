"""The package's folders are its flows, and imports run one way: the core imports no flow, a
flow reaches another only through the modules that flow lists in its ``__all__``, nothing
but the command line imports the relay or the report, and there is no circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "exporter" / "pagerkit"
FLOWS = ("collect", "bundle", "oncall", "relay", "report")
ENTRY = {"pagerkit.cli", "pagerkit.__main__"}  # the command line wires every flow
LEAVES = ("relay", "report")  # what nothing but the command line may import


def module_name(package: Path, path: Path) -> str:
    parts = ["pagerkit", *path.relative_to(package).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(package: Path, path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) for every import in the file, inside functions too; a
    ``from X import name`` counts as importing ``X.name`` when that is a module."""
    here = module_name(package, path)
    base = here.split(".") if path.name == "__init__.py" else here.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                stem = ".".join([*base[:len(base) - node.level + 1], *filter(None, [node.module])])
            else:
                stem = node.module or ""
            for alias in node.names:
                target = f"{stem}.{alias.name}"
                is_module = any((package.parent / (target.replace(".", "/") + suffix)).exists()
                                for suffix in (".py", "/__init__.py"))
                found.append((node.lineno, target if is_module else stem))
    return [(line, name) for line, name in found if name.split(".")[0] == "pagerkit"]


def flow_of(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in FLOWS else None


def public_modules(package: Path, flow: str) -> set[str]:
    tree = ast.parse((package / flow / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return {f"pagerkit.{flow}.{name}" for name in ast.literal_eval(node.value)}
    return set()


def violations(package: Path) -> list[str]:
    """Every import that breaks the layout's rules, as ``path:line: what``."""
    public = {flow: public_modules(package, flow) for flow in FLOWS}
    found = []
    edges: dict[str, set[str]] = {}
    for path in sorted(package.rglob("*.py")):
        here = module_name(package, path)
        mine = flow_of(here)
        for line, target in imports(package, path):
            edges.setdefault(here, set()).add(target)
            theirs = flow_of(target)
            where = f"{path.relative_to(package.parent)}:{line}"
            if here in ENTRY or theirs is None or theirs == mine:
                continue
            if mine is None:
                found.append(f"{where}: the core module {here} imports the flow {target}")
            elif theirs in LEAVES:
                found.append(f"{where}: {here} imports {target}; only the command line "
                             f"imports the {theirs}")
            elif target not in public[theirs]:
                found.append(f"{where}: {here} imports {target}, which pagerkit.{theirs} "
                             "does not list in __all__")
    return found + circles(edges)


def circles(edges: dict[str, set[str]]) -> list[str]:
    """Import circles between modules, and between flows."""
    flows: dict[str, set[str]] = {}
    for src, targets in edges.items():
        for dst in targets:
            a, b = flow_of(src), flow_of(dst)
            if a and b and a != b:
                flows.setdefault(a, set()).add(b)
    return [f"import circle: {' -> '.join(c)}" for graph in (edges, flows)
            if (c := _circle(graph))]


def _circle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_package_keeps_its_import_rules() -> None:
    """Today's package: no import against the layout, no circle."""
    assert violations(PACKAGE) == []


def test_every_flow_says_what_flows_through_it() -> None:
    """Each flow's __init__ has a docstring (what enters, what leaves) and its public modules
    exist."""
    for flow in FLOWS:
        init = PACKAGE / flow / "__init__.py"
        assert ast.get_docstring(ast.parse(init.read_text())), init
        for name in public_modules(PACKAGE, flow):
            assert (PACKAGE.parent / (name.replace(".", "/") + ".py")).exists(), name


def test_modules_stay_small() -> None:
    """A module that grows past about 400 lines is doing two things."""
    big = [f"{p.relative_to(PACKAGE)}: {n}" for p in PACKAGE.rglob("*.py")
           if (n := len(p.read_text().splitlines())) > 420]
    assert big == []


@pytest.mark.parametrize(("module", "text", "expected"), [
    ("errors.py", "from .relay import app\n", "the core module pagerkit.errors imports"),
    ("yamlfile.py", "def f():\n    from .bundle.alerts import load_spec\n",
     "the core module pagerkit.yamlfile imports the flow pagerkit.bundle.alerts"),
    ("oncall/who.py", "from ..bundle.rules import header\n",
     "pagerkit.oncall.who imports pagerkit.bundle.rules, which pagerkit.bundle does not list"),
    ("bundle/alerts.py", "from ..relay.metrics import RelayMetrics\n",
     "only the command line imports the relay"),
    ("collect/engine.py", "from pagerkit.report import build\n",
     "only the command line imports the report"),
    ("oncall/routing.py", "from ..bundle import alerts\n", "import circle"),
])
def test_the_rules_catch_a_wrong_import(tmp_path: Path, module: str, text: str,
                                        expected: str) -> None:
    """A copy of the package with one import against the layout is caught, naming it."""
    import shutil

    copy = tmp_path / "pagerkit"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    target.write_text(target.read_text() + "\n" + text)
    found = violations(copy)
    assert any(expected in v for v in found), found
