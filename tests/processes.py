"""`erc-bridge serve` as its own process on a free loopback port, configured by the test
alone, for the tests that need the real command: its signals, its memory, its sockets,
several replicas of it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

CONFIGURATION = (
    "ERC_BRIDGE_",
    "ELASTICPATH_",
    "BIGCOMMERCE_",
    "ADOBE_",
    "FORWARDED_ALLOW_IPS",  # uvicorn's own, which the bridge reads too
)
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clean_environment(**variables: str) -> dict[str, str]:
    """This process's environment without any bridge configuration of its own (which
    would reach the bridge under test), and `variables`."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(CONFIGURATION)}
    return {**inherited, **variables}


def wait_until(
    ready: Callable[[], bool],
    process: subprocess.Popen[bytes],
    what: str,
    output: Callable[[], str],
    *,
    timeout: float,
) -> None:
    """Return once `ready()`; fail with the end of `output` when `process` exits first or
    `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited: {output()[-3000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start within {timeout:g} s: {output()[-3000:]}")
        if ready():
            return
        time.sleep(0.02)


def stop(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT_S) -> None:
    """Stop `process` as a deployment would (SIGTERM), and kill it if it does not exit."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def status_kib(field: str, pid: int | str = "self") -> int:
    """A size from /proc/<pid>/status in KiB: `VmRSS` (resident now), `VmHWM` (the peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def answering(url: str) -> bool:
    # An answer, not a connection: `serve` listens for a moment on its port to see that
    # it can, before it starts.
    try:
        httpx.get(f"{url}/healthz", timeout=1)
    except httpx.TransportError:
        return False
    return True


@dataclass
class RunningBridge:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        """Everything the process wrote so far, on its standard output and error."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop(self.process)


@contextmanager
def serving(
    directory: Path,
    env: Mapping[str, str],
    *,
    name: str = "bridge",
    preexec_fn: Callable[[], object] | None = None,
) -> Iterator[RunningBridge]:
    """`erc-bridge serve` on 127.0.0.1, with `env` on top of a clean environment and
    `directory` as its working directory, where it writes its output to
    `<name>-<port>.log`; from the moment it answers until the block ends."""
    port = free_port()
    log_path = directory / f"{name}-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bridge.cli", "serve", "--port", str(port)],
            cwd=directory,
            env=clean_environment(**env),
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec_fn,
        )
    bridge = RunningBridge(port, process, log_path)
    try:
        wait_until(
            lambda: answering(bridge.url),
            process,
            "the bridge",
            bridge.logs,
            timeout=START_TIMEOUT_S,
        )
        yield bridge
    finally:
        bridge.stop()
