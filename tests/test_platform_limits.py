"""What a hostile platform can send back, end to end: the bridge (Elastic Path adapter,
over real HTTP on 127.0.0.1) against a platform stand-in that serves tokens properly and
answers every API call with a decompression bomb, an endless body or garbage.

Memory is this process's peak resident size (VmHWM, reset before each request through
/proc/self/clear_refs): the bridge serves from a thread of it."""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import orjson
import pytest

from adapters.demo import DemoAdapter
from adapters.elasticpath import ElasticPathAdapter
from adapters.http import PlatformLimits
from bridge.app import create_app
from bridge.settings import BridgeSettings
from tests.conftest import FAST_CAPPED
from tests.platform_settings import elasticpath_settings
from tests.processes import status_kib
from tests.servers import serve

pytestmark = pytest.mark.anyio

API_KEY = "platform-limits-test-key-0123456789abcdef"
CUSTOMER = "/erc/ecommerce/connections/customers/cus_1"

MIB = 1024 * 1024
BOMB_DECODED_MIB = 1024
"""What the bomb inflates to: a gibibyte, from about a megabyte on the wire."""
HUGE_BODY_BYTES = 50 * MIB
PEAK_GROWTH_BOUND = 48 * MIB
"""How much one refused answer may raise the process's peak memory (cap: 8 MiB)."""
ANSWER_WITHIN_S = 10.0
HEALTHZ_WITHIN_S = 3.0
"""A cheap request's bound while bombs are refused beside it (before the cap: 17-45 s)."""

Answer = Callable[[asyncio.StreamWriter], Awaitable[None]]


def gzip_bomb(decoded_mib: int) -> bytes:
    """A gzip stream of `decoded_mib` MiB of zeros, built in milliseconds: the same
    fully-flushed deflate segment (1 MiB of zeros) repeated, then the trailer."""
    zeros = bytes(MIB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    segment = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    last_block = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS).flush()
    crc = 0
    for _ in range(decoded_mib):
        crc = zlib.crc32(zeros, crc)
    size = (decoded_mib * MIB) & 0xFFFFFFFF
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    trailer = crc.to_bytes(4, "little") + size.to_bytes(4, "little")
    return header + segment * decoded_mib + last_block + trailer


def test_the_bomb_is_a_valid_gzip_stream() -> None:
    decoder = zlib.decompressobj(zlib.MAX_WBITS | 16)
    decoded = decoder.decompress(gzip_bomb(3)) + decoder.flush()
    assert decoder.eof and decoded == bytes(3 * MIB)


async def send_bomb(writer: asyncio.StreamWriter) -> None:
    body = BOMB
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )


async def send_huge_body(writer: asyncio.StreamWriter) -> None:
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
        % HUGE_BODY_BYTES
    )
    start = b'{"data": {"id": "cus_1", "first_name": "'
    writer.write(start)
    left = HUGE_BODY_BYTES - len(start) - len(b'"}}')
    while left > 0:
        writer.write(b"x" * min(left, 256 * 1024))
        left -= 256 * 1024
        await writer.drain()
    writer.write(b'"}}')


