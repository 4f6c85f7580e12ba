"""Tasks started at once where the interpreter can, queued where it cannot; tasks that
concurrent callers share."""

from __future__ import annotations

import asyncio
import contextvars
import gc

import pytest

from adapters import single_flight
from adapters.deadline import remaining, request_given, within
from adapters.errors import UpstreamTimeout
from adapters.tasks import EAGER, SharedTasks, of_one_request, start_task

pytestmark = pytest.mark.anyio

seen: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="caller's")
own_calls: contextvars.ContextVar[str | None] = of_one_request(
    contextvars.ContextVar("own_calls", default=None)
)


async def test_a_task_runs_up_to_its_first_wait_before_what_was_queued_where_it_can() -> None:
    steps: list[str] = []
    asyncio.get_running_loop().call_soon(steps.append, "queued before")

    async def work() -> None:
        steps.append("started")
        await asyncio.sleep(0)
        steps.append("resumed")

    task = start_task(work())
    assert steps == (["started"] if EAGER else [])
    await task
    if EAGER:
        assert steps == ["started", "queued before", "resumed"]
    else:
        assert steps == ["queued before", "started", "resumed"]


async def test_a_task_that_never_waits_may_be_done_on_return_and_gives_its_result() -> None:
    async def work() -> int:
        return 7

    task = start_task(work())
    assert task.done() is EAGER
    assert await task == 7


async def test_a_task_is_its_own_current_task_and_context_from_its_first_step() -> None:
    """What asyncio.timeout and context variables rely on: a deadline set in the task
    cancels the task, not its caller, and what it sets stays its own."""
    caller = asyncio.current_task()
    own: list[asyncio.Task[None] | None] = []

    async def work() -> None:
        own.append(asyncio.current_task())
        seen.set("task's")
        async with asyncio.timeout(0):
            await asyncio.sleep(1)

    task = start_task(work())
    assert asyncio.current_task() is caller
    assert seen.get() == "caller's"
    with pytest.raises(TimeoutError):
        await task
    assert own == [task]
    assert seen.get() == "caller's"


async def test_an_error_before_the_first_wait_reaches_whoever_awaits_the_task() -> None:
    async def work() -> None:
        raise LookupError("no such resource")

    task = start_task(work())
    with pytest.raises(LookupError, match="no such resource"):
        await task


class Work:
    """Counts its runs; each waits for `gate`, then answers or raises `error`."""

    def __init__(self, error: Exception | None = None) -> None:
        self.runs = 0
        self.gate = asyncio.Event()
        self.error = error

    async def __call__(self) -> str:
        self.runs += 1
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        return f"run {self.runs}"


async def test_callers_asking_for_one_key_together_share_one_run() -> None:
    shared: SharedTasks[str, str] = SharedTasks()
    work, other = Work(), Work()
    callers = [asyncio.create_task(shared.run("order 1", work)) for _ in range(4)]
    elsewhere = asyncio.create_task(shared.run("order 2", other))
    await asyncio.sleep(0)
    assert len(shared) == 2
    work.gate.set()
    other.gate.set()
    assert await asyncio.gather(*callers, elsewhere) == ["run 1"] * 5
    assert (work.runs, other.runs, len(shared)) == (1, 1, 0)
    assert await shared.run("order 1", work) == "run 2"  # settled: anew


async def test_an_error_reaches_every_caller_and_the_next_one_runs_again() -> None:
    shared: SharedTasks[str, str] = SharedTasks()
    failing = Work(LookupError("refused"))
    callers = [asyncio.create_task(shared.run("grant", failing)) for _ in range(3)]
    await asyncio.sleep(0)
    failing.gate.set()
    results = await asyncio.gather(*callers, return_exceptions=True)
    assert [type(result) for result in results] == [LookupError] * 3
    failing.error = None
    assert await shared.run("grant", failing) == "run 2"


async def test_a_caller_going_away_leaves_the_run_to_the_others() -> None:
    shared: SharedTasks[str, str] = SharedTasks()
    work = Work()
    leaving = asyncio.create_task(shared.run("k", work))
    staying = asyncio.create_task(shared.run("k", work))
    await asyncio.sleep(0)
    leaving.cancel()
    await asyncio.sleep(0)
    work.gate.set()
    assert await staying == "run 1"
    assert leaving.cancelled() and work.runs == 1


