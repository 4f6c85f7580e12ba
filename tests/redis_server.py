"""A real `redis-server` on a free loopback port, for the tests of the shared state.

The binary comes from Debian's `redis-server` package (`.ci/run` installs it; README,
"Tests"). It keeps nothing on disk, and a test may stop it and start it again on the
same port to see the bridge lose Redis and find it back.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import free_port, listening, wait_until

BINARY = "redis-server"


class RedisServer:
    """`start`, `stop`, `url`; `password` and `tls` (a certificate and key) when given."""

    def __init__(
        self,
        directory: Path,
        *,
        password: str | None = None,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.directory = directory
        self.password = password
        self.tls = tls
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        scheme = "rediss" if self.tls else "redis"
        credentials = f":{self.password}@" if self.password else ""
        return f"{scheme}://{credentials}127.0.0.1:{self.port}/0"

    def _arguments(self) -> list[str]:
        arguments = [
            BINARY,
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.directory),
            "--logfile", str(self.directory / "redis.log"),
            "--protected-mode", "no",
        ]  # fmt: skip
        if self.tls is None:
            arguments += ["--port", str(self.port)]
        else:
            certificate, key = self.tls
            arguments += ["--port", "0", "--tls-port", str(self.port)]
            arguments += ["--tls-cert-file", str(certificate), "--tls-key-file", str(key)]
            arguments += ["--tls-auth-clients", "no"]
        if self.password:
            arguments += ["--requirepass", self.password]
        return arguments

    def start(self) -> None:
        assert self._process is None, "already running"
        self._process = subprocess.Popen(self._arguments(), stdout=subprocess.DEVNULL)
        wait_until(
            lambda: listening(self.port),
            self._process,
            "redis-server",
            lambda: (self.directory / "redis.log").read_text(errors="replace"),
            timeout=10,
        )

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            process.wait(timeout=10)

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def require_redis_server() -> None:
    if shutil.which(BINARY) is None:
        pytest.fail(
            "redis-server is not installed: `apt-get install redis-server` (README, Tests)",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One Redis for the session; tests keep apart by namespace or `FLUSHALL` it."""
    require_redis_server()
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server
