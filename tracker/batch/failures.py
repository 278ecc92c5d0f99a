"""An item's failure: the exceptions that end an item (`ItemFailure`, `ItemInterrupted`) and its failed summary,
written by the item's own process (`record_failure`, the reason in one line) or, where that process could
not write it (it died, or the item never reached it), by the process that scheduled the item
(`failed_summary`)."""

from __future__ import annotations

import time
import traceback

from ..errors import UserError
from .inputs import BatchItem
from .options import BatchOptions
from .outputs import ItemPaths
from .summary import dump_summary, new_summary


class ItemFailure(Exception):
    """An item cannot be tracked; the message is recorded as its error."""


class ItemInterrupted(KeyboardInterrupt):
    """The batch is stopping (Ctrl-C): the item gives up, leaving only complete files."""


def record_failure(exc: Exception, item: BatchItem, paths: ItemPaths, summary: dict, t_item: float) -> dict:
    """Write the summary of the item's failure with `exc` (called while handling it: a traceback is kept for
    errors other than ItemFailure / UserError)."""
    from ..io.sinks import atomic_write_text

    summary["error"] = _describe(exc, item)
    if not isinstance(exc, (ItemFailure, UserError)):
        summary["traceback"] = traceback.format_exc(limit=8)
    summary["seconds"] = round(time.perf_counter() - t_item, 3)
    atomic_write_text(paths.summary, dump_summary(summary))
    return summary


def failed_summary(item: BatchItem, opts: BatchOptions, error: str) -> dict:
    """Write the summary of an item that failed outside its own process's reach with `error`; returns it."""
    from ..io.sinks import atomic_write_text

    s = new_summary(item, opts)  # every summary has the same keys, whoever writes it
    s["error"] = error
    atomic_write_text(ItemPaths.of(opts.out_dir, item.item_id).summary, dump_summary(s))
    return s


def _describe(exc: BaseException, item: BatchItem) -> str:
    msg = str(exc).strip() or type(exc).__name__
    if isinstance(exc, (ItemFailure, UserError)):
        # Messages from sources name the file; tracker messages (a bad box) do not.
        return msg if (item.video in msg or item.path in msg or item.origin in msg) else f"{item.video}: {msg}"
    return f"{item.video}: {type(exc).__name__}: {msg}"
