import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# the exports and timed choices the engines remember (tracker.engines.choice) go to a fresh folder per run,
# not the user's cache: what a test measures is then what a first run does
os.environ.setdefault("SIAMTRACK_CACHE", tempfile.mkdtemp(prefix="siamtrack-test-cache-"))

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SIAMTRACK_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir():
    if not SHARED.is_dir():
        pytest.fail(f"shared data folder not found at {SHARED} (set SIAMTRACK_SHARED)")
    return SHARED
