"""The rooms' rules that import-linter cannot see: no import circle anywhere in the project's
own code (a circle inside one room included), and no function-local import of the project's
own modules (the old way of dodging a circle). Read from the source, so a lazy import inside
a function counts as much as one at the top of a file."""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = ("market", "views")
TOP_MODULES = ("app", "models")


def _module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources():
    files = [ROOT / f"{name}.py" for name in TOP_MODULES]
    for package in PACKAGES:
        files.extend(sorted((ROOT / package).rglob("*.py")))
    return {_module_name(path): path for path in files}


MODULES = _sources()


def _own(name):
    return name in MODULES or any(name.startswith(p + ".") or name == p for p in PACKAGES)


def _resolve(name):
    """The project module an import names (a `from package import module` names the module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _dynamic_import(node):
    if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)):
        return False
    func = node.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    return name in ("__import__", "import_module")


def _imports(module, path):
    """(imported project module, line, inside a function?) for every import in the file."""
    tree = ast.parse(path.read_text(), str(path))
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            dynamic = False
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if _dynamic_import(child):
                # `__import__("views.api")` or `import_module(...)`: a lazy import by another name.
                names, dynamic = [child.args[0].value], True
            elif isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    package = module.split(".")[: -child.level] if not path.name == "__init__.py" else \
                        module.split(".")[: len(module.split(".")) - child.level + 1]
                    base = ".".join([*package, base] if base else package)
                names = [f"{base}.{alias.name}" for alias in child.names] or [base]
            else:
                visit(child, nested)
                continue
            for name in names:
                target = _resolve(name) if _own(name.split(".")[0]) or _own(name) else None
                if target and target != module:
                    found.append((target, child.lineno, in_function or dynamic))
        return found

    return visit(tree, False)


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def test_the_project_is_read_whole():
    # A wrong walk (wrong root, no packages) would make every other test here pass on nothing.
    assert {"app", "models", "market.core.money", "market.wiring"} <= set(MODULES)
    assert any(target == "models" for edges in GRAPH.values() for target, _, _ in edges)


def test_a_function_local_import_is_seen(tmp_path):
    # The walker itself: an import inside a function is reported as one.
    source = tmp_path / "probe.py"
    source.write_text("import models\n\ndef later():\n    from market.core import money\n"
                      "    __import__('market.jobs.seed')\n")
    assert _imports("probe", source) == [("models", 1, False), ("market.core.money", 4, True),
                                         ("market.jobs.seed", 5, True)]


def test_no_function_local_import_of_the_projects_own_modules():
    local = [f"{MODULES[m].relative_to(ROOT)}:{line} imports {target}"
             for m, edges in GRAPH.items() for target, line, in_function in edges if in_function]
    assert local == []


def _cycle_from(start):
    """A shortest import path from `start` back to itself, or None."""
    frontier, seen = [[start]], {start}
    while frontier:
        path = frontier.pop(0)
        for target, _, _ in GRAPH.get(path[-1], ()):
            if target == start:
                return [*path, start]
            if target not in seen:
                seen.add(target)
                frontier.append([*path, target])
    return None


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_circle(module):
    cycle = _cycle_from(module)
    assert cycle is None, " → ".join(cycle)
