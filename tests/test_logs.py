"""The access log (`bridge/logs.py`): one line per request, buffered and flushed in order."""

from __future__ import annotations

import asyncio
import io
import re
import sys
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from bridge.app import create_app
from bridge.logs import AccessLog, access_log, configure_logging
from bridge.redaction import REDACTED
from tests.conftest import API_KEY, AUTH, R, RecordingDemoAdapter, access_lines, settings

SHORT = "/erc/ecommerce"
CUSTOMER = f"{R}/customers/cus_ana"
CUSTOMER_ROUTE = f"{R}/customers/{{customer_id}}"
ORDERS_ROUTE = f"{R}/customers/{{customer_id}}/orders"
ACCESS_FIELDS = {
    "event",
    "request_id",
    "method",
    "route",
    "status",
    "duration_ms",
    "level",
    "timestamp",
}


# The access log.


@pytest.mark.usefixtures("info_logging")
def test_each_request_writes_exactly_one_access_line(
    make_client: Callable[..., TestClient], capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_client()
    requests: list[tuple[str, str, dict[str, Any], int, str]] = [
        ("GET", CUSTOMER, {}, 200, CUSTOMER_ROUTE),
        ("GET", CUSTOMER, {}, 200, CUSTOMER_ROUTE),
        ("HEAD", f"{R}/customers/cus_ana/orders", {}, 200, ORDERS_ROUTE),
        ("GET", f"{SHORT}/customers/cus_ana", {}, 200, f"{SHORT}/customers/{{customer_id}}"),
        ("POST", CUSTOMER, {}, 405, CUSTOMER_ROUTE),
        ("GET", CUSTOMER, {"headers": {"X-API-Key": "wrong"}}, 401, CUSTOMER_ROUTE),
        ("GET", "/nowhere", {}, 404, "unmatched"),
        ("GET", f"{R}/customers/", {}, 404, "unmatched"),
        ("GET", CUSTOMER, {"content": b"x"}, 400, "unmatched"),
        ("GET", "/healthz", {}, 200, "/healthz"),
    ]
    for method, path, options, status, route in requests:
        capsys.readouterr()
        response = client.request(method, path, **options)
        assert response.status_code == status
        lines = access_lines(capsys.readouterr().out)
        assert len(lines) == 1, (method, path, lines)
        (line,) = lines
        assert set(line) == ACCESS_FIELDS
        assert line["event"] == "request"
        assert line["level"] == "info"
        assert line["method"] == method
        assert line["route"] == route
        assert line["status"] == status
        assert line["request_id"] == response.headers["x-request-id"]
        assert isinstance(line["duration_ms"], int | float)
        assert line["duration_ms"] >= 0
        assert line["timestamp"].endswith("Z")
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", line["timestamp"])


@pytest.mark.usefixtures("restore_logging")
def test_no_access_lines_at_warning_level(
    make_client: Callable[..., TestClient], capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("warning")
    client = make_client()
    capsys.readouterr()
    assert client.get(CUSTOMER).status_code == 200
    assert client.get("/nowhere").status_code == 404
    assert client.get(CUSTOMER, headers={"X-API-Key": "wrong"}).status_code == 401
    assert access_lines(capsys.readouterr().out) == []
    configure_logging("info")
    assert client.get(CUSTOMER).status_code == 200
    assert len(access_lines(capsys.readouterr().out)) == 1


def write_line(log: AccessLog, n: int) -> None:
    log.write(request_id=f"id-{n}", offered=True, method="GET", route="/r", status=200, ms=1.0)


def test_buffered_lines_wait_for_flush_and_keep_their_order(
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = AccessLog()
    log.flush_after_s = 60

    async def scenario() -> tuple[str, str, str]:
        for n in range(5):
            write_line(log, n)
        before = capsys.readouterr().out
        log.flush()
        flushed = capsys.readouterr().out
        log.flush()  # nothing waits: nothing is written
        return before, flushed, capsys.readouterr().out

    before, flushed, again = asyncio.run(scenario())
    assert before == ""
    assert [line["request_id"] for line in access_lines(flushed)] == [f"id-{n}" for n in range(5)]
    assert len(flushed.splitlines()) == 5
    assert again == ""


def test_max_pending_lines_are_written_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    log = AccessLog()
    log.flush_after_s = 60

    async def scenario() -> tuple[str, str, str]:
        for n in range(AccessLog.MAX_PENDING - 1):
            write_line(log, n)
        before = capsys.readouterr().out
        write_line(log, AccessLog.MAX_PENDING - 1)
        full = capsys.readouterr().out
        write_line(log, AccessLog.MAX_PENDING)
        after = capsys.readouterr().out
        log.flush()
        return before, full, after + capsys.readouterr().out

    before, full, rest = asyncio.run(scenario())
    assert before == ""
    ids = [line["request_id"] for line in access_lines(full)]
    assert ids == [f"id-{n}" for n in range(AccessLog.MAX_PENDING)]
    assert [line["request_id"] for line in access_lines(rest)] == [f"id-{AccessLog.MAX_PENDING}"]


def test_buffered_lines_are_written_by_the_loop_after_the_delay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    log = AccessLog()
    log.flush_after_s = 0.01

    async def scenario() -> tuple[str, str]:
        write_line(log, 1)
        write_line(log, 2)
        before = out.getvalue()
        for _ in range(50):  # at most half a second
            if out.getvalue():
                break
            await asyncio.sleep(0.01)
        written = out.getvalue()
        write_line(log, 3)  # a new batch gets its own timer
        for _ in range(50):
            if out.getvalue() != written:
                break
            await asyncio.sleep(0.01)
        return before, written

    before, written = asyncio.run(scenario())
    assert before == ""
    assert [line["request_id"] for line in access_lines(written)] == ["id-1", "id-2"]
    assert [line["request_id"] for line in access_lines(out.getvalue())] == [
        "id-1",
        "id-2",
        "id-3",
    ]


def test_a_batch_left_by_an_ended_loop_is_written_by_the_next_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    log = AccessLog()
    log.flush_after_s = 0.01

    async def leave_a_line() -> None:
        write_line(log, 1)  # its timer belongs to this loop, which ends before it fires

    async def write_and_wait() -> None:
        write_line(log, 2)
        for _ in range(50):  # at most half a second
            if out.getvalue():
                return
            await asyncio.sleep(0.01)

    asyncio.run(leave_a_line())
    assert out.getvalue() == ""
    asyncio.run(write_and_wait())
    assert [line["request_id"] for line in access_lines(out.getvalue())] == ["id-1", "id-2"]


def test_unbuffered_and_disabled_access_logs(capsys: pytest.CaptureFixture[str]) -> None:
    log = AccessLog()
    write_line(log, 1)  # no delay: written at once, no loop needed
    assert [line["request_id"] for line in access_lines(capsys.readouterr().out)] == ["id-1"]
    log.enabled = False
    write_line(log, 2)
    log.flush()
    assert capsys.readouterr().out == ""


@pytest.mark.usefixtures("restore_logging")
def test_stopping_the_app_flushes_waiting_access_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    access_log.enabled = True
    access_log.flush_after_s = 3600
    app = create_app(settings(), adapter=RecordingDemoAdapter())
    with TestClient(app, headers=AUTH) as client:
        capsys.readouterr()
        first = client.get(CUSTOMER, headers={"X-Request-Id": "wait-1"})
        second = client.get("/nowhere", headers={"X-Request-Id": "wait-2"})
        third = client.head(CUSTOMER, headers={"X-Request-Id": "wait-3"})
        assert (first.status_code, second.status_code, third.status_code) == (200, 404, 200)
        assert access_lines(capsys.readouterr().out) == []
    lines = access_lines(capsys.readouterr().out)
    assert [(line["request_id"], line["status"]) for line in lines] == [
        ("wait-1", 200),
        ("wait-2", 404),
        ("wait-3", 200),
    ]


@pytest.mark.parametrize(
    ("offered", "logged"),
    [
        (API_KEY, REDACTED),
        (f"req-{API_KEY}-7", f"req-{REDACTED}-7"),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl", REDACTED),
        ("password:hunter2hunter2", f"password:{REDACTED}"),
        ("plain-id-1", "plain-id-1"),
    ],
)
@pytest.mark.usefixtures("info_logging")
def test_a_secret_in_an_offered_request_id_is_redacted_in_the_log(
    make_client: Callable[..., TestClient],
    capsys: pytest.CaptureFixture[str],
    offered: str,
    logged: str,
) -> None:
    # The API key is a secret the app registers for redaction when it is created.
    client = make_client()
    capsys.readouterr()
    response = client.get(CUSTOMER, headers={"X-Request-Id": offered})
    assert response.headers["x-request-id"] == offered
    out = capsys.readouterr().out
    (line,) = access_lines(out)
    assert line["request_id"] == logged
    if logged != offered:
        assert offered not in out
