"""The shape of the code: no import cycles between spikefa's modules (imports at module
level; imports inside functions are the way to break one) and no function with more
than 20 parameters."""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "spikefa"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _top_level_imports(path: Path, name: str) -> set:
    tree = ast.parse(path.read_text())
    pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in tree.body:          # module level only
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("spikefa")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.startswith("spikefa"):
                out.add(mod)
                out |= {f"{mod}.{a.name}" for a in node.names}
    return out


def test_no_import_cycles():
    mods = {_module_name(p): p for p in PKG.rglob("*.py") if "models" not in p.parts}
    graph = {m: {d for d in _top_level_imports(p, m) if d in mods and d != m} for m, p in mods.items()}
    # a package's __init__ importing its own submodules is how packages work, not a cycle
    for m in graph:
        graph[m] = {d for d in graph[m] if not (d.startswith(m + ".") and mods[m].name == "__init__.py")}
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == "open":
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(d):] + [d]))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_no_function_takes_more_than_20_parameters():
    long = []
    for path in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                n = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs)
                if n > 20:
                    long.append(f"{path.relative_to(PKG.parent)}:{node.lineno} {node.name} ({n})")
    assert not long, long
