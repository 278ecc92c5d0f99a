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


def pytest_collection_modifyitems(config, items):
    # every test that reads the shared data (through the shared_dir fixture, directly or via another fixture)
    # is marked `shared`: `-m "not shared"` runs the rest on a checkout without ../shared
    for item in items:
        if "shared_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.shared)


@pytest.fixture(scope="session")
def shared_dir():
    if not SHARED.is_dir():
        why = f"needs the shared data folder {SHARED} (../shared beside the checkout, or set SIAMTRACK_SHARED)"
        if os.environ.get("SIAMTRACK_REQUIRE_SHARED"):  # CI: a missing folder is an error, not a skip
            pytest.fail(why)
        pytest.skip(why)
    return SHARED
