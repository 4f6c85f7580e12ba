"""The response cache under attack: a real `erc-bridge serve` on the open demo store is
sent thousands of misses padded with kilobytes of ignored parameters, and its memory
stays within a constant bound (issue 14, finding 5)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import R
from tests.processes import RunningBridge, serving, status_kib

MISSES = 3000
PADDING_BYTES = 7000
CACHE_MAX_BYTES = 4 * 1024 * 1024
MAX_GROWTH_MIB = 32
"""Allowed rise of the bridge's peak resident memory over the attack: the cache's own
bound and room for the allocator and the interpreter. With the padding kept in the key
and twice in the body, and no bound in bytes, these misses added 57 MiB."""
ORDER = f"{R}/customers/cus_ana/orders/ord_1001"


class Connection:
    """One keep-alive HTTP/1.1 connection, raw: the client must cost little next to the
    bridge, and send exactly what the test says."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buffer = b""

    def get(self, target: str) -> tuple[int, bytes]:
        self.sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        while b"\r\n\r\n" not in self.buffer:
            self._read()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = next(
            int(line.partition(b":")[2])
            for line in lines
            if line.lower().startswith(b"content-length:")
        )
        while len(self.buffer) < length:
            self._read()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(lines[0].split()[1]), body

    def _read(self) -> None:
        chunk = self.sock.recv(65536)
        assert chunk, "the bridge closed the connection"
        self.buffer += chunk

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def demo_bridge(tmp_path: Path) -> Iterator[RunningBridge]:
    env = {
        "ERC_BRIDGE_CACHE_MAX_BYTES": str(CACHE_MAX_BYTES),
        "ERC_BRIDGE_LOG_LEVEL": "warning",
    }
    with serving(tmp_path, env) as bridge:
        yield bridge


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_padded_misses_keep_the_bridge_within_a_constant_memory_bound(
    demo_bridge: RunningBridge,
) -> None:
    http = Connection(demo_bridge.port)
    try:
        padding = "p" * PADDING_BYTES
        # Each request names a brand of its own (a known parameter: a miss) and a
        # padding of its own (ignored).
        for n in range(200):
            assert http.get(f"{ORDER}?brand=warm{n}&pad{n}={padding}")[0] == 200
        before = status_kib("VmHWM", demo_bridge.process.pid) / 1024
        for n in range(MISSES):
            status, body = http.get(f"{ORDER}?brand=b{n}&pad{n}={padding}")
            assert status == 200
        after = status_kib("VmHWM", demo_bridge.process.pid) / 1024
        metrics = http.get("/metrics")[1].decode()
        assert http.get(ORDER)[0] == 200  # and the store is still served
    finally:
        http.close()
    print(f"bridge peak resident memory {before:.0f} MiB -> {after:.0f} MiB")
    assert after - before < MAX_GROWTH_MIB
    assert body.count(padding.encode()) == 1  # in the self link, as sent; not in the cache
    held = [line for line in metrics.splitlines() if line.startswith("erc_bridge_cache_bytes ")]
    assert 0 < float(held[0].split()[1]) <= CACHE_MAX_BYTES
