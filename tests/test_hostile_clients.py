"""Hostile callers over raw sockets against a real `erc-bridge serve`: a header block that
never ends is cut off at the limit with the process's memory bounded, silent and
trickling connections are closed at the header timeout, and connections past the cap are
turned away at once, while legitimate requests are still answered."""

from __future__ import annotations

import base64
import json
import resource
import select
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from bridge.limits import MAX_HEAD_BYTES
from tests.conftest import BOTH_SCOPES, CLIENT_ID, CLIENT_SECRET, TOKEN_SECRET
from tests.processes import RunningBridge, serving, status_kib

API_KEY = "hostile-clients-key-5d0c1e9a7b3f42a8c6"
CUSTOMER = "/erc/ecommerce/connections/customers/cus_ana"
IO_TIMEOUT_S = 10.0

FLOOD_CONNECTIONS = 4
FLOOD_CHUNK = b"a" * 65536
FLOOD_SEND_BUFFER_BYTES = 256 * 1024
"""Fixed, so that the kernel does not grow the flooding socket's buffer (to 4 MiB)."""
FLOOD_BUDGET_BYTES = 16 * 1024 * 1024
"""What each flooding connection would send if nothing stopped it."""
CUT_OFF_BYTES = 8 * 1024 * 1024
"""What a connection may have sent before it learns it was cut off: the limit, and the
loopback socket buffers of both ends."""
FLOOD_MEMORY_BOUND_BYTES = 24 * 1024 * 1024
"""How far the bridge's peak resident memory may rise while it is flooded."""

HEADER_TIMEOUT_S = 2.0
CLOSE_SLACK_S = 6.0
"""How late past the header timeout a loaded machine may close a connection."""
TRICKLE_EVERY_S = 0.25
SILENT = 120
TRICKLING = 120

CAP = 100
CAP_HEADER_TIMEOUT_S = 5.0
"""Long enough for every attacker to connect before the first held one is let go."""
ATTACKERS = 450
DESCRIPTOR_LIMIT = 400
"""Fewer descriptors than attackers: without the cap the bridge runs out of them."""


def limit_descriptors(limit: int | None) -> Callable[[], None] | None:
    if limit is None:
        return None

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    return apply


class Bridge(RunningBridge):
    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def memory(self, key: str) -> int:
        """`VmHWM` (the peak) or `VmRSS` from /proc, in bytes."""
        return status_kib(key, self.process.pid) * 1024

    def get(self, path: str = CUSTOMER) -> httpx.Response:
        return httpx.get(self.url + path, headers={"X-API-Key": API_KEY}, timeout=IO_TIMEOUT_S)


@contextmanager
def running_bridge(
    tmp_path: Path, descriptors: int | None = None, **settings: str
) -> Iterator[Bridge]:
    env = {f"ERC_BRIDGE_{k.upper()}": v for k, v in settings.items()}
    env["ERC_BRIDGE_API_KEYS"] = API_KEY
    with serving(tmp_path, env, preexec_fn=limit_descriptors(descriptors)) as running:
        yield Bridge(running.port, running.process, running.log_path)


def error_code(answer: bytes) -> str:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), answer[:500]
    assert b"connection: close" in head.lower(), answer[:500]
    return str(json.loads(body)["code"])


def read_to_end(sock: socket.socket) -> bytes:
    """Whatever the server wrote before it closed (empty when it only closed)."""
    received = b""
    sock.settimeout(IO_TIMEOUT_S)
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except OSError:
        pass
    return received


# 1. A header block that never ends.


@dataclass
class Flood:
    sent: int = 0
    answer: bytes = b""


def flood(address: tuple[str, int], outcome: Flood) -> None:
    head = (
        f"GET {CUSTOMER} HTTP/1.1\r\nHost: bridge\r\nX-API-Key: {API_KEY}\r\nX-Padding: "
    ).encode()
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, FLOOD_SEND_BUFFER_BYTES)
        sock.settimeout(IO_TIMEOUT_S)
        sock.connect(address)
        try:
            sock.sendall(head)
            while outcome.sent < FLOOD_BUDGET_BYTES:
                if select.select([sock], [], [], 0)[0]:
                    break  # the bridge answered or closed
                sock.sendall(FLOOD_CHUNK)
                outcome.sent += len(FLOOD_CHUNK)
        except OSError:
            pass  # reset: the bridge stopped reading
        outcome.answer = read_to_end(sock)


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    with running_bridge(tmp_path_factory.mktemp("bridge")) as running:
        yield running


