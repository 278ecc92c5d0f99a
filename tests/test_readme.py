"""The README's models table agrees with the presets (`siamtrack models`): names, input convention, weights,
the default. The table is the one place where the models are listed for users."""

from __future__ import annotations

import re
from pathlib import Path

from tracker.config.presets import DEFAULT_PRESET, get_preset, list_presets

README = Path(__file__).resolve().parent.parent / "README.md"


def _models_rows():
    text = README.read_text()
    section = text.split("\n## Models\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows.append(cells)
    return rows


def test_models_table_matches_the_presets():
    rows = _models_rows()
    names = [re.match(r"`([^`]+)`", r[0]).group(1) for r in rows]
    ours = [n for n in names if not n.startswith("opencv:")]
    assert ours and len(set(ours)) == len(ours)
    registered = {p.name for p in list_presets()}
    for name, row in zip(names, rows):
        if name.startswith("opencv:"):
            continue
        assert name in registered, f"README lists {name}, which is not a preset"
        p = get_preset(name)
        assert row[3] == p.input.describe(), f"{name}: README input {row[3]!r}, preset {p.input.describe()!r}"
        assert row[4].startswith("shipped") == p.weights_available, f"{name}: weights column {row[4]!r}"
        assert ("the default" in row[0]) == (name == DEFAULT_PRESET)
    assert DEFAULT_PRESET in ours
