"""The deterministic shard of a batch one machine takes (`--shard I/N`)."""

from __future__ import annotations

import hashlib
import re

from ..errors import UserError
from .inputs import BatchItem


def parse_shard(text: str) -> tuple[int, int]:
    """ "i/n" with 0 <= i < n (0-based, like a Kubernetes completion index or `SLURM_ARRAY_TASK_ID`
    for an array 0-(n-1))."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m:
        raise UserError(f"--shard {text!r}: expected i/n, e.g. 0/4")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 0 <= i < n:
        raise UserError(f"--shard {text}: need 0 <= i < n (shards are numbered from 0)")
    return i, n


def shard_key(item_id: str) -> int:
    """A hash of the item id that is the same on every machine and Python (not `hash()`, which is salted)."""
    return int.from_bytes(hashlib.sha1(item_id.encode("utf-8")).digest()[:8], "big")


def select_shard(items: list[BatchItem], index: int, count: int, by: str = "id") -> list[BatchItem]:
    """The items of shard `index` of `count`. by="id": stable hash of the item id (an item stays in its
    shard when the manifest is reordered or grows); by="index": manifest position mod count (even sizes)."""
    if count == 1:
        return list(items)
    if by == "index":
        return [it for k, it in enumerate(items) if k % count == index]
    return [it for it in items if shard_key(it.item_id) % count == index]
