"""The circuit breaker alone, on a clock that moves only when told to."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable

import pytest

from adapters.breaker import Ahead, BreakerState, Call, CircuitBreaker
from adapters.errors import CircuitOpen
from adapters.tasks import EAGER, SharedTasks, calls_together
from bridge.config import StartupError, load_settings
from tests.conftest import ManualClock

OPEN_S = 5.0
OPEN_MAX_S = 60.0


@pytest.fixture
def breaker(clock: ManualClock) -> CircuitBreaker:
    return CircuitBreaker("test", threshold=3, open_s=OPEN_S, open_max_s=OPEN_MAX_S, clock=clock)


def state_of(breaker: CircuitBreaker) -> BreakerState:
    """The breaker's state, read anew. It moves with the clock and with calls, which the
    type checker cannot see: a second `breaker.state is ...` after a first would look to it
    like a comparison that can never hold."""
    return breaker.state


def fail(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        with breaker.call() as call:
            call.sending()
            call.failed()


def succeed(breaker: CircuitBreaker) -> None:
    with breaker.call() as call:
        call.sending()
        call.succeeded()


def refused_for(breaker: CircuitBreaker) -> float:
    """The Retry-After of a refused call."""
    with pytest.raises(CircuitOpen) as caught:
        breaker.call()
    assert caught.value.retry_after is not None
    return caught.value.retry_after


def open_breaker(breaker: CircuitBreaker) -> None:
    fail(breaker, breaker.threshold)
    assert breaker.state is BreakerState.OPEN


def probe(breaker: CircuitBreaker, clock: ManualClock) -> Call:
    """Wait out the open period and take the probe."""
    clock.advance(breaker.open_period)
    assert breaker.state is BreakerState.HALF_OPEN
    call = breaker.call()
    assert call.probe
    return call


def test_consecutive_failures_open_it_and_a_success_between_them_starts_over(
    breaker: CircuitBreaker,
) -> None:
    fail(breaker, 2)
    succeed(breaker)
    fail(breaker, 2)
    assert breaker.state is BreakerState.CLOSED
    fail(breaker)
    assert state_of(breaker) is BreakerState.OPEN


@pytest.mark.parametrize("elapsed", [0.0, 0.2, 2.5, 4.0, 4.01, 4.99])
def test_retry_after_is_the_time_left_rounded_up(
    breaker: CircuitBreaker, clock: ManualClock, elapsed: float
) -> None:
    open_breaker(breaker)
    clock.advance(elapsed)
    assert refused_for(breaker) == max(math.ceil(OPEN_S - elapsed), 1)


def test_one_probe_at_a_time_and_others_are_told_to_come_back_in_a_second(
    breaker: CircuitBreaker, clock: ManualClock
) -> None:
    open_breaker(breaker)
    with probe(breaker, clock):
        assert refused_for(breaker) == 1
        assert breaker.state is BreakerState.HALF_OPEN


def test_a_successful_probe_closes_it(breaker: CircuitBreaker, clock: ManualClock) -> None:
    open_breaker(breaker)
    with probe(breaker, clock) as call:
        call.sending()
        call.succeeded()
    assert breaker.state is BreakerState.CLOSED
    assert not breaker.call().probe


def test_each_failed_probe_doubles_the_open_period_up_to_the_cap(
    breaker: CircuitBreaker, clock: ManualClock
) -> None:
    open_breaker(breaker)
    periods = [breaker.open_period]
    for _ in range(6):
        with probe(breaker, clock) as call:
            call.sending()
            call.failed()
        assert breaker.state is BreakerState.OPEN
        periods.append(breaker.open_period)
        assert refused_for(breaker) == math.ceil(breaker.open_period)
    assert periods == [5, 10, 20, 40, 60, 60, 60]


def test_after_a_success_the_next_opening_is_short_again(
    breaker: CircuitBreaker, clock: ManualClock
) -> None:
    open_breaker(breaker)
    for _ in range(3):
        with probe(breaker, clock) as call:
            call.sending()
            call.failed()
    assert breaker.open_period == 40
    with probe(breaker, clock) as call:
        call.sending()
        call.succeeded()
    open_breaker(breaker)
    assert breaker.open_period == OPEN_S
    clock.advance(OPEN_S)
    assert breaker.state is BreakerState.HALF_OPEN


def _respond(call: Call) -> None:
    call.sending()
    call.succeeded()


def _answer_500(call: Call) -> None:
    call.sending()
    call.failed()


def _raise_after_sending(call: Call) -> None:
    call.sending()
    raise TimeoutError  # a timeout, a lost connection, a cancellation: no outcome given


def _cancel_after_sending(call: Call) -> None:
    call.sending()
    raise asyncio.CancelledError


def _raise_before_sending(call: Call) -> None:
    raise LookupError  # no time left, no free slot: the platform was never asked


ProbeEnd = Callable[[Call], None]


def attempt(call: Call, end: ProbeEnd) -> None:
    """An attempt's block, ended as `end` says; one that gave an outcome still raises."""
    with call:
        end(call)
        raise LookupError