async def send_garbage_chunks(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nnot a chunk\r\n")


BOMB = gzip_bomb(BOMB_DECODED_MIB)


class HostilePlatform:
    """Elastic Path's token endpoint, and `answer` to every other call."""

    def __init__(self) -> None:
        self.answer: Answer = send_bomb
        self.api_calls = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                await reader.readexactly(length)
                if head.startswith(b"POST /oauth/access_token "):
                    grant = orjson.dumps(
                        {
                            "access_token": "t" * 40,
                            "token_type": "Bearer",
                            "expires_in": 3600,
                            "expires": int(time.time()) + 3600,
                            "identifier": "client_credentials",
                        }
                    )
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n%s" % (len(grant), grant)
                    )
                else:
                    self.api_calls += 1
                    await self.answer(writer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


@asynccontextmanager
async def hostile_platform() -> AsyncIterator[tuple[HostilePlatform, str]]:
    platform = HostilePlatform()
    listening = await asyncio.start_server(platform.handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        yield platform, f"http://127.0.0.1:{port}"
    finally:
        listening.close()


@pytest.fixture
def bridge_for() -> Iterator[Callable[[str], str]]:
    """Starts a bridge in front of a platform URL; yields the bridge's URL."""
    with ExitStack() as running:

        def start(platform_url: str) -> str:
            settings = elasticpath_settings(platform_url, client_id="c" * 32)
            app = create_app(
                BridgeSettings(_env_file=None, api_keys=API_KEY, deadline_s=ANSWER_WITHIN_S),
                ElasticPathAdapter(settings, http=FAST_CAPPED),
            )
            return running.enter_context(serve(app))

        yield start


@contextmanager
def peak_growth() -> Iterator[list[int]]:
    """Yields a list that holds, on exit, how far the peak resident size rose (bytes)."""
    Path("/proc/self/clear_refs").write_text("5")  # the peak starts again from now
    before = status_kib("VmRSS")
    growth: list[int] = []
    yield growth
    growth.append((status_kib("VmHWM") - before) * 1024)


async def ask(bridge: str, path: str = CUSTOMER) -> httpx.Response:
    async with httpx.AsyncClient(base_url=bridge, timeout=ANSWER_WITHIN_S) as client:
        return await client.get(path, headers={"X-API-Key": API_KEY})


async def test_a_decompression_bomb_is_a_502_in_bounded_memory(
    bridge_for: Callable[[str], str],
) -> None:
    async with hostile_platform() as (_, url):
        bridge = bridge_for(url)
        await ask(bridge)  # warm: token, connections, first-call imports
        with peak_growth() as growth:
            response = await ask(bridge)
    assert response.status_code == 502
    assert response.json()["code"] == "upstream_error"
    assert growth[0] < PEAK_GROWTH_BOUND, f"peak rose by {growth[0] / MIB:.0f} MiB"


async def test_a_50_mib_body_is_a_502_in_bounded_memory_and_not_cached(
    bridge_for: Callable[[str], str],
) -> None:
    async with hostile_platform() as (platform, url):
        platform.answer = send_huge_body
        bridge = bridge_for(url)
        await ask(bridge)
        calls = platform.api_calls
        with peak_growth() as growth:
            response = await ask(bridge)
        again = await ask(bridge)
    assert response.status_code == again.status_code == 502
    assert again.headers.get("x-cache") != "HIT"
    assert platform.api_calls > calls + 1, "the second request must call the platform again"
    assert growth[0] < PEAK_GROWTH_BOUND, f"peak rose by {growth[0] / MIB:.0f} MiB"


async def test_garbage_chunking_is_a_502_counted_as_an_invalid_answer(
    bridge_for: Callable[[str], str],
) -> None:
    async with hostile_platform() as (platform, url):
        platform.answer = send_garbage_chunks
        bridge = bridge_for(url)
        response = await ask(bridge)
        async with httpx.AsyncClient(base_url=bridge, timeout=ANSWER_WITHIN_S) as client:
            metrics = (await client.get("/metrics", headers={"X-API-Key": API_KEY})).text
    assert response.status_code == 502
    assert response.json()["code"] == "upstream_error"
    assert 'outcome="invalid_answer"' in metrics
    assert 'outcome="unreachable"' not in metrics


async def test_the_bridge_answers_others_while_bombs_are_refused(
    bridge_for: Callable[[str], str],
) -> None:
    async with hostile_platform() as (_, url):
        bridge = bridge_for(url)
        await ask(bridge)
        bombs = [asyncio.ensure_future(ask(bridge)) for _ in range(4)]
        slowest = 0.0
        async with httpx.AsyncClient(base_url=bridge, timeout=ANSWER_WITHIN_S) as client:
            while not all(bomb.done() for bomb in bombs):
                started = time.perf_counter()
                assert (await client.get("/healthz")).status_code == 200
                slowest = max(slowest, time.perf_counter() - started)
                await asyncio.sleep(0.01)
        answers = await asyncio.gather(*bombs)
    assert [answer.status_code for answer in answers] == [502] * 4
    assert slowest < HEALTHZ_WITHIN_S, f"/healthz took {slowest:.2f} s"


def test_the_settings_reach_every_platform_pool() -> None:
    defaults = BridgeSettings(_env_file=None)
    assert PlatformLimits(defaults.platform_idle_s, defaults.platform_max_answer_bytes) == (
        PlatformLimits()
    )
    adapter = DemoAdapter()
    create_app(
        BridgeSettings(_env_file=None, platform_idle_s=3.5, platform_max_answer_bytes=2 * MIB),
        adapter,
    )
    assert adapter.platform_limits == PlatformLimits(idle_timeout=3.5, max_answer_bytes=2 * MIB)
