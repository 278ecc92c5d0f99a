"""The release number, in one place: the package metadata (setup.cfg), `siamtrack --version` and an export's
sidecar read it."""

__version__ = "0.2.0"
