"""Tasks started at once where the interpreter can, queued where it cannot."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from adapters.tasks import EAGER, start_task

pytestmark = pytest.mark.anyio

seen: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="caller's")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


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
