import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# the exports and timed choices the engines remember (tracker.engines.choice) go to a fresh folder per run,
# not the user's cache: what a test measures is then what a first run does
os.environ.setdefault("SIAMTRACK_CACHE", tempfile.mkdtemp(prefix="siamtrack-test-cache-"))

REPO = Path(__file__).resolve().parent.parent

# The tests run the library as the siamtrack commands do: with their process settings (TF32 off, so the CUDA
# parity runs compare full float32; freed memory kept). Building a tracker leaves these alone
# (test_runtime.test_building_a_tracker_leaves_the_process_alone checks that in a fresh process).
from tracker.runtime import configure_process  # noqa: E402 - imported once the environment above is set

configure_process()

SHARED = Path(os.environ.get("SIAMTRACK_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir():
    if not SHARED.is_dir():
        pytest.fail(f"shared data folder not found at {SHARED} (set SIAMTRACK_SHARED)")
    return SHARED
