"""The folders are the layers (docs/architecture.md): imports point down, argument parsing lives in tracker.cli."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# the library below the applications: it imports none of them (nor the command line)
CORE = (
    "trackers",
    "engines",
    "models",
    "xcorr",
    "config",
    "io",
    "geometry",
    "sequence",
    "runtime",
    "progress",
    "errors",
    "build",
    "prepare",
    "export",
    "result",
    "preprocess",
    "version",
)
APPLICATIONS = ("cli", "batch", "bench", "gui", "training")


def _imports(path: Path) -> set[str]:
    """Absolute names of the modules `path` imports (relative imports resolved), top-level and inside functions."""
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    package = parts if parts[-1] == "__init__" else parts[:-1]
    package = [p for p in package if p != "__init__"]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.add(target)
            out.update(f"{target}.{a.name}" for a in node.names)
    return out


def _modules(folder: str):
    return sorted((REPO / folder).rglob("*.py"))


def test_only_the_command_line_parses_arguments():
    offenders = [
        str(p.relative_to(REPO)) for p in _modules("tracker") if "argparse" in _imports(p) and p.parent.name != "cli"
    ]
    assert offenders == []


def test_the_library_imports_no_application():
    offenders = []
    for p in _modules("tracker"):
        rel = p.relative_to(REPO / "tracker")
        layer = rel.parts[0].removesuffix(".py")
        if layer not in CORE:
            continue
        for name in _imports(p):
            bits = name.split(".")
            if bits[0] == "tracker" and len(bits) > 1 and bits[1] in APPLICATIONS:
                offenders.append(f"{rel} imports {name}")
    assert offenders == []


def test_nothing_but_entry_points_imports_the_command_line():
    offenders = [
        str(p.relative_to(REPO))
        for p in _modules("tracker")
        if p.parent.name != "cli"
        and p.name != "__main__.py"
        and any(n == "tracker.cli" or n.startswith("tracker.cli.") for n in _imports(p))
    ]
    assert offenders == []


def test_backbones_import_nothing_of_tracker_statically():
    offenders = [
        f"{p.name}: {n}"
        for p in _modules("backbones")
        for n in _imports(p)
        if n == "tracker" or n.startswith("tracker.")
    ]
    assert offenders == []
