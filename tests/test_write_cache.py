"""Reads see writes: forgetting a customer drops its bodies, keeps no fill that began
before, and never serves a pre-write body as stale."""

from __future__ import annotations

import asyncio

import pytest

from adapters.errors import UpstreamError
from bridge.cache import CacheStatus, ResponseCache
from tests.conftest import ManualClock


def _cache(clock: ManualClock) -> ResponseCache:
    return ResponseCache(max_entries=100, stale=600, clock=clock)


async def _body(text: bytes) -> bytes:
    return text


@pytest.mark.anyio
async def test_forgetting_a_customer_drops_its_entries_only(clock: ManualClock) -> None:
    cache = _cache(clock)
    await cache.refresh(("r3", "ana"), 30, lambda: _body(b"ana"), owner="ana")
    await cache.refresh(("r3", "john"), 30, lambda: _body(b"john"), owner="john")
    cache.forget_owner("ana")
    assert cache.fresh(("r3", "ana")) is None
    assert cache.fresh(("r3", "john")) == b"john"


@pytest.mark.anyio
async def test_a_forgotten_body_is_never_served_stale(clock: ManualClock) -> None:
    cache = _cache(clock)
    await cache.refresh(("r3", "ana"), 30, lambda: _body(b"before"), owner="ana")
    cache.forget_owner("ana")

    async def failing() -> bytes:
        raise UpstreamError("down")

    with pytest.raises(UpstreamError):
        await cache.refresh(("r3", "ana"), 30, failing, owner="ana")


@pytest.mark.anyio
async def test_a_fill_that_began_before_the_write_is_not_kept(clock: ManualClock) -> None:
    cache = _cache(clock)
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_pre_write_read() -> bytes:
        started.set()
        await release.wait()
        return b"before"

    early = asyncio.create_task(cache.refresh(("r3", "ana"), 30, slow_pre_write_read, owner="ana"))
    await started.wait()
    cache.forget_owner("ana")
    # A read after the write does not join the fill under way: it reads afresh.
    late = await cache.refresh(("r3", "ana"), 30, lambda: _body(b"after"), owner="ana")
    assert late == (b"after", CacheStatus.MISS)
    release.set()
    assert (await early)[0] == b"before"  # its own caller asked before the write
    assert cache.fresh(("r3", "ana")) == b"after"


@pytest.mark.anyio
async def test_a_fill_without_a_write_is_kept(clock: ManualClock) -> None:
    cache = _cache(clock)
    await cache.refresh(("r3", "ana"), 30, lambda: _body(b"body"), owner="ana")
    assert cache.fresh(("r3", "ana")) == b"body"