def test_a_header_block_that_never_ends_is_cut_off_with_memory_bounded(bridge: Bridge) -> None:
    assert bridge.get().status_code == 200
    peak_before = bridge.memory("VmHWM")
    outcomes = [Flood() for _ in range(FLOOD_CONNECTIONS)]
    threads = [
        threading.Thread(target=flood, args=(bridge.address, outcome), daemon=True)
        for outcome in outcomes
    ]
    for thread in threads:
        thread.start()
    during = bridge.get()
    for thread in threads:
        thread.join(timeout=120)
    growth = bridge.memory("VmHWM") - peak_before
    after = bridge.get()

    assert not any(thread.is_alive() for thread in threads)
    assert [o.sent < CUT_OFF_BYTES for o in outcomes] == [True] * FLOOD_CONNECTIONS, [
        o.sent for o in outcomes
    ]
    for outcome in outcomes:
        if outcome.answer:
            assert outcome.answer.startswith(b"HTTP/1.1 431 "), outcome.answer[:200]
            assert error_code(outcome.answer) == "headers_too_large"
    assert growth < FLOOD_MEMORY_BOUND_BYTES, f"peak memory rose by {growth / 2**20:.0f} MiB"
    assert (during.status_code, after.status_code) == (200, 200)


def test_a_head_past_the_limit_is_431_like_one_the_front_door_refuses(bridge: Bridge) -> None:
    answers = []
    for padding in (9000, MAX_HEAD_BYTES + 1):
        request = (
            f"GET {CUSTOMER} HTTP/1.1\r\nHost: bridge\r\nX-API-Key: {API_KEY}\r\n"
            f"X-Padding: {'p' * padding}\r\n\r\n"
        ).encode()
        with socket.create_connection(bridge.address, timeout=IO_TIMEOUT_S) as sock:
            sock.sendall(request)
            answers.append(read_to_end(sock))
    front_door, cut_off = answers
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
        assert error_code(answer) == "headers_too_large"
    assert front_door.partition(b"\r\n\r\n")[2] == cut_off.partition(b"\r\n\r\n")[2]


# 2. Silent and trickling connections.


@dataclass
class Attack:
    """Raw connections, each with what the bridge wrote to it and when it closed it."""

    started: float = field(default_factory=time.monotonic)
    open: dict[socket.socket, bytes] = field(default_factory=dict)
    closed: list[tuple[float, bytes]] = field(default_factory=list)

    def connect(self, address: tuple[str, int], first_bytes: bytes = b"") -> socket.socket:
        sock = socket.create_connection(address, timeout=IO_TIMEOUT_S)
        sock.sendall(first_bytes)
        sock.setblocking(False)
        self.open[sock] = b""
        return sock

    def watch(self, seconds: float, trickle: AbstractSet[socket.socket] = frozenset()) -> None:
        """Reads what the bridge writes for `seconds`, sending one more header byte on
        each `trickle` connection every `TRICKLE_EVERY_S`."""
        selector = selectors.DefaultSelector()
        for sock in self.open:
            selector.register(sock, selectors.EVENT_READ)
        until = time.monotonic() + seconds
        next_trickle = time.monotonic()
        while self.open and time.monotonic() < until:
            if time.monotonic() >= next_trickle:
                for sock in trickle & self.open.keys():
                    with suppress(OSError):
                        sock.send(b"a")
                next_trickle += TRICKLE_EVERY_S
            for key, _ in selector.select(timeout=0.05):
                readable = key.fileobj
                assert isinstance(readable, socket.socket)
                sock = readable
                try:
                    chunk = sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                if chunk:
                    self.open[sock] += chunk
                    continue
                selector.unregister(sock)
                self.closed.append((time.monotonic() - self.started, self.open.pop(sock)))
                sock.close()
        selector.close()

    def close(self) -> None:
        for sock in self.open:
            sock.close()


@contextmanager
def attack() -> Iterator[Attack]:
    ongoing = Attack()
    try:
        yield ongoing
    finally:
        ongoing.close()


def test_silent_and_trickling_connections_are_closed_at_the_header_timeout(
    tmp_path: Path,
) -> None:
    trickle_head = f"GET {CUSTOMER} HTTP/1.1\r\nHost: bridge\r\nX-Slow: ".encode()
    with running_bridge(tmp_path, header_timeout_s=str(HEADER_TIMEOUT_S)) as bridge:
        with attack() as ongoing:
            for _ in range(SILENT):
                ongoing.connect(bridge.address)
            tricklers = {ongoing.connect(bridge.address, trickle_head) for _ in range(TRICKLING)}
            # One served request first, then the next one trickles: the timeout runs
            # again from that request's first byte.
            kept_alive = socket.create_connection(bridge.address, timeout=IO_TIMEOUT_S)
            kept_alive.sendall(
                f"GET {CUSTOMER} HTTP/1.1\r\nHost: bridge\r\nX-API-Key: {API_KEY}\r\n\r\n".encode()
            )
            assert kept_alive.recv(65536).startswith(b"HTTP/1.1 200 ")
            kept_alive.sendall(trickle_head)
            kept_alive.setblocking(False)
            ongoing.open[kept_alive] = b""
            tricklers.add(kept_alive)

            meanwhile = bridge.get()
            ongoing.watch(HEADER_TIMEOUT_S + CLOSE_SLACK_S, trickle=tricklers)
            still_open = len(ongoing.open)
        afterwards = bridge.get()

    assert meanwhile.status_code == 200
    assert still_open == 0, f"{still_open} connections outlived the header timeout"
    assert all(when >= HEADER_TIMEOUT_S * 0.9 for when, _ in ongoing.closed)
    answers = sorted(answer[:13] for _, answer in ongoing.closed)
    assert answers == [b""] * SILENT + [b"HTTP/1.1 408 "] * (TRICKLING + 1)
    assert {error_code(a) for _, a in ongoing.closed if a} == {"request_timeout"}
    assert afterwards.status_code == 200


