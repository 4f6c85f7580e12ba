"""The Redis the replicas of one store share (SPEC §9).

Everything kept here is an optimisation or a fleet-wide promise layered on what each
process already does alone, so Redis failing must never fail a request: `run` answers
`otherwise` when Redis is unreachable or slow, and the caller goes on as one process
would. After a failure Redis is left alone for `retry_after_s`, then the next call tries
it again; reconnecting needs nothing else.

Keys live under one namespace per store (`store_namespace`), so several stores may share
one Redis. Messages to every replica (`publish`, `subscribe`) go over Redis pub/sub; a
subscriber that was cut off is told so (its handler gets `None`), because whatever was
published meanwhile is lost to it. A change Redis did not take is counted (`Unheard`):
until something covers it, what Redis holds may predate it.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import orjson
import structlog
from pydantic import SecretStr
from pydantic_settings import BaseSettings
from redis.asyncio import Redis
from redis.exceptions import AuthenticationError, BusyLoadingError, RedisError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError

T = TypeVar("T")
Operation = Callable[[Redis], Awaitable[T]]
Handler = Callable[[bytes | None], None]
"""Takes a message published on a channel, or None when messages may have been missed."""

log = structlog.get_logger("erc_bridge.redis")

FAILURES = (RedisError, OSError, TimeoutError)
DEFAULT_TIMEOUT_S = 0.25
DEFAULT_RETRY_AFTER_S = 1.0


def never_ran(error: RedisError) -> bool:
    """Whether Redis cannot have run a command that failed with `error`: it answered with
    an error, or no connection could be made to send it on. A connection lost once the
    command was sent leaves it unknown, as a late answer does."""
    if isinstance(error, ResponseError | BusyLoadingError | AuthenticationError):
        return True
    # redis-py words a failure to connect so, and no other (its reads say "reading from").
    return isinstance(error, RedisConnectionError) and "connecting to" in str(error)


def redacted_url(url: str) -> str:
    """`url` without its password, fit for a log line."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def store_namespace(adapter_name: str, settings: BaseSettings | None) -> str:
    """`erc-bridge:<adapter>:<digest>`: the digest of the adapter's settings without its
    secrets, so that replicas of one store meet and two stores never do."""
    dumped = settings.model_dump(mode="json") if settings is not None else {}
    identity = {
        name: value
        for name, value in dumped.items()
        if not isinstance(getattr(settings, name), SecretStr)
    }
    digest = hashlib.sha256(orjson.dumps(identity, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"erc-bridge:{adapter_name}:{digest[:16]}"


@dataclass
class Unheard:
    """Changes this replica made that Redis did not take (a forget that timed out): until
    one step that covers them all has reached Redis, what Redis holds may predate them.

    Counted, not flagged: a step covers the changes missed before it began (`missed` then),
    never one missed while it ran, and nothing else clears them."""

    missed: int = 0
    covered: int = 0

    @property
    def any(self) -> bool:
        return self.covered < self.missed

    def miss(self) -> None:
        self.missed += 1

    def cover(self, missed: int) -> None:
        """The changes up to `missed` (what `missed` was when the covering step began)
        are covered."""
        self.covered = max(self.covered, missed)


class SharedState:
    """A Redis client that says when Redis is unreachable instead of failing.

    `observe(reachable)` hears every change of reachability (metrics); it may be set
    after the client is built."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retry_after_s: float = DEFAULT_RETRY_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
        observe: Callable[[bool], None] | None = None,
    ) -> None:
        self.client: Redis = Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            health_check_interval=15,
            client_name="erc-bridge",
        )
        self.namespace = namespace
        self.url = redacted_url(url)
        self.timeout_s = timeout_s
        self.retry_after_s = retry_after_s
        self.reachable = True
        self._clock = clock
        self.observe = observe
        self._quiet_until = 0.0
        self._channels: list[tuple[str, Handler]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.unheard = Unheard()

    def key(self, *parts: str) -> str:
        return ":".join((self.namespace, *parts))

    @property
    def available(self) -> bool:
        """Whether a call may go to Redis now: it is reachable, or it is time to try again."""
        return self.reachable or self._clock() >= self._quiet_until

    async def run(self, operation: Operation[T], *, otherwise: T) -> T:
        """What `operation` returns, or `otherwise` when Redis cannot answer within the
        timeout (or failed a moment ago)."""
        if not self.available:
            return otherwise
        try:
            async with asyncio.timeout(self.timeout_s):
                result = await operation(self.client)
        except FAILURES as error:
            self.failed(error)
            return otherwise
        self.answered()
        return result

    async def sent_now(self, operation: Operation[object]) -> bool:
        """Whether Redis answered `operation`, sent at once even in the quiet period after
        a failure (bounded by the timeout): for freeing what a request held, which must
        not wait out a failure that is often that request's own."""
        try:
            async with asyncio.timeout(self.timeout_s):
                await operation(self.client)
        except FAILURES:
            return False
        return True

    async def until_answered(
        self, operation: Operation[object], *, within_s: float, tried: bool = False
    ) -> None:
        """`sent_now(operation)` (unless it was `tried` already), then again every
        `retry_after_s` while Redis does not answer, for `within_s` at most: past that,
        what it frees has expired anyway."""
        gives_up_at = self._clock() + within_s
        if not tried and await self.sent_now(operation):
            return
        while self._clock() + self.retry_after_s < gives_up_at:
            await asyncio.sleep(self.retry_after_s)
            if await self.sent_now(operation):
                return

    def failed(self, error: BaseException) -> None:
        self._quiet_until = self._clock() + self.retry_after_s
        if self.reachable:
            self.reachable = False
            log.warning("redis_unreachable", url=self.url, error=type(error).__name__)
            if self.observe is not None:
                self.observe(False)

    def answered(self) -> None:
        if not self.reachable:
            self.reachable = True
            log.info("redis_reachable", url=self.url)
            if self.observe is not None:
                self.observe(True)

    async def publish(self, channel: str, message: bytes) -> bool:
        """Send `message` to every replica subscribed to `channel` (this one included);
        False when Redis could not take it."""

        async def send(client: Redis) -> bool:
            await client.publish(self.key(channel), message)
            return True

        return await self.run(send, otherwise=False)

    def subscribe(self, channel: str, handler: Handler) -> None:
        """Hand every message on `channel` to `handler`, from `open` until `close`."""
        self._channels.append((channel, handler))

    async def open(self) -> None:
        await self.run(lambda client: client.ping(), otherwise=False)
        for channel, handler in self._channels:
            self.until_closed(self._listen(channel, handler))

    def until_closed(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """`work` running in the background, cancelled by `close` if still running; once
        closed, cancelled at once (a write that ends during shutdown may still ask)."""
        task = asyncio.get_running_loop().create_task(work)
        if self._closed:
            task.cancel()
            return task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.client.aclose()

    async def _listen(self, channel: str, handler: Handler) -> None:
        """Subscribed for good: after a cut, wait, subscribe again and tell `handler`."""
        while True:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.key(channel))
                self.answered()
                handler(None)
                while True:
                    message = await pubsub.get_message(timeout=self.retry_after_s)
                    if message is not None and message["type"] == "message":
                        handler(message["data"])
            except FAILURES as error:
                self.failed(error)
            finally:
                await asyncio.shield(pubsub.aclose())
            await asyncio.sleep(self.retry_after_s)
