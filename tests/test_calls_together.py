"""Calls that do not depend on each other, made together (`adapters.tasks.together`): all
in flight at once, results in the order asked, and nothing left running when one fails;
the circuit breaker counts them as it would have counted the same calls made in sequence."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from adapters.breaker import BreakerState
from adapters.deadline import within
from adapters.errors import CircuitOpen, UpstreamError
from adapters.http import HTTPConfig, UpstreamClient
from adapters.tasks import all_of, calls_together, start_task, together

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


# The circuit breaker, over HTTP on 127.0.0.1

SERVER_ERROR = b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n"
THRESHOLD = 2
"""Breaker threshold of the clients below: one failure is not enough, two are."""


@asynccontextmanager
async def platform(
    answer: bytes | Callable[[bytes], bytes | None] | None,
    *,
    delay_s: float = 0,
    open_s: float = 5.0,
) -> AsyncIterator[UpstreamClient]:
    """A client (one attempt per call, the breaker opening at `THRESHOLD` failures for
    `open_s`) of a platform that sends `answer` (or what it gives for each request head)
    after `delay_s`, or never answers (None)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                given = answer(head) if callable(answer) else answer
                if given is None:
                    await reader.read()  # until the client hangs up
                    break
                await asyncio.sleep(delay_s)
                writer.write(given)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client hung up
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    config = HTTPConfig(attempts=1, breaker_threshold=THRESHOLD, breaker_open_s=open_s)
    client = UpstreamClient(f"http://127.0.0.1:{port}", platform="test", config=config)
    try:
        yield client
    finally:
        await client.close()
        server.close()
        await server.wait_closed()


def breaker_state(client: UpstreamClient) -> BreakerState:
    """The breaker's state read afresh: a call in between may have changed it."""
    return client.breaker.state


async def test_calls_made_together_that_the_deadline_cuts_count_one_failure() -> None:
    """Five calls to a silent platform, cut by the request's deadline: one failure, as
    when they were made one after another; a second such request opens the breaker."""
    async with platform(answer=None) as client:
        for _ in range(2):
            assert breaker_state(client) is BreakerState.CLOSED
            with pytest.raises(TimeoutError):
                async with within(0.2):
                    await together(client.send("GET", f"/children/{n}") for n in range(5))

        assert breaker_state(client) is BreakerState.OPEN
        with pytest.raises(CircuitOpen):
            await client.send("GET", "/children/0")


async def test_calls_made_together_within_calls_made_together_count_one_cut() -> None:
    """Three orders read together, each with two calls of its own started together
    (`calls_together`, `all_of`): the deadline cutting all six counts one failure."""

    async def order(client: UpstreamClient, number: int) -> None:
        with calls_together() as group:
            lines = start_task(client.send("GET", f"/orders/{number}/lines"))
            shipments = start_task(client.send("GET", f"/orders/{number}/shipments"))
        await all_of(lines, shipments, group=group)

    async with platform(answer=None) as client:
        with pytest.raises(TimeoutError):
            async with within(0.2):
                await together(order(client, number) for number in range(3))

        assert breaker_state(client) is BreakerState.CLOSED


async def test_calls_made_together_that_the_platform_fails_each_count() -> None:
    """A platform that answers 500 to every call is failing, however the calls go out:
    those made together count one failure each, and open the breaker at once."""
    async with platform(answer=SERVER_ERROR) as client:
        answers = await together(client.send("GET", f"/children/{n}") for n in range(3))

        assert [answer.status_code for answer in answers] == [500] * 3
        assert breaker_state(client) is BreakerState.OPEN


async def test_calls_made_together_let_the_probe_among_them_answer() -> None:
    """The breaker lets one call through after its pause, the probe; the others made with
    it are refused at once. The probe still answers, and its success closes the breaker:
    cancelled with the refused ones, it would count as a failure and double the pause."""
    answers = [SERVER_ERROR] * THRESHOLD + [b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"]

    def next_answer(head: bytes) -> bytes:
        return answers.pop(0) if len(answers) > 1 else answers[0]

    # The answers come late, so that the probe is in flight while the others are refused.
    async with platform(next_answer, delay_s=0.05, open_s=0.1) as client:
        for _ in range(THRESHOLD):
            await client.send("GET", "/failing")
        assert breaker_state(client) is BreakerState.OPEN
        await asyncio.sleep(0.15)  # past the pause: the next call is the probe

        with pytest.raises(CircuitOpen):
            await together(client.send("GET", f"/children/{n}") for n in range(3))

        assert breaker_state(client) is BreakerState.CLOSED


async def test_a_call_refused_by_the_open_circuit_stops_the_others_when_none_is_a_probe() -> None:
    """The circuit opens (other requests failed) while a call of the group hangs; the next
    call of the group is refused. No probe is among them, so the request answers at once
    (CircuitOpen, 503) rather than waiting for the hanging call until its deadline."""

    def hang_or_fail(head: bytes) -> bytes | None:
        return None if head.startswith(b"GET /hang ") else SERVER_ERROR

    async with platform(hang_or_fail, open_s=30) as client:
        opened = asyncio.Event()

        async def after_the_circuit_opened() -> object:
            await opened.wait()
            return await client.send("GET", "/children/1")

        async def request() -> list[object]:
            async with within(5.0):
                return await together([client.send("GET", "/hang"), after_the_circuit_opened()])

        asked = asyncio.ensure_future(request())
        for _ in range(THRESHOLD):  # other requests, failing
            await client.send("GET", "/failing")
        assert breaker_state(client) is BreakerState.OPEN
        opened.set()

        with pytest.raises(CircuitOpen):
            await asked
