"""Bridge replicas as a deployment runs them: separate `erc-bridge serve` processes on
loopback, in front of one platform emulator served by the test process (so that its
request log counts the calls of every replica) and sharing one Redis."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from tests.conftest import API_KEY, AUTH, CURSOR_SECRET
from tests.emulators.elasticpath import CLIENT_ID, CLIENT_SECRET
from tests.processes import RunningBridge, serving

TOKEN_SECRET = "token-secret-shared-by-replicas-0123456789"


class Replica(RunningBridge):
    """A running replica, whose clients send the API key."""

    def client(self, **options: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=AUTH, **options)  # type: ignore[arg-type]


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
    """One `erc-bridge serve` with `env`, until the block ends."""
    with serving(directory, env, name=f"replica-{name}") as running:
        yield Replica(running.port, running.process, running.log_path)


@contextmanager
def replicas(directory: Path, env: Mapping[str, str], count: int = 2) -> Iterator[list[Replica]]:
    """`count` replicas with the same configuration, started side by side."""
    with ExitStack() as stack:
        yield [
            stack.enter_context(replica(directory, env, name=chr(ord("a") + n)))
            for n in range(count)
        ]
