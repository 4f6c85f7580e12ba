"""Start and stop the processes a benchmark measures (all on 127.0.0.1)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence

from tests.processes import listening, stop, wait_until


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
        wait_until(lambda: listening(port), process, " ".join(command), lambda: "", timeout=30)
        yield process
    finally:
        stop(process, timeout=10)
