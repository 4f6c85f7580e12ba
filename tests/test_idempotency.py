"""`Idempotency-Key`: a repeat gets the first answer without reaching the adapter; another
request under the same key is 422, a repeat while the first runs is 409; an answer given
before the write was sent, and an abandoned request, leave nothing behind."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from adapters.errors import (
    AdapterError,
    CircuitOpen,
    OverBudget,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
    WriteNotConfirmed,
    not_sent,
)
from bridge.idempotency import Answer, Claim, MemoryIdempotencyStore, fingerprint, unsent
from tests.conftest import API_KEY, ManualClock
from tests.write_support import (
    CANCEL,
    CANCELLABLE,
    NEW_ADDRESS,
    OPEN_LINES,
    SHIPPED,
    RecordingWrites,
    held,
    opened,
    path,
    started,
)

CUSTOMER, ORDER = CANCELLABLE
LINE_CUSTOMER, LINE_ORDER, LINES = OPEN_LINES
OTHER_KEY = "second-api-key-for-idempotency-tests-0123"


@pytest.fixture
def writes(make_client: Callable[..., TestClient], recording: RecordingWrites) -> TestClient:
    return make_client(recording, writes=True, api_keys=f"{API_KEY},{OTHER_KEY}")


def _key(value: str, **headers: str) -> dict[str, str]:
    return {"Idempotency-Key": value, **headers}


# The store


@pytest.mark.anyio
async def test_the_store_claims_replays_and_refuses() -> None:
    store = MemoryIdempotencyStore()
    first = fingerprint("/cancel", "c", "o", b"{}")
    assert (await store.claim("me", "k", first)).claim is Claim.NEW
    assert (await store.claim("me", "k", first)).claim is Claim.RUNNING
    assert (await store.claim("me", "k", fingerprint("/cancel", "c", "o2", b"{}"))).claim is (
        Claim.REUSED
    )
    assert (await store.claim("you", "k", first)).claim is Claim.NEW
    await store.finish("me", "k", Answer(200, b""))
    replay = await store.claim("me", "k", first)
    assert (replay.claim, replay.answer) == (Claim.REPLAY, Answer(200, b""))
    await store.release("you", "k")
    assert (await store.claim("you", "k", first)).claim is Claim.NEW


@pytest.mark.anyio
async def test_records_last_a_day_and_are_bounded(clock: ManualClock) -> None:
    store = MemoryIdempotencyStore(max_records=3, clock=clock)
    print_ = fingerprint("x")
    await store.claim("me", "old", print_)
    await store.finish("me", "old", Answer(200, b""))
    clock.advance(24 * 3600 - 1)
    assert (await store.claim("me", "old", print_)).claim is Claim.REPLAY
    clock.advance(2)
    assert (await store.claim("me", "old", print_)).claim is Claim.NEW
    for key in ("a", "b", "c", "d"):
        await store.claim("me", key, print_)
    assert len(store) == 3


def test_fingerprints_keep_their_parts_apart() -> None:
    assert fingerprint("ab", "c") != fingerprint("a", "bc")


def test_only_errors_raised_before_sending_leave_the_key_free() -> None:
    assert unsent(CircuitOpen("paused", retry_after=5))
    assert unsent(OverBudget("no turn", retry_after=1))
    assert unsent(not_sent(UpstreamUnavailable("refused")))
    assert unsent(not_sent(UpstreamTimeout("no time left")))
    may_have_reached_the_platform = (
        WriteNotConfirmed("not confirmed"),
        UpstreamTimeout("late"),
        UpstreamUnavailable("unreachable"),
        UpstreamError("answered 500"),
        TimeoutError(),
    )
    assert not any(map(unsent, may_have_reached_the_platform))


# Through the routes


def test_a_repeat_gets_the_first_answer_without_a_second_write(
    writes: TestClient, recording: RecordingWrites
) -> None:
    route = path(LINE_CUSTOMER, LINE_ORDER, "cancel_items")
    first = writes.put(route, json={"ids": [LINES[0]]}, headers=_key("k-1"))
    assert first.status_code == 200
    assert "idempotent-replayed" not in first.headers
    # Reordered keys and spacing are the same JSON, so the same request.
    repeat = writes.put(
        route, content=b'{ "ids" : ["%s"] }' % LINES[0].encode(), headers=_key("k-1", **_JSON)
    )
    assert repeat.status_code == 200
    assert repeat.headers["idempotent-replayed"] == "true"
    assert repeat.content == first.content
    assert repeat.headers["content-type"] == "application/json"
    assert len(recording.writes) == 1


def test_the_same_key_for_another_request_is_422(
    writes: TestClient, recording: RecordingWrites
) -> None:
    assert writes.post(path(CUSTOMER, ORDER, "cancel_order"), headers=_key("k-2")).is_success
    for method, route, body in (
        ("POST", path(CUSTOMER, ORDER, "cancel_order"), {"restock": True}),
        ("POST", path(CUSTOMER, "ord_1003", "cancel_order"), None),
        ("POST", path(CUSTOMER, ORDER, "change_shipping_address"), NEW_ADDRESS),
    ):
        response = writes.request(method, route, json=body, headers=_key("k-2"))
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "idempotency_key_reused"
    assert len(recording.writes) == 1


def test_no_body_is_the_empty_object(writes: TestClient, recording: RecordingWrites) -> None:
    assert writes.post(path(CUSTOMER, ORDER, "cancel_order"), headers=_key("k-9")).is_success
    repeat = writes.post(path(CUSTOMER, ORDER, "cancel_order"), json={}, headers=_key("k-9"))
    assert repeat.headers["idempotent-replayed"] == "true"
    assert len(recording.writes) == 1


def test_keys_belong_to_their_caller(writes: TestClient, recording: RecordingWrites) -> None:
    route = path(CUSTOMER, ORDER, "cancel_order")
    assert writes.post(route, headers=_key("shared")).is_success
    other = writes.post(route, headers=_key("shared", **{"X-API-Key": OTHER_KEY}))
    assert other.status_code == 200
    assert "idempotent-replayed" not in other.headers
    assert len(recording.writes) == 2  # the second caller's write reached the store (already done)


def test_a_refusal_is_replayed(writes: TestClient, recording: RecordingWrites) -> None:
    route = path(*SHIPPED, "cancel_order")
    first = writes.post(route, headers=_key("k-3"))
    assert first.status_code == 422
    repeat = writes.post(route, headers=_key("k-3"))
    assert (repeat.status_code, repeat.content) == (422, first.content)
    assert repeat.headers["idempotent-replayed"] == "true"
    assert len(recording.writes) == 1


def test_a_bad_body_is_replayed_too(writes: TestClient, recording: RecordingWrites) -> None:
    route = path(CUSTOMER, ORDER, "change_shipping_address")
    for _ in range(2):
        response = writes.post(route, json={"city": "Porto"}, headers=_key("k-4"))
        assert response.status_code == 400
    assert response.headers["idempotent-replayed"] == "true"
    assert recording.calls == []


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (UpstreamError("demo answered 500"), 502),
        (UpstreamUnavailable("demo is unreachable"), 503),
        (WriteNotConfirmed("demo did not confirm the change in time"), 504),
    ],
)
def test_a_server_error_is_kept_so_a_repeat_does_not_write_again(
    writes: TestClient, recording: RecordingWrites, error: AdapterError, status: int
) -> None:
    route = path(CUSTOMER, ORDER, "cancel_order")
    recording.fail_with = error
    first = writes.post(route, headers=_key("k-5"))
    assert first.status_code == status
    recording.fail_with = None  # a platform that would take the write now
    repeat = writes.post(route, headers=_key("k-5"))
    assert (repeat.status_code, repeat.content) == (status, first.content)
    assert repeat.headers["idempotent-replayed"] == "true"
    assert len(recording.writes) == 1


@pytest.mark.parametrize("error", [CircuitOpen("paused", 5), OverBudget("no turn", 1)])
def test_an_answer_given_before_the_write_was_sent_is_not_kept(
    writes: TestClient, recording: RecordingWrites, error: AdapterError
) -> None:
    route = path(CUSTOMER, ORDER, "cancel_order")
    recording.fail_with = error
    assert writes.post(route, headers=_key("k-10")).status_code == 503
    recording.fail_with = None
    repeat = writes.post(route, headers=_key("k-10"))
    assert repeat.status_code == 200
    assert "idempotent-replayed" not in repeat.headers
    assert len(recording.writes) == 2


_JSON = {"Content-Type": "application/json"}


@pytest.mark.anyio
async def test_a_repeat_while_the_first_runs_is_409() -> None:
    adapter = held()
    async with await opened(adapter) as client:
        first = await started(client, adapter, "k-6")
        during = await client.post(CANCEL, headers=_key("k-6"))
        assert (during.status_code, during.json()["code"]) == (409, "conflict")
        assert adapter.gate is not None
        adapter.gate.set()
        assert (await first).status_code == 200
        after = await client.post(CANCEL, headers=_key("k-6"))
        assert after.headers["idempotent-replayed"] == "true"
    assert len(adapter.writes) == 1


@pytest.mark.anyio
async def test_a_caller_that_goes_away_does_not_leave_the_key_running() -> None:
    adapter = held()
    async with await opened(adapter) as client:
        gone = await started(client, adapter, "k-7")
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone
        assert adapter.gate is not None
        adapter.gate.set()  # the write itself goes on to its end
        for _ in range(100):
            repeat = await client.post(CANCEL, headers=_key("k-7"))
            if repeat.status_code != 409:
                break
            await asyncio.sleep(0.01)
        assert repeat.status_code == 200
        assert repeat.headers["idempotent-replayed"] == "true"
    assert len(adapter.writes) == 1


@pytest.mark.anyio
async def test_a_write_that_never_ends_is_answered_at_the_deadline_and_not_sent_again() -> None:
    adapter = held()
    async with await opened(adapter, deadline_s=0.2) as client:
        (await started(client, adapter, "k-8")).cancel()
        await asyncio.sleep(0.4)
        adapter.gate = None
        # Cut mid-write, it may still reach the platform: the repeat hears the timeout.
        repeat = await client.post(CANCEL, headers=_key("k-8"))
        assert (repeat.status_code, repeat.json()["code"]) == (504, "upstream_timeout")
        assert repeat.headers["idempotent-replayed"] == "true"
    assert len(adapter.writes) == 1
