"""A small progress line on stderr (no dependency): count, total, rate, and a custom suffix."""
from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int | None, desc: str = "", stream=None, min_interval: float = 0.2):
        self.total = total
        self.desc = desc
        self.stream = stream or sys.stderr
        self.n = 0
        self.start = time.perf_counter()
        self._last = 0.0
        self.min_interval = min_interval
        self.enabled = True

    def update(self, n: int = 1, suffix: str = "") -> None:
        self.n += n
        now = time.perf_counter()
        if self.enabled and (now - self._last >= self.min_interval or (self.total and self.n >= self.total)):
            self._last = now
            self._draw(suffix)

    def _draw(self, suffix: str) -> None:
        if self.total:
            frac = min(1.0, self.n / self.total)
            bar = "#" * int(frac * 24)
            head = f"{self.desc} [{bar:<24}] {self.n}/{self.total}"
        else:
            head = f"{self.desc} {self.n}"
        self.stream.write(f"\r{head} {suffix}".ljust(79))
        self.stream.flush()

    def close(self, suffix: str = "") -> None:
        if self.enabled:
            self._draw(suffix)
            self.stream.write("\n")
            self.stream.flush()
