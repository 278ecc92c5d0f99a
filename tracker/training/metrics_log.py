"""What a training run logs: the metrics file, a CSV (always) and TensorBoard events (when the tensorboard
package is installed); the window of steps one training row sums up; the progress of an epoch on stderr.

On resume the CSV keeps the rows up to the resumed step and continues after them, so the file always reads
as one run.
"""

from __future__ import annotations

import csv
import io
import sys
import time
from pathlib import Path

from ..io.sinks import atomic_write_text

FIELDS = [
    "kind",
    "epoch",
    "step",
    "lr",
    "loss",
    "cls",
    "loc",
    "pos_per_pair",
    "val_auc",
    "val_precision",
    "samples_per_s",
    "elapsed_s",
]


class MetricsLog:
    def __init__(self, path, resume_step: int | None = None, tensorboard: bool = True):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is not None and self.path.is_file():
            rows = list(csv.DictReader(io.StringIO(self.path.read_text())))
            keep = [r for r in rows if r.get("step", "") != "" and int(float(r["step"])) <= resume_step]
            buf = io.StringIO()
            w = csv.DictWriter(buf, FIELDS, extrasaction="ignore")
            w.writeheader()
            w.writerows(keep)
            atomic_write_text(self.path, buf.getvalue())
        else:
            atomic_write_text(self.path, ",".join(FIELDS) + "\n")
        self._f = open(self.path, "a", newline="")
        self._w = csv.DictWriter(self._f, FIELDS, extrasaction="ignore")
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(self.path.parent / "tensorboard"))
            except Exception:  # noqa: BLE001 - tensorboard missing or broken (it raises many types): CSV only
                self.tb = None

    def write(self, **row) -> None:
        out = {}
        for k, v in row.items():
            out[k] = f"{v:.6g}" if isinstance(v, float) else v
        self._w.writerow(out)
        self._f.flush()
        if self.tb is not None:
            step = int(row.get("step", 0))
            for k, v in row.items():
                if isinstance(v, float) and k not in ("elapsed_s",):
                    self.tb.add_scalar(f"{row.get('kind', 'train')}/{k}", v, step)

    def close(self) -> None:
        self._f.close()
        if self.tb is not None:
            self.tb.close()


def read_metrics(path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(Path(path).read_text())))


class EpochProgress:
    """One epoch's steps on stderr: a bar redrawn in place on a terminal, a line every 30 s otherwise."""

    def __init__(self, total, desc, enabled):
        self.total, self.desc, self.enabled = total, desc, enabled
        self.n, self.t0, self.last = 0, time.perf_counter(), 0.0
        self.tty = sys.stderr.isatty()

    def update(self, suffix=""):
        self.n += 1
        if not self.enabled:
            return
        now = time.perf_counter()
        done = self.n >= self.total
        if self.tty and (now - self.last > 0.2 or done):
            frac = self.n / max(1, self.total)
            sys.stderr.write(f"\r{self.desc} [{'#' * int(frac * 20):<20}] {self.n}/{self.total} {suffix}".ljust(100))
            sys.stderr.flush()
            self.last = now
        elif not self.tty and (now - self.last > 30 or done):
            sys.stderr.write(f"{self.desc} {self.n}/{self.total} {suffix}\n")
            self.last = now

    def close(self):
        if self.enabled and self.tty:
            sys.stderr.write("\n")


class LogWindow:
    """The training steps since the last metrics row: their summed losses, positives and wall time."""

    def __init__(self):
        self.loss = self.cls = self.loc = self.pos = 0.0
        self.n = 0
        self.t0 = time.perf_counter()

    def add(self, rec: dict, pos: float) -> None:
        if rec["finite"]:  # a step whose loss was not finite counts, with nothing added
            self.loss, self.cls, self.loc = self.loss + rec["loss"], self.cls + rec["cls"], self.loc + rec["loc"]
        self.pos += pos
        self.n += 1

    def means(self) -> list[float]:
        n = max(1, self.n)
        return [self.loss / n, self.cls / n, self.loc / n, self.pos / n]
