"""The bridge served over loopback in front of a served platform emulator, for tests that
count the platform calls each request makes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from threading import Event
from typing import Any

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.base import HTTPAdapter
from adapters.resources import ResourceCache
from bridge.app import create_app
from tests.conftest import AUTH, settings
from tests.servers import serve


class Gate:
    """Wraps an emulator's app: once armed with a path, the next request for it waits
    until `release` is set, so the bridge's fetch is under way for as long as a test needs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.path: str | None = None
        self.arrived = Event()
        self.release = Event()

    def arm(self, path: str) -> None:
        self.arrived.clear()
        self.release.clear()
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path:
            self.path = None
            self.arrived.set()
            await asyncio.to_thread(self.release.wait, 10)
        await self.app(scope, receive, send)


@dataclass
class Bridge:
    client: httpx.Client
    url: str
    adapter: HTTPAdapter
    calls: Callable[[], int]
    """How many requests the platform emulator has received."""

    def read(self, path: str) -> str:
        """The `X-Cache` status of a successful read."""
        response = self.client.get(path)
        assert response.status_code == 200, response.text
        return response.headers["x-cache"]

    def deliver(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        """A delivery as the platform sends it: without any ERC credential."""
        return httpx.post(f"{self.url}/webhooks/{self.adapter.name}", content=body, headers=headers)

    @property
    def resources(self) -> ResourceCache:
        assert self.adapter.resources is not None
        return self.adapter.resources

    def metrics(self) -> str:
        return self.client.get("/metrics").text


@contextmanager
def bridge_over(
    adapter: HTTPAdapter, calls: Callable[[], int], **overrides: Any
) -> Iterator[Bridge]:
    app = create_app(settings(**overrides), adapter=adapter)
    with serve(app) as url, httpx.Client(base_url=url, headers=AUTH) as client:
        yield Bridge(client, url, adapter, calls)
