"""The GUI package's rooms (tracker.gui): each file holds one thing, small enough to read (about 400 lines, or a
'# size:' line at its top saying why not), imports inside the package never go round in a loop, and no module
takes another's private names."""

import ast
from pathlib import Path

import tracker.gui

GUI = Path(tracker.gui.__file__).parent
MAX_LINES = 400


def modules():
    return {p.stem: p for p in sorted(GUI.glob("*.py"))}


def gui_imports(path):
    """(module imported from inside tracker.gui, names) for each relative import `from .x import ...`."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            yield node.module.split(".")[0], [a.name for a in node.names]


def test_every_gui_file_is_small_or_says_why():
    for name, path in modules().items():
        lines = path.read_text().splitlines()
        if len(lines) > MAX_LINES:
            assert lines[0].startswith("# size:"), f"{name}.py has {len(lines)} lines and no '# size:' reason"


def test_no_import_loops_inside_the_gui_package():
    graph = {name: {m for m, _ in gui_imports(path) if m in modules()} for name, path in modules().items()}
    state = {}

    def visit(node, trail):
        state[node] = "open"
        for nxt in graph[node]:
            assert state.get(nxt) != "open", "import loop: " + " -> ".join([*trail, node, nxt])
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = "done"

    for name in graph:
        if name not in state:
            visit(name, [])


def test_no_gui_module_imports_another_modules_private_names():
    for path in GUI.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("tracker")):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.name} imports {private} from {node.module}"
