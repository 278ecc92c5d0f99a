"""The house rules of docs/architecture.md, read from the code's own imports: no import loops, every import
pointing down the floors, no module using another module's `_private` name; and read from the files: only the
command line parses arguments, and a file over MAX_LINES says why at its top.

Every import in tracker/ and backbones/ counts: at module level, inside functions, under TYPE_CHECKING,
relative and absolute. The floors are read from the ```layers block of docs/architecture.md, the one place
they are written."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ARCHITECTURE = REPO / "docs" / "architecture.md"
PACKAGES = ("tracker", "backbones")


@dataclass(frozen=True)
class Import:
    source: str  # the importing file, relative to the repository
    target: str  # the imported module's file
    line: int
    text: str  # the import statement's first line as written
    names: tuple[str, ...] = ()  # the names taken from the target (`from X import a, b`)

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}: {self.text}"


@dataclass(frozen=True)
class Use:
    source: str
    line: int
    text: str
    target: str  # the module whose name is used
    name: str


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the packages."""
    out = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def _module_of(dotted: str) -> str | None:
    """The longest prefix of `dotted` that is one of our modules."""
    while dotted and dotted not in MODULES:
        dotted = dotted.rpartition(".")[0]
    return dotted or None


def _package(name: str, path: Path) -> list[str]:
    return name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]


def read_imports(name: str, path: Path, source: str | None = None) -> tuple[list[Import], list[Use]]:
    """Module `name`'s imports of our modules (`source`, else the file's text), and its uses `alias._name` of
    a module of ours it imported."""
    source = path.read_text(encoding="utf-8") if source is None else source
    lines = source.splitlines()
    tree = ast.parse(source)
    package = _package(name, path)
    imports: list[Import] = []
    aliases: dict[str, str] = {}  # local name -> the module of ours it stands for
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                target = _module_of(a.name)
                if target is None:
                    continue
                imports.append(Import(_rel(path), _rel(MODULES[target]), node.lineno, lines[node.lineno - 1].strip()))
                top = a.name.split(".")[0]
                aliases[a.asname or top] = target if a.asname else top
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                dotted = ".".join(base + ([node.module] if node.module else []))
            else:
                dotted = node.module or ""
            target = _module_of(dotted)
            if target is None:
                continue
            taken: dict[str, tuple[str, ...]] = {}
            for a in node.names:
                if f"{dotted}.{a.name}" in MODULES:  # a module: `from . import sequence`
                    taken.setdefault(f"{dotted}.{a.name}", ())
                    aliases[a.asname or a.name] = f"{dotted}.{a.name}"
                else:
                    taken[target] = (*taken.get(target, ()), a.name)
            text = lines[node.lineno - 1].strip()
            imports += [Import(_rel(path), _rel(MODULES[t]), node.lineno, text, names) for t, names in taken.items()]
    uses = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        chain, base = [node.attr], node.value
        while isinstance(base, ast.Attribute):
            chain.insert(0, base.attr)
            base = base.value
        if not isinstance(base, ast.Name) or base.id not in aliases:
            continue
        module = aliases[base.id]
        for part in chain:  # through the submodules (`tracker.io.sinks`) to the first attribute
            if f"{module}.{part}" not in MODULES:
                if _is_private(part) and module != name:
                    uses.append(
                        Use(_rel(path), node.lineno, lines[node.lineno - 1].strip(), _rel(MODULES[module]), part)
                    )
                break
            module = f"{module}.{part}"
    return [i for i in imports if i.target != i.source], uses


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def read_all() -> tuple[list[Import], list[Use]]:
    imports: list[Import] = []
    uses: list[Use] = []
    for name, path in MODULES.items():
        found, used = read_imports(name, path)
        imports += found
        uses += used
    return imports, uses


def read_floors(text: str) -> list[list[str]]:
    """The floors of the ```layers block in `text`, bottom first; each a list of rooms (a folder `a/b/` or a
    file `a/b.py`). The block is written top floor first: a floor is a line that starts with its rooms; an
    indented line (a description, an arrow) is not."""
    match = re.search(r"^```layers\n(.*?)^```", text, re.S | re.M)
    assert match, f"{ARCHITECTURE}: no ```layers block"
    room = re.compile(r"^(?:tracker|backbones)(?:/\w+)*(?:/|\.py)$")
    found = []
    for line in match.group(1).splitlines():
        if not line or line[0].isspace():
            continue
        rooms = []
        for word in line.split():
            if not room.match(word):
                break
            rooms.append(word)
        assert rooms, f"{ARCHITECTURE}: a floor line names no room: {line!r}"
        found.append(rooms)
    return found[::-1]


FLOORS = read_floors(ARCHITECTURE.read_text(encoding="utf-8"))


