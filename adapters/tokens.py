"""Platform access tokens: fetched once, shared by concurrent requests, refreshed early."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from adapters.breaker import needed_context
from adapters.errors import AdapterError, not_sent
from adapters.tasks import SharedTasks

TokenFetch = Callable[[], Awaitable[tuple[str, float]]]
"""Returns the token and its lifetime in seconds."""


class Answer(Protocol):
    @property
    def status_code(self) -> int: ...


AnswerT = TypeVar("AnswerT", bound=Answer)


class CachedToken:
    """Holds one bearer token for a platform.

    `get()` returns the current token, fetching a new one when there is none or it expires
    within `margin` seconds. Callers that need one while a fetch is under way share it,
    failure included: one refused grant is one call to the token endpoint, however many
    requests were waiting, and a caller that goes away does not stop it for the others:
    the grant runs on a deadline of its own, not on what was left of the first caller's.
    `invalidate(token)` drops a token the platform rejected, unless another caller already
    replaced it; `authorized(send)` does so on a 401 and sends once more.
    `on_refresh`, when given, is called after every new token.
    """

    def __init__(
        self,
        fetch: TokenFetch,
        *,
        margin: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        on_refresh: Callable[[], None] | None = None,
    ) -> None:
        self._fetch = fetch
        self._on_refresh = on_refresh
        self._margin = margin
        self._clock = clock
        self._token: str | None = None
        self._refresh_at = 0.0
        self._grant: SharedTasks[None, str] = SharedTasks()

    def _fresh(self) -> str | None:
        if self._token is not None and self._clock() < self._refresh_at:
            return self._token
        return None

    async def get(self) -> str:
        token = self._fresh()
        if token is not None:
            return token
        return await self._grant.run(None, self._renew, context=needed_context)

    async def _renew(self) -> str:
        token, lifetime = await self._fetch()
        self._token = token
        self._refresh_at = self._clock() + max(lifetime - self._margin, lifetime / 2)
        if self._on_refresh is not None:
            self._on_refresh()
        return token

    def invalidate(self, token: str) -> None:
        if self._token == token:
            self._token = None

    async def authorized(self, send: Callable[[str], Awaitable[AnswerT]]) -> AnswerT:
        """`send(token)`'s answer. A 401 means the platform revoked the token before its
        time: one new token, one more send. The platform refused the first send unread,
        so even a write is safe to send again; a second 401 is the answer."""
        token = await self._before_sending()
        answer = await send(token)
        if answer.status_code == 401:
            self.invalidate(token)
            answer = await send(await self._before_sending())
        return answer

    async def _before_sending(self) -> str:
        """A token for the next send: when none can be had, that send was never made."""
        try:
            return await self.get()
        except AdapterError as exc:
            not_sent(exc)
            raise
