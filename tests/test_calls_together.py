"""Calls that do not depend on each other, made together (`adapters.tasks.together`): all
in flight at once, results in the order asked, and nothing left running when one fails."""

from __future__ import annotations

import asyncio

import pytest

from adapters.deadline import within
from adapters.errors import UpstreamError
from adapters.tasks import together

pytestmark = pytest.mark.anyio


class Calls:
    """Calls that each wait for `release`, noting how many are in flight at once and how
    each one ended."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.most_in_flight = 0
        self.ended: dict[int, str] = {}
        self.release = asyncio.Event()

    async def call(self, number: int, *, fails: bool = False) -> int:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if fails:
                await asyncio.sleep(0)
                raise UpstreamError(f"call {number} failed")
            await self.release.wait()
            await asyncio.sleep(0.001 * (5 - number))  # the later ones end first
        except asyncio.CancelledError:
            self.ended[number] = "cancelled"
            raise
        finally:
            self.in_flight -= 1
        self.ended[number] = "answered"
        return number * 10


async def test_every_call_is_in_flight_at_once_and_the_results_keep_their_order() -> None:
    calls = Calls()
    asked = asyncio.ensure_future(together(calls.call(n) for n in range(5)))
    await asyncio.sleep(0.01)
    assert calls.most_in_flight == 5
    calls.release.set()

    assert await asked == [0, 10, 20, 30, 40]


async def test_when_one_fails_the_others_are_cancelled_and_awaited_before_it_is_raised() -> None:
    calls = Calls()

    with pytest.raises(UpstreamError, match="call 2 failed"):
        await together([calls.call(0), calls.call(1), calls.call(2, fails=True)])

    assert calls.ended == {0: "cancelled", 1: "cancelled"}
    assert calls.in_flight == 0


async def test_a_deadline_cuts_every_call_and_leaves_none_running() -> None:
    calls = Calls()

    with pytest.raises(TimeoutError):
        async with within(0.05):
            await together(calls.call(n) for n in range(3))

    assert calls.ended == dict.fromkeys(range(3), "cancelled")
    assert calls.in_flight == 0


async def test_no_calls_is_no_results() -> None:
    assert await together([]) == []
