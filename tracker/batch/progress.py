"""The batch's progress on stderr: one line per finished item (with its fps) and, on a terminal, an
overall bar redrawn in place showing the items in flight. Stdlib only; safe to call from a listener thread."""

from __future__ import annotations

import sys
import threading
import time


class Progress:
    def __init__(self, stream=None, enabled: bool = True, bar: bool | None = None, width: int = 24):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        isatty = getattr(self.stream, "isatty", lambda: False)()
        self.bar = enabled and (isatty if bar is None else bar)
        self.width = width
        self.lock = threading.Lock()
        self.total = self.completed = self.ok = self.failed = self.resumed = 0
        self.frames = 0
        self.active: dict[str, dict] = {}
        self.t0 = time.perf_counter()
        self._last_draw = 0.0
        self._drawn = False

    # -- events
    def begin(self, total: int, already_done: int) -> None:
        with self.lock:
            self.total = total
            self.t0 = time.perf_counter()
            if self.enabled and already_done:
                self._write(f"batch: {already_done} of {total} items already finished (skipped; --force redoes them)")
            self._draw(force=True)

    def report(self, kind: str, item_id: str, **data) -> None:
        with self.lock:
            if kind == "begin":
                self.active[item_id] = {"done": 0, "total": None, "fps": None}
            elif kind == "start":
                self.active.setdefault(item_id, {}).update(done=1, total=data.get("total"))
            elif kind == "frames":
                self.active.setdefault(item_id, {}).update(data)
            self._draw()

    def item_done(self, summary: dict, resumed: bool = False) -> None:
        with self.lock:
            item_id = summary.get("item_id", "?")
            self.active.pop(item_id, None)
            self.completed += 1
            ok = summary.get("status") == "ok"
            self.ok += ok
            self.failed += not ok
            if resumed:
                self.resumed += 1
                self._draw()
                return
            self.frames += summary.get("frames") or 0
            if ok:
                fps = summary.get("fps")
                lost = summary.get("frames_lost") or 0
                skipped = summary.get("frames_skipped") or 0
                extra = (f", {lost} lost" if lost else "") + (f", {skipped} undecodable" if skipped else "")
                fps_text = f"{fps:.1f} fps" if fps else "- fps"
                self._write(
                    f"  ok     [{self.completed}/{self.total}] {item_id}: {summary.get('frames')} frames, "
                    f"{fps_text}{extra}"
                )
            else:
                self._write(f"  FAILED [{self.completed}/{self.total}] {item_id}: {summary.get('error')}")

    def note(self, text: str) -> None:
        """A line of its own (e.g. a retried item), above the bar."""
        with self.lock:
            self._write(text)

    def end(self, interrupted: bool = False) -> None:
        with self.lock:
            if not self._drawn:
                self._draw(force=True)
            if self.bar and self._drawn:
                self.stream.write("\n")
                self._drawn = False
            self.bar = False
            if self.enabled:
                el = time.perf_counter() - self.t0
                state = "interrupted" if interrupted else "done"
                rate = f", {self.frames / el:.1f} frames/s overall" if el > 0 and self.frames else ""
                self._write(
                    f"batch {state}: {self.ok} ok, {self.failed} failed, "
                    f"{self.total - self.completed} not done, {self.resumed} already finished; "
                    f"{el:.1f} s{rate}"
                )
            self.stream.flush()

    # -- drawing
    def line(self) -> str:
        frac = self.completed / self.total if self.total else 1.0
        filled = int(round(frac * self.width))
        bar = "#" * filled + "-" * (self.width - filled)
        el = time.perf_counter() - self.t0
        frames = self.frames + sum(a.get("done") or 0 for a in self.active.values())
        parts = [
            f"[{bar}] {self.completed}/{self.total} items",
            f"{self.failed} failed" if self.failed else "",
            f"{el:.0f}s",
            f"{frames / el:.1f} frames/s" if el > 0 and frames else "",
        ]
        for item_id, a in list(self.active.items())[:3]:
            tot = a.get("total")
            fps = a.get("fps")
            parts.append(f"{item_id} {a.get('done', 0)}/{tot if tot else '?'}" + (f" {fps:.1f} fps" if fps else ""))
        return " | ".join(p for p in parts if p)

    def _draw(self, force: bool = False) -> None:
        if not self.bar:
            return
        now = time.perf_counter()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        self.stream.write("\r" + self.line()[:200] + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def _write(self, text: str) -> None:
        if not self.enabled:
            return
        if self.bar and self._drawn:
            self.stream.write("\r\x1b[K")
        self.stream.write(text + "\n")
        self.stream.flush()
        self._drawn = False
        if self.bar:
            self._draw(force=True)