async def test_a_run_every_caller_left_goes_on_and_its_error_is_seen(
    caplog: pytest.LogCaptureFixture,
) -> None:
    shared: SharedTasks[str, str] = SharedTasks()
    failing = Work(LookupError("refused"))
    leaving = asyncio.create_task(shared.run("k", failing))
    await asyncio.sleep(0)
    leaving.cancel()
    await asyncio.sleep(0)
    assert leaving.cancelled() and len(shared) == 1  # nobody waits, it runs on
    failing.gate.set()
    for _ in range(3):
        await asyncio.sleep(0)
    assert failing.runs == 1 and len(shared) == 0
    gc.collect()
    assert "never retrieved" not in caplog.text


async def test_a_dropped_run_goes_on_for_its_callers_but_later_ones_start_anew() -> None:
    shared: SharedTasks[str, str] = SharedTasks()
    old, new = Work(), Work()
    first = asyncio.create_task(shared.run("k", old))
    await asyncio.sleep(0)
    dropped = shared.drop("k")
    assert dropped is not None and list(shared) == []
    second = asyncio.create_task(shared.run("k", new))
    await asyncio.sleep(0)
    new.gate.set()
    assert await second == "run 1" and list(shared) == []
    old.gate.set()
    assert await first == "run 1"
    assert (old.runs, new.runs) == (1, 1)


async def test_clear_drops_every_key() -> None:
    shared: SharedTasks[str, str] = SharedTasks()
    works = {key: Work() for key in ("a", "b")}
    callers = [asyncio.create_task(shared.run(key, work)) for key, work in works.items()]
    await asyncio.sleep(0)
    assert sorted(shared) == ["a", "b"]
    shared.clear()
    assert len(shared) == 0
    for work in works.values():
        work.gate.set()
    assert await asyncio.gather(*callers) == ["run 1", "run 1"]


async def test_a_run_done_on_return_is_answered_but_not_kept() -> None:
    shared: SharedTasks[str, int] = SharedTasks()

    async def at_once() -> int:
        return 7

    task = shared.task("k", at_once)
    assert await task == 7
    assert len(shared) == (0 if EAGER else 1)
    await asyncio.sleep(0)
    assert len(shared) == 0


async def test_a_run_starts_in_the_context_it_is_given() -> None:
    shared: SharedTasks[str, str] = SharedTasks()
    context = contextvars.copy_context()
    context.run(seen.set, "given")

    async def read() -> str:
        await asyncio.sleep(0)
        return seen.get()

    assert await shared.run("k", read, context=lambda: context) == "given"
    assert seen.get() == "caller's"


async def test_a_run_keeps_its_starters_context_but_runs_on_a_deadline_of_its_own() -> None:
    """The run is every caller's: a request that starts it with its time all but up would
    otherwise cut it short for the others. It gets as long as that request was given."""
    shared: SharedTasks[str, tuple[str, float | None]] = SharedTasks()
    gate = asyncio.Event()

    async def seen_and_left() -> tuple[str, float | None]:
        await gate.wait()
        return seen.get(), remaining()

    async def starter() -> None:
        seen.set("starter's")
        async with within(60.0), within(0):
            await shared.run("k", seen_and_left)

    with pytest.raises(TimeoutError):
        await asyncio.create_task(starter())
    other = asyncio.create_task(shared.run("k", seen_and_left))
    await asyncio.sleep(0)
    gate.set()
    starters, left = await other
    assert starters == "starter's"
    assert left is not None and left > 30.0


@pytest.mark.parametrize("given", [False, True], ids=["copied", "given"])
async def test_a_run_keeps_nothing_its_starter_says_of_its_own_calls(given: bool) -> None:
    """Calls made ahead of need, or together, are the starter's alone; the run's calls
    are every caller's."""
    shared: SharedTasks[str, str | None] = SharedTasks()
    own_calls.set("starter's")

    async def read() -> str | None:
        await asyncio.sleep(0)
        return own_calls.get()

    context = contextvars.copy_context if given else None
    assert await shared.run("k", read, context=context) is None
    assert own_calls.get() == "starter's"


