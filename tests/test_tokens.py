"""One platform token, fetched once for every caller that needs it at the same moment."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from adapters.base import HTTPAdapter
from adapters.breaker import Ahead, CircuitBreaker
from adapters.errors import UpstreamUnavailable
from adapters.http import NoObserver
from adapters.tokens import CachedToken
from tests.conftest import ManualClock

pytestmark = pytest.mark.anyio


class Grants:
    """A token endpoint that counts its calls and answers when `answer` is set."""

    def __init__(self, *, refuse: bool = False) -> None:
        self.calls = 0
        self.refuse = refuse
        self.answer = asyncio.Event()

    async def __call__(self) -> tuple[str, float]:
        self.calls += 1
        await self.answer.wait()
        if self.refuse:
            raise UpstreamUnavailable("the platform refused the client credentials")
        return f"token-{self.calls}", 3600.0


async def waiting(count: int, token: CachedToken) -> list[asyncio.Task[str]]:
    callers = [asyncio.create_task(token.get()) for _ in range(count)]
    await asyncio.sleep(0)
    return callers


async def test_callers_waiting_together_share_one_grant() -> None:
    grants = Grants()
    token = CachedToken(grants, clock=ManualClock(0.0))
    callers = await waiting(5, token)
    grants.answer.set()
    assert await asyncio.gather(*callers) == ["token-1"] * 5
    assert await token.get() == "token-1"
    assert grants.calls == 1


async def test_a_refused_grant_is_every_waiting_callers_answer_and_the_next_caller_asks_again() -> (
    None
):
    grants = Grants(refuse=True)
    token = CachedToken(grants, clock=ManualClock(0.0))
    callers = await waiting(5, token)
    grants.answer.set()
    outcomes = await asyncio.gather(*callers, return_exceptions=True)
    assert all(isinstance(outcome, UpstreamUnavailable) for outcome in outcomes)
    assert grants.calls == 1
    grants.refuse = False
    assert await token.get() == "token-2"


async def test_a_caller_that_goes_away_leaves_the_grant_to_the_others() -> None:
    grants = Grants()
    token = CachedToken(grants, clock=ManualClock(0.0))
    leaving, staying = await waiting(2, token)
    leaving.cancel()
    await asyncio.sleep(0)
    grants.answer.set()
    assert await staying == "token-1"
    assert leaving.cancelled() and grants.calls == 1


async def test_a_token_is_renewed_before_it_expires_and_dropped_when_refused() -> None:
    clock = ManualClock(0.0)
    grants = Grants()
    grants.answer.set()
    token = CachedToken(grants, margin=60.0, clock=clock)
    assert await token.get() == "token-1"
    clock.advance(3600.0 - 60.0)
    assert await token.get() == "token-2"
    token.invalidate("token-1")  # already replaced: kept
    assert await token.get() == "token-2"
    token.invalidate("token-2")
    assert await token.get() == "token-3"


async def test_a_grant_started_by_a_call_made_ahead_of_need_is_a_needed_call() -> None:
    """Whoever starts it, every request waits on the grant: the breaker counts it as it
    happens, and may make it the probe, never holding it as a call made ahead of need."""
    breaker = CircuitBreaker("test", threshold=1, open_s=5.0, open_max_s=60.0)
    answer = asyncio.Event()

    async def grant() -> tuple[str, float]:
        with breaker.call() as call:
            call.sending()
            await answer.wait()
            call.failed()
        raise UpstreamUnavailable("the token endpoint failed")

    token = CachedToken(grant, clock=ManualClock(0.0))
    ahead = Ahead(token.get)
    await asyncio.sleep(0)  # the call ahead is waiting for its token
    needed = asyncio.create_task(token.get())
    await asyncio.sleep(0)
    answer.set()
    with pytest.raises(UpstreamUnavailable):
        await needed
    ahead.settle()  # unused: what it held is forgotten, but the grant was not its own
    assert breaker.state == "open"


class Platform:
    """Answers a send with 401 for each token in `revoked`, else 200; logs the tokens sent."""

    def __init__(self, *revoked: str) -> None:
        self.revoked = set(revoked)
        self.sent: list[str] = []

    async def send(self, token: str) -> SimpleNamespace:
        self.sent.append(token)
        await asyncio.sleep(0)
        return SimpleNamespace(status_code=401 if token in self.revoked else 200)


def granted() -> tuple[Grants, CachedToken]:
    grants = Grants()
    grants.answer.set()
    return grants, CachedToken(grants, clock=ManualClock(0.0))


async def test_an_accepted_token_is_sent_once_and_kept() -> None:
    grants, token = granted()
    platform = Platform()
    assert (await token.authorized(platform.send)).status_code == 200
    assert (await token.authorized(platform.send)).status_code == 200
    assert platform.sent == ["token-1", "token-1"] and grants.calls == 1


async def test_a_revoked_token_is_replaced_and_the_call_sent_once_more() -> None:
    grants, token = granted()
    platform = Platform("token-1")
    assert (await token.authorized(platform.send)).status_code == 200
    assert platform.sent == ["token-1", "token-2"] and grants.calls == 2
    assert await token.get() == "token-2"


async def test_a_new_token_refused_too_is_the_answer_without_a_third_send() -> None:
    grants, token = granted()
    platform = Platform("token-1", "token-2")
    assert (await token.authorized(platform.send)).status_code == 401
    assert platform.sent == ["token-1", "token-2"] and grants.calls == 2


async def test_callers_refused_one_token_together_share_one_new_grant() -> None:
    grants, token = granted()
    await token.get()
    platform = Platform("token-1")
    answers = await asyncio.gather(*(token.authorized(platform.send) for _ in range(4)))
    assert [answer.status_code for answer in answers] == [200] * 4
    assert sorted(platform.sent) == ["token-1"] * 4 + ["token-2"] * 4
    assert grants.calls == 2


class Refreshes(NoObserver):
    def __init__(self) -> None:
        self.platforms: list[str] = []

    def token_refreshed(self, platform: str) -> None:
        self.platforms.append(platform)


class Granting(HTTPAdapter):
    name = "granting"
    title = "Granting"
    credentials = "GRANTING_SECRET"
    token: CachedToken

    def __init__(self, grants: Grants) -> None:
        super().__init__()
        self.token = self.bearer_token(grants, clock=ManualClock(0.0))


async def test_an_adapter_authenticates_with_its_token_and_reports_each_new_one() -> None:
    grants = Grants()
    grants.answer.set()
    adapter, refreshes = Granting(grants), Refreshes()
    adapter.observer = refreshes
    await adapter.authenticate()
    await adapter.authenticate()
    assert grants.calls == 1 and refreshes.platforms == ["granting"]
    adapter.token.invalidate("token-1")
    await adapter.authenticate()
    assert grants.calls == 2 and refreshes.platforms == ["granting", "granting"]
