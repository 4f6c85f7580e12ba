"""Turns of the platform call budget given back by calls that never went out (SPEC §9):
cancelled while waiting for their turn or a call slot (calls made together when one of
them failed, a read made ahead of need and not used), out of time for a slot, or failed
before their request was written. The platform never saw them, so the next call has
their turn; a turn still followed by one that is held stays taken, so that the rate is
never passed. In one process, in Redis across replicas (a real redis-server), and over
loopback where the platform is involved."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from adapters.breaker import Ahead
from adapters.budget import CallBudget, LocalBucket
from adapters.deadline import deadline_after, within
from adapters.errors import NotFound, OverBudget, UpstreamTimeout, UpstreamUnavailable
from adapters.http import HTTPConfig, PlatformResponse, UpstreamClient
from adapters.shared_state import SharedState
from adapters.tasks import start_task, together
from tests.conftest import ManualClock
from tests.redis_server import RedisServer, redis_server
from tests.servers import serve

__all__ = ["redis_server"]


def test_the_last_turn_taken_is_given_back_at_once(clock: ManualClock) -> None:
    bucket = LocalBucket(4.0, clock=clock)
    first = bucket.reserve(-1)
    second = bucket.reserve(-1)
    assert first is not None and second is not None
    bucket.give_back(second.turn)
    assert bucket.wait_for_turn() == pytest.approx(0.25)  # where the second turn was
    again = bucket.reserve(-1)
    assert again is not None and again.turn == second.turn


def test_a_turn_followed_by_a_held_one_is_taken_until_that_one_is_back(
    clock: ManualClock,
) -> None:
    bucket = LocalBucket(4.0, clock=clock)
    turns = [bucket.reserve(-1) for _ in range(4)]  # now, +0.25, +0.5, +0.75
    assert None not in turns
    held = [turn.turn for turn in turns if turn is not None]
    bucket.give_back(held[1])
    bucket.give_back(held[2])
    # the last one is held: a call now would be due with it, so the next turn stays after it
    assert bucket.wait_for_turn() == pytest.approx(1.0)
    bucket.give_back(held[3])  # now all after the first are back, in any order
    assert bucket.wait_for_turn() == pytest.approx(0.25)


def test_a_turn_given_back_once_its_moment_has_passed_frees_the_bucket_now(
    clock: ManualClock,
) -> None:
    bucket = LocalBucket(1.0, clock=clock)
    assert bucket.reserve(-1) is not None  # sent
    waited = bucket.reserve(-1)  # due in 1 s
    assert waited is not None
    clock.advance(1.5)  # its moment came, then its call found no slot in time
    bucket.give_back(waited.turn)
    assert bucket.wait_for_turn() == 0.0
    clock.advance(0.1)
    assert bucket.reserve(0.0) is not None
    assert bucket.reserve(0.5) is None  # and the one after it is 1 s later, as always


@pytest.mark.anyio
async def test_a_call_cancelled_while_waiting_gives_its_turn_back() -> None:
    budget = CallBudget(2.0)
    await budget.take(None)
    waiting = start_task(budget.take(None))
    await asyncio.sleep(0.05)
    assert budget.local.wait_for_turn() > 0.5  # its turn is taken
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert budget.local.wait_for_turn() <= 0.5


# Over Redis, by two replicas


@asynccontextmanager
async def replicas(server: RedisServer, rate: float) -> AsyncIterator[list[CallBudget]]:
    namespace = f"test-budget-{uuid.uuid4().hex}"
    shared = [SharedState(server.url, namespace=namespace) for _ in range(2)]
    try:
        yield [CallBudget(rate, shared=one) for one in shared]
        assert all(one.reachable for one in shared)
    finally:
        for one in shared:
            await one.close()


async def cancelled(tasks: list[asyncio.Task[object]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.anyio
async def test_turns_given_back_on_one_replica_are_free_for_another(
    redis_server: RedisServer,
) -> None:
    async with replicas(redis_server, 2.0) as (a, b):
        await a.take(None)  # sent: the next turn is in 0.5 s
        waiting: list[asyncio.Task[object]] = [start_task(a.take(None)) for _ in range(4)]
        await asyncio.sleep(0.05)  # turns at 0.5, 1, 1.5 and 2 s taken
        with pytest.raises(OverBudget):
            await b.take(1.2)
        await cancelled(waiting)  # earliest first: the worst order to give them back in
        await a.given_back()
        await b.take(1.2)  # the turn at 0.5 s


@pytest.mark.anyio
async def test_a_turn_given_back_before_a_held_one_stays_taken_in_redis(
    redis_server: RedisServer,
) -> None:
    async with replicas(redis_server, 2.0) as (a, b):
        await a.take(None)
        earlier: list[asyncio.Task[object]] = [start_task(a.take(None))]  # at 0.5 s
        later: list[asyncio.Task[object]] = [start_task(a.take(None))]  # at 1 s
        await asyncio.sleep(0.05)
        await cancelled(earlier)
        await a.given_back()
        with pytest.raises(OverBudget) as refused:
            await b.take(1.2)  # not at 0.5 s: due with the held turn at 1 s, too close
        assert refused.value.retry_after == 2
        await cancelled(later)
        await a.given_back()
        await b.take(1.2)


# Over loopback: the platform sees the calls


class Platform:
    """A platform over loopback that logs when each call arrived; `missing` answers 404,
    `slow` answers once `release` is set."""

    def __init__(self) -> None:
        self.url = ""
        self.arrived: list[float] = []
        self.release = threading.Event()
        self.app = Starlette(routes=[Route("/things/{name}", self.thing)])

    async def thing(self, request: Request) -> JSONResponse:
        self.arrived.append(time.monotonic())
        name = request.path_params["name"]
        if name == "slow":
            await asyncio.to_thread(self.release.wait, 10)
        return JSONResponse({}, status_code=404 if name == "missing" else 200)

    def most_in_any_second(self) -> int:
        return max(
            sum(1 for other in self.arrived if start <= other < start + 1.0)
            for start in self.arrived
        )


@pytest.fixture
def platform() -> Iterator[Platform]:
    served = Platform()
    with serve(served.app) as served.url:
        yield served
        served.release.set()


@asynccontextmanager
async def budgeted(
    url: str, budget: CallBudget, config: HTTPConfig | None = None
) -> AsyncIterator[UpstreamClient]:
    client = UpstreamClient(url, platform="p", config=config or HTTPConfig(), budget=budget)
    try:
        yield client
    finally:
        await client.close()


async def get(client: UpstreamClient, name: str) -> PlatformResponse:
    response = await client.send("GET", f"/things/{name}", retry=False)
    if response.status_code == 404:
        raise NotFound(name)
    return response


@pytest.mark.anyio
async def test_calls_cancelled_with_a_failed_sibling_leave_the_bucket_free(
    platform: Platform,
) -> None:
    budget = CallBudget(2.0)
    async with budgeted(platform.url, budget) as client:
        for _ in range(3):  # one 404 at once, five calls waiting for their turns cancelled
            with pytest.raises(NotFound):
                async with within(8):
                    await together(
                        [get(client, "missing")] + [get(client, str(n)) for n in range(5)]
                    )
        assert len(platform.arrived) == 3
        assert budget.local.wait_for_turn() <= 0.5  # the turn after the last call sent
        async with within(2):
            await get(client, "next")  # not OverBudget


@pytest.mark.anyio
async def test_a_dropped_read_ahead_of_need_gives_its_turn_back(platform: Platform) -> None:
    budget = CallBudget(2.0)
    async with budgeted(platform.url, budget) as client:
        await get(client, "needed")
        ahead = Ahead(lambda: get(client, "ahead"))  # due 0.5 s later
        await asyncio.sleep(0.05)
        ahead.settle()  # the request did not need it
        with pytest.raises(asyncio.CancelledError):
            await ahead.result()
        assert budget.local.wait_for_turn() <= 0.5
        assert len(platform.arrived) == 1


@pytest.mark.anyio
async def test_a_turn_whose_call_found_no_slot_in_time_is_given_back(
    platform: Platform,
) -> None:
    budget = CallBudget(1.0)
    async with budgeted(platform.url, budget, HTTPConfig(max_in_flight=1)) as client:
        holding = start_task(get(client, "slow"))  # the one slot, from now on
        await asyncio.sleep(0.05)
        # A deadline that cancels nothing: the call's own wait for a slot ends at it.
        with pytest.raises(UpstreamTimeout), deadline_after(1.3):
            await get(client, "queued")  # its turn at 1 s, then no slot until 1.3 s
        assert budget.local.wait_for_turn() == 0.0  # not 1 s after the unsent call's turn
        platform.release.set()
        await holding
        assert len(platform.arrived) == 1


@pytest.mark.anyio
async def test_a_turn_whose_connection_was_refused_is_given_back() -> None:
    budget = CallBudget(1.0)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nobody listens on it
    async with budgeted(f"http://127.0.0.1:{port}", budget) as client:
        with pytest.raises(UpstreamUnavailable) as refused:
            await get(client, "a")
        assert refused.value.may_have_arrived is False
        assert budget.local.wait_for_turn() == 0.0


@pytest.mark.anyio
async def test_calls_given_back_in_every_order_never_pass_the_rate(
    platform: Platform, redis_server: RedisServer
) -> None:
    """Two replicas, each with waves of calls made together where one fails: the calls
    before it go out, those after it are cancelled. Counted where they arrive, no second
    holds more than the rate allows (one more for the moment a call is late to its turn)."""
    rate = 20.0
    failing = [[0, 3, 1, 5, 2, 0, 4, 1], [2, 0, 4, 1, 0, 3, 0, 5]]
    async with replicas(redis_server, rate) as budgets:

        async def waves(budget: CallBudget, failing: list[int]) -> None:
            async with budgeted(platform.url, budget) as client:
                for position in failing:
                    names = [str(n) for n in range(6)]
                    names[position] = "missing"
                    with pytest.raises(NotFound):
                        async with within(8):
                            await together([get(client, name) for name in names])

        await asyncio.gather(
            *(waves(budget, positions) for budget, positions in zip(budgets, failing, strict=True))
        )
    # each 404 and the calls before it went out; those after it may have too if it was late
    assert len(platform.arrived) >= sum(position + 1 for wave in failing for position in wave)
    assert platform.most_in_any_second() <= rate + 1
