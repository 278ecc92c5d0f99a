"""What a long run shows on stderr: a tiny progress bar (redrawn in place on a terminal, one line per finished
item otherwise), and `notice`, the library's one line before a slow step that would otherwise pass in silence
(a preset prepared for this machine on its first run). A library caller sees no notices; the command line
shows them (tracker.cli.main: show_notices), except with --quiet."""

from __future__ import annotations

import sys
import time
from typing import TextIO

_notices: TextIO | None = None  # where `notice` writes; None: nowhere


def show_notices(stream: TextIO | None) -> None:
    """Send the library's notices to `stream` (the command line: stderr), or nowhere (None, the default)."""
    global _notices
    _notices = stream


def notice(message: str) -> bool:
    """One line about a slow step starting, for an application that asked for them (show_notices); whether
    it was shown."""
    if _notices is None:
        return False
    _notices.write(f"siamtrack: {message}\n")
    _notices.flush()
    return True


class Progress:
    def __init__(self, total: int, desc: str = "", stream=None, width: int = 28, enabled: bool = True):
        self.total = max(int(total), 0)
        self.done = 0
        self.desc = desc
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.enabled = enabled
        self.tty = enabled and bool(getattr(self.stream, "isatty", lambda: False)())
        self.t0 = time.monotonic()
        self._last_draw = 0.0
        self.info = ""

    def advance(self, n: int = 1, info: str | None = None) -> None:
        """Count `n` more units of work (frames); redraw at most 10 times a second on a terminal."""
        self.done = min(self.total, self.done + n) if self.total else self.done + n
        if info is not None:
            self.info = info
        if self.tty:
            now = time.monotonic()
            if now - self._last_draw >= 0.1 or self.done >= self.total:
                self._last_draw = now
                self._draw()

    def note(self, message: str) -> None:
        """A line that stays (a finished sequence, a warning), printed above the bar."""
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\r\033[K" + message + "\n")
            self._draw()
        else:
            self.stream.write(f"[{self.done}/{self.total}] {message}\n")
        self.stream.flush()

    def _draw(self) -> None:
        frac = self.done / self.total if self.total else 1.0
        fill = int(round(frac * self.width))
        elapsed = time.monotonic() - self.t0
        eta = ""
        if 0 < self.done < self.total:
            rest = elapsed / self.done * (self.total - self.done)
            eta = f" ETA {int(rest // 60)}:{int(rest % 60):02d}"
        bar = "#" * fill + "." * (self.width - fill)
        self.stream.write(f"\r\033[K{self.desc} [{bar}] {100 * frac:3.0f}% {self.done}/{self.total}{eta} {self.info}")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