def test_connections_past_the_cap_are_turned_away_at_once(tmp_path: Path) -> None:
    with running_bridge(
        tmp_path,
        descriptors=DESCRIPTOR_LIMIT,
        max_connections=str(CAP),
        header_timeout_s=str(CAP_HEADER_TIMEOUT_S),
    ) as bridge:
        with attack() as ongoing:
            for _ in range(ATTACKERS):
                ongoing.connect(bridge.address)
            past_the_cap = bridge.get()
            ongoing.watch(CAP_HEADER_TIMEOUT_S + CLOSE_SLACK_S)
            still_open = len(ongoing.open)
        afterwards = bridge.get()
        bridge.process.kill()
        bridge.process.wait(timeout=15)
        output = bridge.logs()

    assert still_open == 0
    turned_away = [(when, answer) for when, answer in ongoing.closed if answer]
    held = [when for when, answer in ongoing.closed if not answer]
    assert len(held) <= CAP and len(turned_away) >= ATTACKERS - CAP
    assert all(when < CAP_HEADER_TIMEOUT_S * 0.9 for when, _ in turned_away)
    for _, answer in turned_away:
        assert answer.startswith(b"HTTP/1.1 503 "), answer[:200]
        assert b"\r\nretry-after: " in answer.lower()
        assert error_code(answer) == "unavailable"
    # The caller past the cap is told so at once, and served once the slots are free.
    assert past_the_cap.status_code == 503
    assert past_the_cap.json()["code"] == "unavailable"
    assert past_the_cap.headers["retry-after"].isdigit()
    assert afterwards.status_code == 200
    assert "descriptor" not in output  # the cap fits the descriptor limit: no warning


# 4. Bodies that never come.

BODY_TIMEOUT_S = 3.0
SLOW_BODIES = 6
TOKEN_FORM = b"grant_type=client_credentials"


def token_request(body_length: int, *headers: str) -> bytes:
    """A token request's head, announcing a body of `body_length` bytes."""
    lines = [
        "POST /oauth/token HTTP/1.1",
        "Host: bridge",
        "Content-Type: application/x-www-form-urlencoded",
        f"Content-Length: {body_length}",
        *headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def basic_authorization() -> str:
    credentials = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    return f"Authorization: Basic {credentials}"


def trickle_token_request(address: tuple[str, int], every_s: float, answer: list[bytes]) -> None:
    """A token request whose body arrives a byte at a time, `every_s` apart."""
    with socket.create_connection(address, timeout=IO_TIMEOUT_S) as sock:
        sock.sendall(token_request(len(TOKEN_FORM), basic_authorization()))
        for n in range(len(TOKEN_FORM)):
            time.sleep(every_s)
            sock.sendall(TOKEN_FORM[n : n + 1])
        answer.append(sock.recv(65536))


def test_bodies_that_never_come_are_cut_off_at_the_body_timeout_and_free_their_slots(
    tmp_path: Path,
) -> None:
    # The token endpoint reads its body before it can tell who is asking.
    with running_bridge(
        tmp_path,
        max_connections=str(SLOW_BODIES),
        body_timeout_s=str(BODY_TIMEOUT_S),
        oauth_clients=f"{CLIENT_ID}:{CLIENT_SECRET}:{BOTH_SCOPES}",
        token_secret=TOKEN_SECRET,
    ) as bridge:
        steady: list[bytes] = []
        with attack() as ongoing:
            for _ in range(SLOW_BODIES - 1):
                ongoing.connect(bridge.address, token_request(1000) + b"grant_type=")
            # Steady, and whole well within the timeout: served.
            every_s = BODY_TIMEOUT_S / 3 / len(TOKEN_FORM)
            trickler = threading.Thread(
                target=trickle_token_request, args=(bridge.address, every_s, steady)
            )
            trickler.start()
            while bridge.get().status_code != 503:  # every slot is held
                time.sleep(0.05)
            ongoing.watch(BODY_TIMEOUT_S + CLOSE_SLACK_S)
            still_open = len(ongoing.open)
            trickler.join(timeout=IO_TIMEOUT_S)
        afterwards = bridge.get()

    assert still_open == 0, f"{still_open} connections outlived the body timeout"
    assert all(when >= BODY_TIMEOUT_S * 0.9 for when, _ in ongoing.closed)
    for _, answer in ongoing.closed:
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert error_code(answer) == "request_timeout"
    assert steady and steady[0].startswith(b"HTTP/1.1 200 "), steady
    assert b'"access_token"' in steady[0]
    assert afterwards.status_code == 200
