"""A loopback TCP relay in front of a `redis-server` whose replies can be made late.

Commands pass at once, so Redis runs them when it would; while `delay_s` is set, every
reply reaches the client that much later. A client whose timeout is shorter then sees
what a slow network or a busy Redis gives it: a command that ran, and no answer in time.
The relay runs on a thread of its own, so it serves async tests and in-process apps
behind a `TestClient` alike.
"""

from __future__ import annotations

import asyncio
import threading
from functools import partial

from tests.proxy import pipe
from tests.redis_server import RedisServer


class LateReplies:
    """`url` reaches `redis` through the relay; `delay_s` makes its replies late, and
    `lose_replies` drops the connection where a reply would pass instead."""

    def __init__(self, redis: RedisServer) -> None:
        self.upstream_port = redis.port
        self.delay_s = 0.0
        self.lose_replies = False
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._stopped: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._serve(),))
        self._listening = threading.Event()
        self._relays: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def __enter__(self) -> LateReplies:
        self._thread.start()
        assert self._listening.wait(timeout=10), "the relay did not start"
        return self

    def __exit__(self, *_: object) -> None:
        stopped = self._stopped
        assert stopped is not None
        self._loop.call_soon_threadsafe(stopped.set)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _serve(self) -> None:
        self._stopped = asyncio.Event()
        server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._listening.set()
        async with server:
            await self._stopped.wait()
            server.close()
            for relay in self._relays:
                relay.cancel()
            await asyncio.gather(*self._relays, return_exceptions=True)

    async def _relay(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        relay = asyncio.current_task()
        assert relay is not None
        self._relays.add(relay)
        try:
            redis, to_redis = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            await asyncio.gather(
                pipe(client, to_redis),
                pipe(redis, to_client, passes=partial(self._reply_passes, to_client)),
            )
        finally:
            self._relays.discard(relay)
            to_client.close()

    async def _reply_passes(self, to_client: asyncio.StreamWriter) -> bool:
        if self.lose_replies:
            to_client.transport.abort()  # Redis ran the command; its reply is lost
            return False
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return True
