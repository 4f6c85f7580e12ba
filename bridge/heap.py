"""The garbage collector, set for a long-running server.

What exists before the first request (modules, the app, the adapter, pydantic's
validators) lives as long as the process, yet CPython's cyclic collector walks all of it
on every full collection. And with the default thresholds a young collection runs every
700 allocations, which one answer built from pydantic models passes several times over.
Freezing the startup heap takes it out of every collection; a larger young generation
makes collections rarer while garbage still goes within a few requests.
"""

from __future__ import annotations

import gc

THRESHOLDS = (10_000, 50, 50)
"""Allocations before a young collection, then young collections before the next
generation's (CPython's defaults: 700, 10, 10)."""


def settle_heap() -> None:
    """Collect what startup left behind, freeze the rest, and space collections out."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