def room_of(file: str) -> tuple[int, str]:
    """(floor, counted from 0 at the bottom; room) of a file: the most specific room that holds it."""
    best: tuple[int, str] | None = None
    for level, rooms in enumerate(FLOORS):
        for r in rooms:
            if (file == r or (r.endswith("/") and file.startswith(r))) and (best is None or len(r) > len(best[1])):
                best = (level, r)
    if best is None:
        raise AssertionError(f"{file} is in no room of the ```layers block of {ARCHITECTURE.name}: add it there")
    return best


def upward(imports: list[Import]) -> list[str]:
    """An import of a room on the same floor or above, each as 'file:line: import' and what is wrong."""
    wrong = []
    for i in imports:
        (low, room), (high, target_room) = room_of(i.source), room_of(i.target)
        if room == target_room or high < low:
            continue
        where = "the same floor as" if high == low else "a floor above"
        wrong.append(f"{i.where}\n    imports {i.target} (room {target_room}), on {where} {i.source} (room {room})")
    return wrong


def _groups(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    groups = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return groups


def loops(imports: list[Import]) -> list[str]:
    """Each loop of modules importing each other (directly or round a ring), with the imports that make it."""
    edges: dict[str, set[str]] = {}
    for i in imports:
        edges.setdefault(i.source, set()).add(i.target)
    report = []
    for group in _groups(edges):
        report.append("a loop of " + ", ".join(group) + ":")
        report += [f"  {i.where}  (-> {i.target})" for i in imports if i.source in group and i.target in group]
    return report


def private(imports: list[Import], uses: list[Use]) -> list[str]:
    """Each use of another module's `_name`: imported by name, or as `module._name`."""
    wrong = []
    for i in imports:
        for n in i.names:
            if _is_private(n):
                wrong.append(f"{i.where}\n    takes {n}, private to {i.target}")
    for u in uses:
        if u.source != u.target:
            wrong.append(f"{u.source}:{u.line}: {u.text}\n    uses {u.name}, private to {u.target}")
    return wrong


IMPORTS, USES = read_all()


def test_the_layers_block_names_every_room_once_and_only_rooms_that_exist():
    rooms = [r for floor in FLOORS for r in floor]
    assert len(rooms) == len(set(rooms)), "a room stands on two floors"
    for r in rooms:
        assert (REPO / r).exists(), f"{ARCHITECTURE.name} names {r}, which does not exist"
    for path in MODULES.values():
        room_of(_rel(path))


def test_imports_point_down_the_floors():
    wrong = upward(IMPORTS)
    assert not wrong, "imports that do not point down (docs/architecture.md, ```layers):\n" + "\n".join(wrong)


def test_no_import_loops():
    report = loops(IMPORTS)
    assert not report, "modules that import each other:\n" + "\n".join(report)


def test_no_module_uses_another_modules_private_names():
    wrong = private(IMPORTS, USES)
    assert not wrong, "private names used across modules:\n" + "\n".join(wrong)


def _fake(name: str, source: str) -> tuple[list[Import], list[Use]]:
    return read_imports(name, MODULES[name], source)


def test_a_violation_names_both_files_and_the_import_line():
    """The reader finds imports at module level, in functions and under TYPE_CHECKING, relative and absolute,
    and each check names the importing file and line, the import as written and the imported file."""
    code = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from .cli import main\n"
        "def f():\n"
        "    import tracker.errors as e\n"
        "    from tracker.cli.args import _helper\n"
        "    return e._secret\n"
    )
    imports, uses = _fake("tracker.geometry", code)
    wrong = upward(imports)
    assert any("tracker/geometry.py:3: from .cli import main" in w and "tracker/cli/__init__.py" in w for w in wrong), (
        wrong
    )
    assert any("tracker/geometry.py:6: from tracker.cli.args import _helper" in w for w in wrong), wrong
    priv = private(imports, uses)
    assert any("takes _helper, private to tracker/cli/args.py" in w for w in priv), priv
    assert any("tracker/geometry.py:7: return e._secret" in w and "tracker/errors.py" in w for w in priv), priv
    ring = read_imports("tracker.errors", MODULES["tracker.errors"], "def g():\n    from .geometry import iou\n")[0]
    report = loops(imports + ring)
    assert report and "tracker/errors.py, tracker/geometry.py" in report[0], report
    assert any("tracker/errors.py:2: from .geometry import iou" in r for r in report), report


MAX_LINES = 400  # about what a reader takes in as one thing


def test_every_file_is_small_or_says_why():
    """A room's file over MAX_LINES starts with a `# size:` line giving the reason it is one file."""
    for path in MODULES.values():
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) > MAX_LINES:
            assert lines[0].startswith("# size:"), f"{_rel(path)} has {len(lines)} lines and no '# size:' reason"


def test_only_the_command_line_parses_arguments():
    """Library functions and applications take values; flags and their parsing live in tracker/cli."""
    offenders = []
    for path in MODULES.values():
        rel = _rel(path)
        if rel.startswith("tracker/cli/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            if "argparse" in names:
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []
