"""Bridge replicas as a deployment runs them: separate `erc-bridge serve` processes on
loopback, in front of one platform emulator served by the test process (so that its
request log counts the calls of every replica) and sharing one Redis."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import API_KEY, AUTH, CURSOR_SECRET
from tests.emulators.elasticpath import CLIENT_ID, CLIENT_SECRET
from tests.redis_server import free_port, wait_until_listening

TOKEN_SECRET = "token-secret-shared-by-replicas-0123456789"
_CONFIGURATION = ("ERC_BRIDGE_", "ELASTICPATH_", "BIGCOMMERCE_", "ADOBE_")


@dataclass
class Replica:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, **options: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=AUTH, **options)  # type: ignore[arg-type]

    def logs(self) -> str:
        """Everything the process wrote so far (JSON lines)."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def elasticpath_env(platform_url: str, redis_url: str | None) -> dict[str, str]:
    """A replica of one Elastic Path store, as every replica of it is configured."""
    env = {
        "ERC_BRIDGE_ADAPTER": "elasticpath",
        "ELASTICPATH_BASE_URL": platform_url,
        "ELASTICPATH_CLIENT_ID": CLIENT_ID,
        "ELASTICPATH_CLIENT_SECRET": CLIENT_SECRET,
        "ERC_BRIDGE_API_KEYS": API_KEY,
        "ERC_BRIDGE_CURSOR_SECRET": CURSOR_SECRET,
        "ERC_BRIDGE_TOKEN_SECRET": TOKEN_SECRET,
        "ERC_BRIDGE_LOG_FORMAT": "json",
    }
    if redis_url is not None:
        env["ERC_BRIDGE_REDIS_URL"] = redis_url
    return env


@contextmanager
def replica(directory: Path, env: Mapping[str, str], *, name: str = "a") -> Iterator[Replica]:
    """One `erc-bridge serve` with `env` on top of a clean environment (no ERC_BRIDGE_*
    or platform variables of the caller's), until the block ends."""
    port = free_port()
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(_CONFIGURATION)}
    log_path = directory / f"replica-{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bridge.cli", "serve", "--port", str(port)],
            cwd=directory,
            env={**inherited, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    running = Replica(port, process, log_path)
    try:
        wait_until_listening(port, process, "the replica", running.logs, timeout=30)
        yield running
    finally:
        running.stop()


@contextmanager
def replicas(directory: Path, env: Mapping[str, str], count: int = 2) -> Iterator[list[Replica]]:
    """`count` replicas with the same configuration, started side by side."""
    with ExitStack() as stack:
        yield [
            stack.enter_context(replica(directory, env, name=chr(ord("a") + n)))
            for n in range(count)
        ]
