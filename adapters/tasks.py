"""Tasks that start at once, and tasks that concurrent callers share.

A task made with `create_task` takes its first step only after everything already queued
on the event loop has run. Under load that queue holds a whole wave of answers to map and
render, and a platform call made ahead of need, or the one fetch other requests share,
goes out several milliseconds late. From Python 3.12 a task can instead run up to its
first wait as soon as it is made; before 3.12 it is queued as usual.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Coroutine, Hashable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import Context, ContextVar, copy_context
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar

from adapters.deadline import on_its_own_deadline, remaining, within
from adapters.errors import CircuitOpen, UpstreamTimeout
from adapters.scoped import set_within

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

EAGER = sys.version_info >= (3, 12)

WELL_PAST_SHARE = 0.1
"""How much later than a shared run's deadline, as a share of the time the run was given, a
caller's own must come for the caller to outlast the run: such a caller is not answered a
timeout because the run ran out of time (`SharedTasks.run`)."""
OUT_OF_TIME = (TimeoutError, UpstreamTimeout)
TIMER_SLACK_S = 0.005
"""How much before a deadline its timer may be seen to fire (the loop runs what is due
within its clock's resolution)."""

if sys.version_info >= (3, 12):

    def start_task(
        coroutine: Coroutine[Any, Any, T], *, context: Context | None = None
    ) -> asyncio.Task[T]:
        """A task for `coroutine` on the running loop (in `context`, else a copy of the
        current one), run up to its first wait now: it may even be done on return."""
        loop = asyncio.get_running_loop()
        return asyncio.Task(coroutine, loop=loop, context=context, eager_start=True)

else:

    def start_task(
        coroutine: Coroutine[Any, Any, T], *, context: Context | None = None
    ) -> asyncio.Task[T]:
        """A task for `coroutine` on the running loop (in `context`, else a copy of the
        current one), queued: the interpreter cannot start it at once."""
        return asyncio.get_running_loop().create_task(coroutine, context=context)


class SharedTasks(Generic[K, T]):
    """At most one running task per key, shared by every caller that asks for the key
    while it runs: one platform read, one fill, one token grant for all of them.

    The task runs on a deadline of its own (`on_its_own_deadline`), never on that of the
    caller that happens to start it, and keeps the rest of that caller's context (its
    request id, for one), but not what it says of that caller's own calls
    (`of_one_request`): the task's calls are made for every caller. Callers await the task
    through `asyncio.shield`, each only as long as its own deadline allows, so one that
    goes away leaves it to the others; a task nobody awaits any more runs on, and its error
    is retrieved here so that it is not reported as never seen. A task done on return (it
    needed no wait) is handed back but not kept: no later caller could share it.

    A caller that joined a task late may have time to spare when the task's deadline cuts
    it: `run` then starts another, which every such caller shares (`WELL_PAST_SHARE`).
    """

    def __init__(self) -> None:
        self._running: dict[K, asyncio.Task[T]] = {}
        self._terms: dict[asyncio.Task[T], _Terms] = {}

    def __len__(self) -> int:
        return len(self._running)

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._running))

    def task(
        self,
        key: K,
        work: Callable[[], Coroutine[Any, Any, T]],
        *,
        context: Callable[[], Context] | None = None,
    ) -> asyncio.Task[T]:
        """The task running for `key`, else a new one for `work()`, started at once in
        `context()` when given, else in a copy of the current context, on a deadline of its
        own either way."""
        running = self._running.get(key)
        if running is not None:
            return running
        own = on_its_own_deadline(copy_context() if context is None else context())
        joins = own.run(_as_shared_work)
        given = own.run(remaining)
        task = start_task(work(), context=own)
        if not task.done():
            self._running[key] = task
            if given is not None:
                ends = time.monotonic() + given
                self._terms[task] = _Terms(ends, ends + given * WELL_PAST_SHARE, joins)
            elif joins:
                self._terms[task] = _Terms(None, None, joins)
            task.add_done_callback(partial(self._settled, key))
        return task

    async def run(
        self,
        key: K,
        work: Callable[[], Coroutine[Any, Any, T]],
        *,
        context: Callable[[], Context] | None = None,
        joined: Callable[[asyncio.Task[T]], None] | None = None,
    ) -> T:
        """`work()`'s result, or that of the task already running for `key`, which the
        caller joins (`of_one_request`; `joined(task)` for every task it awaits). When that
        task runs out of time while the caller's own deadline is well past the task's, the
        caller is not bound by the task's end: it waits, within its own deadline, for
        another task, one for every caller in that case."""
        task, terms = self._joined(key, work, context, joined)
        try:
            return await asyncio.shield(task)
        except OUT_OF_TIME:
            left = _left_past(terms)
            if left is None:
                raise
        async with within(left):
            task, _ = self._joined(key, work, context, joined)
            return await asyncio.shield(task)

    def _joined(
        self,
        key: K,
        work: Callable[[], Coroutine[Any, Any, T]],
        context: Callable[[], Context] | None,
        joined: Callable[[asyncio.Task[T]], None] | None,
    ) -> tuple[asyncio.Task[T], _Terms]:
        task = self.task(key, work, context=context)
        terms = self._terms.get(task, _NO_TERMS)
        for join in terms.joins:
            join()
        if joined is not None:
            joined(task)
        return task, terms

    def running(self, key: K) -> asyncio.Task[T] | None:
        """The task shared for `key`, if one is (it may have just ended)."""
        return self._running.get(key)

    def drop(self, key: K) -> asyncio.Task[T] | None:
        """Stop sharing the task running for `key`: it runs on for whoever awaits it, and
        the next caller starts another."""
        return self._running.pop(key, None)

    def clear(self) -> None:
        """`drop` every key."""
        self._running.clear()

    def _settled(self, key: K, task: asyncio.Task[T]) -> None:
        if self._running.get(key) is task:
            del self._running[key]
        self._terms.pop(task, None)
        if not task.cancelled():
            task.exception()  # seen: every caller may have gone away


