"""Cores: the server being measured runs on a core of its own while it is measured, and
the rest of the run (the platform, the load generator, the servers that wait their turn)
shares the other cores.

In production the bridge has its CPU to itself and the platform and the callers are on
other machines. Here they share one machine, and every answer the platform sends wakes
it on whichever core is free: a server that shares its core with the platform and the
load generator waits for them at random moments, which is the machine's scheduling, not
the server's cost. On a single core nothing is pinned.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

_ALL = frozenset(os.sched_getaffinity(0))
SERVER_CORE = max(_ALL)
_REST = _ALL - {SERVER_CORE} if os.environ.get("BENCH_PIN", "1") == "1" else frozenset()


def _pin(pid: int, cores: frozenset[int]) -> None:
    """Every thread of `pid` (affinity is per thread on Linux)."""
    for thread in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(thread), cores)


@contextlib.contextmanager
def apparatus() -> Iterator[None]:
    """Within the block, this process and whatever it starts stay off the server core."""
    if not _REST:
        yield
        return
    _pin(os.getpid(), _REST)
    try:
        yield
    finally:
        _pin(os.getpid(), _ALL)


@contextlib.contextmanager
def own_core(pid: int) -> Iterator[None]:
    """The server `pid` alone on the server core for the block (see `apparatus`)."""
    if not _REST or os.sched_getaffinity(0) != _REST:
        yield
        return
    _pin(pid, frozenset({SERVER_CORE}))
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            _pin(pid, _REST)