async def test_a_run_started_by_a_later_step_of_a_request_lasts_as_long_as_the_request() -> None:
    """A request whose steps run one after the other, each on a deadline of its own (a
    write, then W3's page), was given its whole time all the same."""
    shared: SharedTasks[str, float | None] = SharedTasks()

    async def left() -> float | None:
        return remaining()

    with request_given(60.0):
        async with within(5.0):
            pass  # the write
        async with within(1.0):  # the page read after it
            given = await shared.run("k", left)
    assert given is not None and given > 30.0


GIVEN_S = 0.4
"""What each request is given in all, for runs that hang until their deadline."""


class Platform:
    """Work that runs within its deadline and counts its runs: one that starts while the
    platform is `down` hangs until then, like a call that never comes back."""

    def __init__(self) -> None:
        self.runs = 0
        self.down = True

    async def __call__(self) -> str:
        self.runs += 1
        hangs = self.down
        left = remaining()
        assert left is not None
        async with within(left):
            await asyncio.sleep(60.0 if hangs else 0.0)
        return f"run {self.runs}"


async def a_request(shared: SharedTasks[str, str], platform: Platform) -> str:
    async with within(GIVEN_S):
        return await shared.run("k", platform)


async def test_late_callers_with_time_to_spare_share_another_run_when_theirs_runs_out() -> None:
    """A run ends with the deadline it started on: callers that joined it late, with time
    to spare, are not answered a timeout for it, but neither does each make its own call."""
    shared: SharedTasks[str, str] = SharedTasks()
    platform = Platform()
    first = asyncio.create_task(a_request(shared, platform))
    await asyncio.sleep(GIVEN_S / 2)
    late = [asyncio.create_task(a_request(shared, platform)) for _ in range(2)]
    await asyncio.sleep(0)
    platform.down = False
    with pytest.raises(TimeoutError):  # its own deadline: nothing more to wait for
        await first
    assert await asyncio.gather(*late) == ["run 2", "run 2"]
    assert platform.runs == 2


async def test_a_caller_waits_for_the_other_run_only_within_its_own_deadline() -> None:
    shared: SharedTasks[str, str] = SharedTasks()
    platform = Platform()
    first = asyncio.create_task(a_request(shared, platform))
    await asyncio.sleep(GIVEN_S / 2)
    late = asyncio.create_task(a_request(shared, platform))
    with pytest.raises(TimeoutError):
        await first
    with pytest.raises(TimeoutError):  # the platform is still down
        await late
    assert platform.runs == 2
    other = shared.drop("k")  # left to whoever else would have come
    assert other is not None and not other.done()
    with pytest.raises(TimeoutError):
        await other


async def test_a_run_timed_out_before_its_deadline_is_every_callers_answer() -> None:
    """The platform's own read or connect timeout, well before the run's deadline, is what
    the platform answered: callers that joined late get it too, with no second call."""
    runs = 0

    async def read_timing_out() -> str:
        nonlocal runs
        runs += 1
        await asyncio.sleep(GIVEN_S / 2)
        raise UpstreamTimeout("the platform did not answer in time")

    async def request() -> str:
        async with within(GIVEN_S):
            return await shared.run("k", read_timing_out)

    shared: SharedTasks[str, str] = SharedTasks()
    first = asyncio.create_task(request())
    await asyncio.sleep(GIVEN_S / 4)
    late = asyncio.create_task(request())
    for caller in (first, late):
        with pytest.raises(UpstreamTimeout):
            await caller
    assert runs == 1


async def test_a_request_that_waited_out_a_fill_does_not_make_shared_work_impatient() -> None:
    """A request that spent its patience waiting for another replica's fill fills its own
    next entries at once; work other requests share keeps its patience."""
    shared: SharedTasks[str, bool | None] = SharedTasks()

    async def patience_spent() -> bool | None:
        return single_flight._waited_out.get()

    single_flight._waited_out.set(True)
    assert await shared.run("k", patience_spent) is None