@pytest.mark.parametrize(
    ("end", "state", "period"),
    [
        (_respond, BreakerState.CLOSED, OPEN_S),
        (_answer_500, BreakerState.OPEN, 2 * OPEN_S),
        (_raise_after_sending, BreakerState.OPEN, 2 * OPEN_S),
        (_cancel_after_sending, BreakerState.OPEN, 2 * OPEN_S),
        (_raise_before_sending, BreakerState.HALF_OPEN, OPEN_S),
    ],
)
def test_every_end_of_a_probe_leaves_it_consistent(
    breaker: CircuitBreaker,
    clock: ManualClock,
    end: ProbeEnd,
    state: BreakerState,
    period: float,
) -> None:
    open_breaker(breaker)
    with pytest.raises((LookupError, TimeoutError, asyncio.CancelledError)):
        attempt(probe(breaker, clock), end)
    assert breaker.state is state
    assert breaker.open_period == period
    # Never left waiting for a probe that is gone: once the period is over, a call goes out.
    clock.advance(period)
    with breaker.call() as call:
        call.sending()
        call.succeeded()
    assert breaker.state is BreakerState.CLOSED


def test_an_unsent_probe_hands_the_probe_to_the_next_call_at_once(
    breaker: CircuitBreaker, clock: ManualClock
) -> None:
    open_breaker(breaker)
    with probe(breaker, clock):
        pass
    assert breaker.call().probe


def test_a_call_abandoned_while_closed_is_not_a_failure(breaker: CircuitBreaker) -> None:
    fail(breaker, 2)
    with pytest.raises(asyncio.CancelledError):
        attempt(breaker.call(), _cancel_after_sending)
    assert breaker.state is BreakerState.CLOSED
    fail(breaker)
    assert state_of(breaker) is BreakerState.OPEN


def test_failures_of_calls_begun_before_it_opened_do_not_extend_the_pause(
    breaker: CircuitBreaker, clock: ManualClock
) -> None:
    late = breaker.call()
    late.sending()
    open_breaker(breaker)
    clock.advance(OPEN_S - 1)
    late.failed()
    assert breaker.open_period == OPEN_S
    assert refused_for(breaker) == 1


def test_a_probe_outcome_after_the_breaker_closed_another_way_is_moot(
    breaker: CircuitBreaker, clock: ManualClock
) -> None:
    earlier = breaker.call()
    earlier.sending()
    open_breaker(breaker)
    stale_probe = probe(breaker, clock)
    stale_probe.sending()
    earlier.succeeded()  # the platform answered after all
    assert breaker.state is BreakerState.CLOSED
    stale_probe.failed()
    assert breaker.state is BreakerState.CLOSED


def test_an_outcome_counts_once(breaker: CircuitBreaker, clock: ManualClock) -> None:
    open_breaker(breaker)
    with probe(breaker, clock) as call:
        call.sending()
        call.succeeded()
        call.failed()
    assert breaker.state is BreakerState.CLOSED


# Calls made ahead of need: counted only when their answer is used


def failing_ahead(breaker: CircuitBreaker, times: int = 1) -> Ahead[None]:
    async def work() -> None:
        fail(breaker, times)

    return Ahead(work)


@pytest.mark.anyio
async def test_an_unused_call_made_ahead_counts_nothing(breaker: CircuitBreaker) -> None:
    ahead = failing_ahead(breaker, breaker.threshold)
    await asyncio.sleep(0)  # its calls failed
    ahead.settle()
    assert breaker.state is BreakerState.CLOSED
    fail(breaker, breaker.threshold - 1)
    assert breaker.state is BreakerState.CLOSED


@pytest.mark.anyio
async def test_a_used_call_made_ahead_counts_as_if_made_when_used(
    breaker: CircuitBreaker,
) -> None:
    ahead = failing_ahead(breaker, breaker.threshold - 1)
    await asyncio.sleep(0)
    succeed(breaker)  # the call the request waited for first
    assert breaker.state is BreakerState.CLOSED
    await ahead.result()
    ahead.settle()
    fail(breaker)
    assert state_of(breaker) is BreakerState.OPEN


@pytest.mark.anyio
async def test_a_call_made_ahead_goes_out_at_once_where_it_can_and_settling_stops_it(
    breaker: CircuitBreaker,
) -> None:
    made: list[str] = []
    answer = asyncio.Event()

    async def work() -> None:
        made.append("sent")
        await answer.wait()
        made.append("answered")

    Ahead(work).settle()
    answer.set()
    await asyncio.sleep(0)
    assert made == (["sent"] if EAGER else [])