@dataclass(frozen=True, slots=True)
class _Terms:
    """What a caller of a running shared task goes by."""

    ends: float | None
    """When the task's own deadline comes."""
    well_past: float | None
    """When a caller's deadline comes late enough for the caller to outlast the task."""
    joins: tuple[Callable[[], None], ...]
    """What each caller does, in its own context, to join the task (`of_one_request`)."""


_NO_TERMS = _Terms(None, None, ())


@dataclass(frozen=True, slots=True)
class _OfOneRequest:
    variable: ContextVar[Any]
    carried: Callable[[Any], Any] | None
    joined: Callable[[Any], None] | None


_of_one_request: list[_OfOneRequest] = []


def of_one_request(
    variable: ContextVar[T | None],
    *,
    carried: Callable[[T], T] | None = None,
    joined: Callable[[T], None] | None = None,
) -> ContextVar[T | None]:
    """`variable`, which says something of the current request's own platform calls (made
    together, made ahead of need). Work that requests share (`SharedTasks`) makes its calls
    for every one of them: there it is None, or what `carried` makes of the value of the
    request that starts the work, and every caller of the work calls `joined` with that,
    in its own context."""
    _of_one_request.append(_OfOneRequest(variable, carried, joined))
    return variable


def _as_shared_work() -> tuple[Callable[[], None], ...]:
    """Run in a shared task's context: its values of the `of_one_request` variables, set
    from the starter's; what a caller does to join the task."""
    joins: list[Callable[[], None]] = []
    for entry in _of_one_request:
        starters = entry.variable.get()
        value = None if starters is None or entry.carried is None else entry.carried(starters)
        entry.variable.set(value)
        if value is not None and entry.joined is not None:
            joins.append(partial(entry.joined, value))
    return tuple(joins)


def _left_past(terms: _Terms) -> float | None:
    """The seconds left to the current request when the task it joined was cut by the
    task's own deadline (a platform's read or connect timeout before it is an answer for
    every caller) and the request's deadline comes well after the task's."""
    left = remaining()
    now = time.monotonic()
    if terms.ends is None or terms.well_past is None or left is None:
        return None
    if now < terms.ends - TIMER_SLACK_S or now + left < terms.well_past:
        return None
    return left


class Together:
    """Calls made together for a request, with all those their tasks make in turn: in
    flight at once, so the request's deadline cuts them at once. The circuit breaker counts
    such a cut once (`adapters.breaker.Call`), as it would the one call a sequential read
    has in flight when its deadline comes: one slow request is not N failing calls."""

    __slots__ = ("cut_counted", "probes")

    def __init__(self) -> None:
        self.cut_counted = False
        self.probes = 0
        """How many of the calls are a breaker's probe, in flight (`adapters.breaker`)."""


_together: ContextVar[Together | None] = of_one_request(
    ContextVar("erc_bridge_together", default=None)
)


def calls_together_now() -> Together | None:
    """The calls made together that the current task belongs to, if any."""
    return _together.get()


@contextmanager
def calls_together() -> Iterator[Together]:
    """Tasks started inside the block are calls made together (the `Together` given, for
    `all_of`); inside a task that already is one, they join its calls."""
    joined = _together.get()
    if joined is not None:
        yield joined
        return
    group = Together()
    with set_within(_together, group):
        yield group


async def all_of(*tasks: asyncio.Task[Any], group: Together) -> None:
    """Wait for every one of `tasks`, calls that went out together, started inside
    `calls_together()` (which gave `group`). When one fails (or the wait is cancelled), the
    others are cancelled and awaited before the error is raised: none runs on, unobserved,
    after its request has moved on. One refused by an open circuit while another holds the
    breaker's probe is the exception: cancelled, the probe would count as failed and keep
    the circuit open, so the others end by themselves (within the request's deadline)."""
    try:
        await asyncio.gather(*tasks)
    except CircuitOpen:
        if group.probes:
            await asyncio.gather(*tasks, return_exceptions=True)
        else:
            await _cancelled(tasks)
        raise
    except BaseException:
        await _cancelled(tasks)
        raise


async def _cancelled(tasks: tuple[asyncio.Task[Any], ...]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def together(calls: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """The results of `calls`, which do not depend on each other, in the order given: all
    started at once, as calls made together (`all_of`). How many platform calls are in
    flight at a time is bounded by the platform's upstream client, which queues the rest
    until a slot is free."""
    with calls_together() as group:
        tasks = [start_task(call) for call in calls]
    await all_of(*tasks, group=group)
    return [task.result() for task in tasks]
