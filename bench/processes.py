"""Start and stop the processes a benchmark measures (all on 127.0.0.1)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


@contextlib.contextmanager
def running(
    command: Sequence[str], port: int, *, env: dict[str, str] | None = None, module: bool = True
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `python -m <command...>` (bound to 127.0.0.1) until the block ends."""
    argv = [sys.executable, "-m", *command] if module else list(command)
    if module and command[0] == "uvicorn":
        argv += ["--host", "127.0.0.1", "--log-level", "warning", "--no-access-log"]
    process = subprocess.Popen(
        argv,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port, process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
