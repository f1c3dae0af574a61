"""The shape of the house (DESIGN.md): no import circles, a capability imports the core and never another
capability, and the command line starts without the heavy stack."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gruve"
CAPABILITIES = ("listen", "compose", "synth", "recommend")
ABOVE = ("gruve.cli", "gruve.serve")  # the layers above every capability (DESIGN.md): they may import them all


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, top_level_only: bool) -> set[str]:
    """The gruve modules `path` imports: at module level only, or anywhere (lazy imports in functions too);
    imports under `if TYPE_CHECKING:` are not counted."""
    tree = ast.parse(path.read_text())
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and getattr(block.test, "id", getattr(block.test, "attr", None)) == "TYPE_CHECKING"
                   for n in ast.walk(block)}  # imports for type hints only never run
    nodes = [n for n in (tree.body if top_level_only else ast.walk(tree)) if id(n) not in typing_only]
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("gruve")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base.startswith("gruve"):
                for alias in node.names:
                    candidate = f"{base}.{alias.name}"
                    found.add(candidate if (PACKAGE.parent / (candidate.replace(".", "/") + ".py")).exists()
                              or (PACKAGE.parent / candidate.replace(".", "/")).is_dir() else base)
    return found


def graph(top_level_only: bool) -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in imports(path, top_level_only) if m in modules and m != name}
            for name, path in modules.items()}


def test_no_import_circles():
    edges = graph(top_level_only=False)  # a lazy import inside a function closes a circle too
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                cycle = trail[trail.index(nxt):] + [nxt] if nxt in trail else [node, nxt]
                raise AssertionError("import circle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])


def test_a_capability_imports_no_other_capability():
    crossings = []
    for name, targets in graph(top_level_only=False).items():
        mine = name.split(".")[1] if name.count(".") >= 1 else None
        if mine not in CAPABILITIES:
            continue
        for target in targets:
            theirs = target.split(".")[1] if target.count(".") >= 1 else None
            if theirs in CAPABILITIES and theirs != mine:
                crossings.append(f"{name} imports {target}")
    assert not crossings, crossings


def test_the_core_imports_no_capability():
    core = {name: targets for name, targets in graph(top_level_only=False).items()
            if name.split(".")[1:2] and name.split(".")[1] not in CAPABILITIES and not name.startswith(ABOVE)}
    leaks = [f"{name} imports {t}" for name, targets in core.items() for t in targets
             if t.split(".")[1:2] and t.split(".")[1] in CAPABILITIES]
    assert not leaks, leaks


def test_the_command_line_starts_without_torch_or_lightning():
    code = ("import sys, gruve, gruve.cli; heavy = [m for m in ('torch', 'lightning', 'numpy') if m in sys.modules];"
            " print(','.join(heavy))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
