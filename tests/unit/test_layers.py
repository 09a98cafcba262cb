"""The library's layers import one way: each only from the layers below it, with no cycles.

Every import counts, function-local ones included. The checker runs on the real tree and, as a
self-test, on small trees made here with an upward import and a cycle.
"""
import ast
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[2] / "harness"
# Lowest first. Packages on one rank are siblings and do not import each other.
LAYERS = [("core",), ("model",), ("targets",), ("artifacts",), ("infra",),
          ("checks", "rehearsal", "report"), ("ops",), ("matrix",), ("cli",), ("__main__",)]
RANK = {pkg: rank for rank, pkgs in enumerate(LAYERS) for pkg in pkgs}


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(root: Path, path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import of a project module in `path`, at any depth."""
    me = module_name(root, path).split(".")
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = me if path.name == "__init__.py" else me[:-1]
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((node.lineno, target))
            # `from harness.report import matrix`: the module imported is harness.report.matrix
            out += [(node.lineno, f"{target}.{a.name}") for a in node.names
                    if (root.parent / Path(*f"{target}.{a.name}".split("."))).with_suffix(".py").exists()]
    return [(line, m) for line, m in out if m == root.name or m.startswith(root.name + ".") or m == "pytest"]


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def violations(root: Path) -> list[str]:
    found, graph = [], {}
    for path in sorted(root.rglob("*.py")):
        me = module_name(root, path)
        mine = layer(me)
        if mine and mine not in RANK and path.name != "__init__.py":
            found.append(f"{path.relative_to(root.parent)}: {me} is in no layer (known: {', '.join(RANK)})")
        for line, target in imports(root, path):
            where = f"{path.relative_to(root.parent)}:{line}"
            if target == "pytest":
                found.append(f"{where}: the library imports pytest")
                continue
            theirs = layer(target)
            if mine not in RANK or not theirs:
                pass
            elif theirs not in RANK:
                found.append(f"{where}: {target} is in no layer")
            elif theirs != mine and RANK[theirs] >= RANK[mine]:
                found.append(f"{where}: {me} ({mine}) imports {target} ({theirs}), which is not below it")
            if target != me:
                graph.setdefault(me, set()).add(target)
    found += [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    out, state = [], {}

    def visit(node, stack):
        state[node] = "active"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "active":
                out.append(stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return out


def test_the_library_imports_only_downwards_without_cycles():
    assert violations(HARNESS) == []


def _tree(tmp_path, files: dict[str, str]) -> Path:
    root = tmp_path / "harness"
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def test_an_upward_import_even_inside_a_function_is_found(tmp_path):
    root = _tree(tmp_path, {
        "__init__.py": "", "core/__init__.py": "", "ops/__init__.py": "",
        "core/labels.py": "def f():\n    from harness.ops.reap import reap\n",
        "ops/reap.py": "from ..core.labels import f\n\ndef reap():\n    pass\n",
    })
    found = violations(root)
    assert "harness/core/labels.py:2: harness.core.labels (core) imports harness.ops.reap (ops), " \
           "which is not below it" in found
    assert any(v.startswith("import cycle: harness.core.labels -> harness.ops.reap") for v in found), found


def test_siblings_pytest_and_unknown_packages_are_found(tmp_path):
    root = _tree(tmp_path, {
        "__init__.py": "", "report/__init__.py": "", "checks/__init__.py": "", "misc/__init__.py": "",
        "report/matrix.py": "import pytest\nfrom harness.checks import rootless\n",
        "checks/rootless.py": "", "misc/x.py": "",
    })
    found = violations(root)
    assert "harness/report/matrix.py:1: the library imports pytest" in found
    assert any("harness.report.matrix (report) imports harness.checks" in v for v in found), found
    assert any("harness.misc.x is in no layer" in v for v in found), found