@pytest.mark.anyio
@pytest.mark.parametrize("half_open", [False, True])
async def test_a_call_made_ahead_is_never_a_probe_nor_let_through_while_open(
    breaker: CircuitBreaker, clock: ManualClock, half_open: bool
) -> None:
    open_breaker(breaker)
    if half_open:
        clock.advance(breaker.open_period)

    async def call_platform() -> None:
        succeed(breaker)

    ahead = Ahead(call_platform)
    with pytest.raises(CircuitOpen):
        await ahead.result()
    ahead.settle()
    if half_open:
        assert breaker.call().probe  # still there for the call the request waits for


# Calls made ahead of need in work other requests share (a platform resource's fetch)


class SharedRead:
    """A read that requests share, failing `times` once `answer` is set."""

    def __init__(self, breaker: CircuitBreaker, times: int) -> None:
        self.shared: SharedTasks[str, None] = SharedTasks()
        self.answer = asyncio.Event()
        self.breaker, self.times = breaker, times

    async def _read(self) -> None:
        await self.answer.wait()
        fail(self.breaker, self.times)

    def __call__(self) -> Awaitable[None]:
        return self.shared.run("groups", self._read)


async def answered(read: SharedRead, *callers: Awaitable[None]) -> None:
    """Let `read` answer, once every caller waits on it."""
    await asyncio.sleep(0)
    read.answer.set()
    for caller in callers:
        await caller


@pytest.mark.anyio
async def test_a_shared_read_begun_ahead_of_need_that_nobody_needs_counts_nothing(
    breaker: CircuitBreaker,
) -> None:
    read = SharedRead(breaker, breaker.threshold)
    ahead = Ahead(read)
    await asyncio.sleep(0)
    ahead.settle()
    await answered(read)
    assert breaker.state is BreakerState.CLOSED


@pytest.mark.anyio
@pytest.mark.parametrize("needed_by", ["a request", "a request's own call ahead"])
async def test_a_shared_read_begun_ahead_of_need_counts_once_another_request_needs_it(
    breaker: CircuitBreaker, needed_by: str
) -> None:
    read = SharedRead(breaker, breaker.threshold)
    begun = Ahead(read)
    await asyncio.sleep(0)
    needing = read() if needed_by == "a request" else Ahead(read).result()
    begun.settle()  # the request that began it did not need it
    await answered(read, asyncio.ensure_future(needing))
    assert breaker.state is BreakerState.OPEN


# Calls made together (`adapters.tasks.together`): the request's deadline cuts them at once


def cut(breaker: CircuitBreaker) -> None:
    """A call the request's deadline cut."""
    with breaker.call() as call:
        call.sending()
        call.failed(cut=True)


def test_calls_made_together_count_one_cut_and_every_other_failure(
    breaker: CircuitBreaker,
) -> None:
    with calls_together():
        cut(breaker)
        cut(breaker)
        fail(breaker, breaker.threshold - 2)  # answered, failing: each counts
        assert breaker.state is BreakerState.CLOSED  # the cuts counted one
        fail(breaker)
    assert state_of(breaker) is BreakerState.OPEN


@pytest.mark.anyio
async def test_cuts_of_calls_made_ahead_count_once_with_those_made_together(
    breaker: CircuitBreaker,
) -> None:
    async def work() -> None:
        cut(breaker)

    with calls_together():
        aheads = [Ahead(work), Ahead(work), Ahead(work)]
    await asyncio.sleep(0)  # their calls were cut
    for ahead in aheads:
        await ahead.result()
        ahead.settle()
    assert breaker.state is BreakerState.CLOSED
    fail(breaker, breaker.threshold - 2)
    assert state_of(breaker) is BreakerState.CLOSED  # one counted, not three
    fail(breaker)
    assert state_of(breaker) is BreakerState.OPEN


def test_a_probe_cut_after_the_cut_of_a_call_made_together_still_ends(
    breaker: CircuitBreaker, clock: ManualClock
) -> None:
    other = CircuitBreaker("other", clock=clock)
    open_breaker(breaker)
    with calls_together():
        cut(other)
        with probe(breaker, clock) as call:
            call.sending()
            call.failed(cut=True)
    assert breaker.state is BreakerState.OPEN
    assert breaker.open_period == 2 * OPEN_S
    clock.advance(breaker.open_period)
    assert breaker.call().probe  # not left waiting for the one that ended


@pytest.mark.parametrize(("open_s", "open_max_s"), [(0, 60), (-1, 60), (10, 5)])
def test_the_periods_must_make_sense(open_s: float, open_max_s: float) -> None:
    with pytest.raises(ValueError, match="open_s"):
        CircuitBreaker("test", open_s=open_s, open_max_s=open_max_s)


def test_a_longest_period_below_the_first_stops_startup_naming_it() -> None:
    with pytest.raises(StartupError, match=r"^ERC_BRIDGE_BREAKER_OPEN_MAX_S is invalid"):
        load_settings(_env_file=None, breaker_open_s=10, breaker_open_max_s=5)
    settings = load_settings(_env_file=None, breaker_open_s=10, breaker_open_max_s=10)
    assert (settings.breaker_open_s, settings.breaker_open_max_s) == (10, 10)
