"""The upstream HTTP client every platform adapter uses.

One long-lived connection pool per platform, with the resilience every read shares: the
request deadline, bounded retries with backoff, a cap on calls in flight and a circuit
breaker. Transport failures are translated here, once, into `adapters.errors`, each
saying whether its request may have reached the platform (`may_have_arrived`): not when
the pool failed before writing it (`http1.NotSent`), nor when no time or turn was left.

Requests travel over the bridge's own keep-alive HTTP/1.1 pool (`adapters/http1.py`):
plain httpx's pool collapses with many requests in flight, and aiohttp's client costs
several times more CPU per call than everything else a cache miss does around it
(`bench/transport.py`). Adapters get a `PlatformResponse` (`adapters/responses.py`), its
body decoded and read in full.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeVar
from urllib.parse import quote, quote_plus, urlencode

import orjson
import structlog

from adapters.breaker import CircuitBreaker
from adapters.budget import UNLIMITED
from adapters.deadline import remaining
from adapters.decoding import content_encoding, decoded
from adapters.errors import (
    CircuitOpen,
    NotFound,
    OverBudget,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
    not_sent,
)
from adapters.http1 import (
    IDLE_TIMEOUT,
    MAX_ANSWER_BYTES,
    HTTP1Pool,
    NotSent,
    Origin,
    ProtocolError,
    Slots,
)
from adapters.proxies import proxy_from_environment
from adapters.responses import PlatformResponse as PlatformResponse  # adapters name it here too
from mappings.errors import MappingError
from mappings.records import NotJSON

if TYPE_CHECKING:
    from adapters.budget import CallBudget

log = structlog.get_logger("erc_bridge.upstream")
T = TypeVar("T")

DEFAULT_HEADERS = {
    "User-Agent": "erc-bridge",
    "Accept": "application/json",
    "Accept-Encoding": "gzip, deflate",
}

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# Past retries, these mean "not now" rather than "broken": answer 503 with Retry-After.
BUSY_STATUSES = frozenset({429, 503})


class UpstreamObserver(Protocol):
    """What the bridge wants to know about platform traffic (its metrics, for one).

    Called on the hot path: implementations must be quick and must not raise.
    """

    def platform_call_sent(self, platform: str, endpoint: str) -> None:
        """A request was written to the platform: whatever becomes of it, the platform may
        have it. Said at once, while the ERC request it serves still runs: a call given up
        in flight (`abandoned`) may end only after that request is over."""

    def platform_call(self, platform: str, endpoint: str, outcome: str, seconds: float) -> None:
        """One HTTP exchange ended; `outcome` is the status code, `timeout`, `unreachable`,
        `invalid_answer` (not HTTP, too large, or a body that does not decode) or
        `abandoned` (sent, then cancelled: its answer no longer wanted). A call cancelled
        before it was sent is no call."""

    def platform_retry(self, platform: str, endpoint: str) -> None:
        """A failed attempt is about to be tried again."""

    def token_refreshed(self, platform: str) -> None:
        """A new platform access token was obtained."""

    def breaker_created(self, breaker: CircuitBreaker) -> None:
        """A circuit breaker exists whose state is worth reporting."""


class NoObserver:
    """The default observer: nobody is watching."""

    def platform_call_sent(self, platform: str, endpoint: str) -> None:
        pass

    def platform_call(self, platform: str, endpoint: str, outcome: str, seconds: float) -> None:
        pass

    def platform_retry(self, platform: str, endpoint: str) -> None:
        pass

    def token_refreshed(self, platform: str) -> None:
        pass

    def breaker_created(self, breaker: CircuitBreaker) -> None:
        pass


NO_OBSERVER: UpstreamObserver = NoObserver()


@dataclass(frozen=True)
class HTTPConfig:
    """How one platform is called. Times are in seconds."""

    connect_timeout: float = 3.0
    read_timeout: float = 8.0
    pool_timeout: float = 5.0
    max_connections: int = 128
    max_in_flight: int = 128
    attempts: int = 3
    backoff_base: float = 0.1
    backoff_cap: float = 2.0
    breaker_threshold: int = 5
    breaker_open_s: float = 5.0
    breaker_open_max_s: float = 60.0


@dataclass(frozen=True)
class PlatformLimits:
    """What the operator allows every platform connection pool (`ERC_BRIDGE_PLATFORM_*`)."""

    idle_timeout: float = IDLE_TIMEOUT
    """Seconds a kept-alive connection may sit unused before it is dropped, not reused."""
    max_answer_bytes: int = MAX_ANSWER_BYTES
    """One answer's size at most, on the wire (headers and body) and decoded alike."""


def path_segment(value: str) -> str:
    """Quote a path id so that it can never address another platform path.

    "", "." and ".." cannot be sent at all: URL normalization (in servers and proxies alike) turns
    them, even percent-encoded, into a step up or across the platform's path tree.
    """
    if value in {"", ".", ".."}:
        raise NotFound(f"{value!r} is not an id")
    if _UNRESERVED.fullmatch(value) is not None:
        return value  # as quote() would: most platform ids (UUIDs, numbers) are like this
    return quote(value, safe="")


_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]+")
"""The characters `quote` leaves as they are."""


MAX_RETRY_AFTER_DIGITS = 9
"""A `Retry-After` of more digits (over 30 years) is garbled, not a wait."""


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds from now: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # delay-seconds is digits only: no "nan", no "1e9"
        return float(value) if len(value) <= MAX_RETRY_AFTER_DIGITS else None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max((moment - (now or datetime.now(UTC))).total_seconds(), 0.0)


def _retry_after(response: PlatformResponse | None) -> float | None:
    return retry_after_seconds(response.headers.get("retry-after")) if response else None


def _fits_deadline(delay: float) -> bool:
    left = remaining()
    return left is None or delay < left - 0.05


def _deadline_passed() -> bool:
    """Whether the request's deadline has come (its timer may fire a hair early)."""
    left = remaining()
    return left is not None and left < 0.01


@lru_cache(maxsize=4096, typed=True)
def _pair(name: object, value: object) -> str:
    return f"{quote_plus(str(name))}={quote_plus(str(value))}"


def encode_query(params: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> str:
    """`urlencode(params, doseq=True)`, with each name and value pair quoted once and then
    remembered: names and most values repeat from one call to the next. Remembered by
    type too, so that `1` and `True` stay apart."""
    pairs = params.items() if isinstance(params, Mapping) else params
    encoded = []
    for name, value in pairs:
        if isinstance(value, list | tuple):
            encoded += [_pair(name, item) for item in value]
        else:
            encoded.append(_pair(name, value))
    return "&".join(encoded)


class Outgoing(NamedTuple):
    """One HTTP request to the platform, as an adapter asked for it: `data` is sent as a
    form, `json` as a JSON body. A named tuple: made for every call, and about 1 us cheaper
    than a frozen dataclass."""

    method: str
    path: str
    params: Any = None
    headers: Mapping[str, str] = MappingProxyType({})
    data: dict[str, str] | None = None
    json: Any = None


class _HTTP1Wire:
    """Requests over a keep-alive HTTP/1.1 pool, sent exactly as given (no URL
    re-normalization), through the environment's egress proxy if it names one; gzip and
    deflate answers are decoded here, within the answer cap."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        config: HTTPConfig,
        limits: PlatformLimits = PlatformLimits(),
    ) -> None:
        origin = Origin.of(base_url)
        proxy = proxy_from_environment(origin.scheme, origin.host, origin.port)
        self._pool = pool = HTTP1Pool(
            origin,
            max_connections=config.max_connections,
            connect_timeout=config.connect_timeout,
            pool_timeout=config.pool_timeout,
            max_answer_bytes=limits.max_answer_bytes,
            idle_timeout=limits.idle_timeout,
            proxy=proxy,
        )
        self._max_bytes = limits.max_answer_bytes
        self._target_base = origin.base_path
        defaults = {"Host": origin.host_header, **DEFAULT_HEADERS, **headers}
        if proxy is not None and pool.forwards:
            self._target_base = f"http://{origin.host_header}{origin.base_path}"
            if proxy.authorization is not None:
                defaults["Proxy-Authorization"] = proxy.authorization
        self._defaults = {name.lower(): (name, value) for name, value in defaults.items()}

    async def exchange(
        self,
        outgoing: Outgoing,
        read_timeout: float,
        written: Callable[[], None] | None = None,
    ) -> PlatformResponse:
        request = self._request(outgoing)
        idempotent = outgoing.method in ("GET", "HEAD")
        try:
            raw = await self._pool.exchange(
                request, within_s=read_timeout, idempotent=idempotent, written=written
            )
        except (TimeoutError, NotSent):
            raise
        except OSError as exc:  # reset, or anything else of the network: "unreachable"
            raise ConnectionError(str(exc) or type(exc).__name__) from exc
        body = raw.body
        if raw.transfer_coding:  # applied after any content coding, so undone first
            body = await decoded(raw.transfer_coding, body, max_bytes=self._max_bytes)
        encoding = content_encoding(raw.headers)
        if encoding:
            body = await decoded(encoding, body, max_bytes=self._max_bytes)
        return PlatformResponse(raw.status, raw.headers, body)

    def _request(self, outgoing: Outgoing) -> bytes:
        target = f"{self._target_base}{outgoing.path}"
        if outgoing.params:
            target = f"{target}?{encode_query(outgoing.params)}"
        lines = dict(self._defaults)
        for name, value in outgoing.headers.items():
            lines[name.lower()] = (name, value)
        body = b""
        if outgoing.data is not None:
            # not `encode_query`: no secret kept in its cache
            body = urlencode(outgoing.data).encode()
            lines["content-type"] = ("Content-Type", "application/x-www-form-urlencoded")
        elif outgoing.json is not None:
            body = orjson.dumps(outgoing.json)
            lines["content-type"] = ("Content-Type", "application/json")
        if body or outgoing.method in ("POST", "PUT", "PATCH"):
            lines["content-length"] = ("Content-Length", str(len(body)))
        head = [f"{outgoing.method} {target} HTTP/1.1"]
        head += [f"{name}: {value}" for name, value in lines.values()]
        for line in head:
            if "\r" in line or "\n" in line:
                raise ValueError("a line break in a request line or header")
        return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body

    async def close(self) -> None:
        await self._pool.close()


class _Sent:
    """What `HTTP1Pool.exchange` calls as a call's request is written: from then on it is a
    platform call, told to the observer once, even if a stale connection makes it go out
    again."""

    __slots__ = ("_endpoint", "_observer", "_platform", "written")

    def __init__(self, observer: UpstreamObserver, platform: str, endpoint: str) -> None:
        self._observer = observer
        self._platform = platform
        self._endpoint = endpoint
        self.written = False

    def __call__(self) -> None:
        if not self.written:
            self.written = True
            self._observer.platform_call_sent(self._platform, self._endpoint)


class UpstreamClient:
    """One platform's connection pool and the resilience around every call to it."""

    def __init__(
        self,
        base_url: str,
        *,
        platform: str,
        config: HTTPConfig | None = None,
        headers: dict[str, str] | None = None,
        breaker: CircuitBreaker | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        observer: UpstreamObserver = NO_OBSERVER,
        retry_after: Callable[[PlatformResponse | None], float | None] = _retry_after,
        limits: PlatformLimits = PlatformLimits(),
        budget: CallBudget | None = None,
    ) -> None:
        self.config = config = config or HTTPConfig()
        self._budget = budget
        self.platform = platform
        base_url = base_url.rstrip("/")
        self._wire = _HTTP1Wire(base_url, headers or {}, config, limits)
        self.breaker = breaker or CircuitBreaker(
            platform,
            threshold=config.breaker_threshold,
            open_s=config.breaker_open_s,
            open_max_s=config.breaker_open_max_s,
        )
        self._in_flight = Slots(config.max_in_flight)
        self._sleep = sleep
        self._observer = observer
        # How long the platform asks to wait after a 429/5xx: `Retry-After`, unless the
        # platform says it another way (BigCommerce: X-Rate-Limit-Time-Reset-Ms).
        self._retry_after = retry_after
        observer.breaker_created(self.breaker)

    async def close(self) -> None:
        await self._wire.close()

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        headers: Mapping[str, str] | None = None,
        data: dict[str, str] | None = None,
        json: Any = None,
        endpoint: str | None = None,
        prepare_headers: Callable[[], Mapping[str, str]] | None = None,
        retry: bool = True,
    ) -> PlatformResponse:
        """Send a read, retrying connection failures, 429 and 5xx within the deadline.

        `prepare_headers`, when given, is called before every attempt (for headers that
        must be fresh per HTTP request). The returned response may still be an error
        status for the adapter to translate, except 429/503 after the last attempt,
        which raise UpstreamUnavailable with the platform's Retry-After. `data` is sent
        as a form, `json` as a JSON body; a write that must not be repeated passes
        `retry=False`. A raised error's `may_have_arrived` speaks of the last attempt.
        """
        endpoint = endpoint or path
        attempts = self.config.attempts if retry else 1
        for attempt in range(1, attempts + 1):
            fresh = prepare_headers() if prepare_headers else {}
            failure: UpstreamUnavailable | None = None
            response: PlatformResponse | None = None
            try:
                outgoing = Outgoing(method, path, params, {**(headers or {}), **fresh}, data, json)
                response = await self._attempt(outgoing, endpoint)
            except (CircuitOpen, OverBudget):
                raise
            except UpstreamUnavailable as exc:
                failure = exc
            if response is not None and response.status_code not in RETRYABLE_STATUSES:
                return response
            retry_after = self._retry_after(response)
            delay = self._backoff(attempt) if retry_after is None else retry_after
            if attempt == attempts or not _fits_deadline(delay):
                break
            self._observer.platform_retry(self.platform, endpoint)
            log.info("platform_retry", platform=self.platform, endpoint=endpoint, attempt=attempt)
            await self._sleep(delay)
        if failure is not None:
            raise failure
        assert response is not None
        if response.status_code in BUSY_STATUSES:
            raise UpstreamUnavailable(
                f"{self.platform} is busy (status {response.status_code})",
                retry_after=self._retry_after(response),
            )
        return response

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter."""
        ceiling = min(self.config.backoff_cap, self.config.backoff_base * 2**attempt)
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not security

    async def _attempt(self, outgoing: Outgoing, endpoint: str) -> PlatformResponse:
        method = outgoing.method
        with self.breaker.call() as call:  # CircuitOpen while calls are paused
            left = self._time_left()
            turn = UNLIMITED
            if self._budget is not None:  # the fleet's calls per second (SPEC §9)
                turn = await self._budget.take(left)
            try:
                left = self._time_left()  # the turn may have come well into the deadline
                await self._take_slot(left)
            except BaseException:
                turn.give_back()  # never sent: the next call may have its turn
                raise
            try:
                read_timeout = self._read_timeout()
            except UpstreamTimeout:
                self._in_flight.release()
                turn.give_back()
                raise
            call.sending()
            started = time.perf_counter()
            sent = _Sent(self._observer, self.platform, endpoint)
            try:
                response = await self._wire.exchange(outgoing, read_timeout, sent)
            except TimeoutError as exc:
                call.failed(cut=_deadline_passed())  # its timeout may be the deadline's
                self._record(method, endpoint, started, outcome="timeout")
                if isinstance(exc, NotSent):
                    waited = UpstreamTimeout(f"no connection to {self.platform} in time")
                    raise not_sent(waited) from exc
                raise UpstreamTimeout(f"{self.platform} did not answer in time") from exc
            except ProtocolError as exc:
                call.failed()
                self._record(method, endpoint, started, outcome="invalid_answer")
                log.warning("platform_answer_invalid", platform=self.platform, reason=str(exc))
                unusable = f"{self.platform} sent an answer the bridge cannot use"
                raise UpstreamError(unusable) from exc
            except ConnectionError as exc:
                call.failed()
                self._record(method, endpoint, started, outcome="unreachable")
                unreachable = UpstreamUnavailable(f"{self.platform} is unreachable")
                if isinstance(exc, NotSent):
                    raise not_sent(unreachable) from exc
                raise unreachable from exc
            except asyncio.CancelledError:
                # Recorded without a wait, so that the cancellation goes on at once.
                if _deadline_passed():  # the request's deadline cut the call: a timeout
                    call.failed(cut=True)
                    self._record(method, endpoint, started, outcome="timeout")
                elif sent.written:  # a call the platform may have had, its answer unwanted
                    self._record(method, endpoint, started, outcome="abandoned")
                raise  # the breaker judges what an abandoned call means
            finally:
                self._in_flight.release()
                if not sent.written:  # failed or cancelled before the platform could have it
                    turn.give_back()
            if response.status_code >= 500:
                call.failed()
            else:
                call.succeeded()
        self._record(method, endpoint, started, outcome=str(response.status_code))
        return response

    def _time_left(self) -> float | None:
        """Seconds left before the request's deadline (None: no deadline); UpstreamTimeout
        when none are."""
        left = remaining()
        if left is not None and left <= 0:
            raise not_sent(UpstreamTimeout(f"no time left to call {self.platform}"))
        return left

    def _read_timeout(self) -> float:
        """How long the exchange about to start may take: read once every wait before it
        is over, so that the call ends by the deadline however long they took."""
        left = self._time_left()
        return self.config.read_timeout if left is None else min(self.config.read_timeout, left)

    async def _take_slot(self, left: float | None) -> None:
        """One of the `max_in_flight` slots, waiting no longer than the deadline allows."""
        if self._in_flight.take_now():
            return  # a free slot: taken at once, no timer to set
        try:
            async with asyncio.timeout(left):
                await self._in_flight.take()
        except TimeoutError:
            queued = UpstreamTimeout(f"{self.platform} calls are queued past the deadline")
            raise not_sent(queued) from None

    def _record(self, method: str, endpoint: str, started: float, *, outcome: str) -> None:
        seconds = time.perf_counter() - started
        self._observer.platform_call(self.platform, endpoint, outcome, seconds)
        # `bind()` first, as the proxy would: its `log.debug` goes through a failed attribute
        # lookup that costs about 1 us, every platform call, even with debug off.
        log.bind().debug(
            "platform_call",
            platform=self.platform,
            method=method,
            endpoint=endpoint,
            outcome=outcome,
            duration_ms=round(seconds * 1000, 1),
        )


class readable:
    """A platform body we cannot map is the platform's fault: log the field, answer 502.

    A class rather than a generator: every platform body a request reads is mapped in one.
    """

    __slots__ = ("endpoint", "platform")

    def __init__(self, platform: str, endpoint: str) -> None:
        self.platform = platform
        self.endpoint = endpoint

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: object, traceback: object) -> None:
        if not isinstance(error, MappingError):
            return
        log.error(
            "platform_body_unusable",
            platform=self.platform,
            endpoint=self.endpoint,
            field=error.path,
            reason=error.reason,
        )
        unreadable = f"{self.platform} sent a {self.endpoint} body the bridge cannot read"
        raise UpstreamError(unreadable) from None


def json_body(response: PlatformResponse, platform: str) -> Any:
    """The decoded JSON body; UpstreamError when the platform sent something else."""
    return decoded_body(response, platform, orjson.loads)


def decoded_body(response: PlatformResponse, platform: str, decode: Callable[[bytes], T]) -> T:
    """The body as `decode` reads JSON; UpstreamError when the platform sent no JSON."""
    try:
        return decode(response.content)
    except (orjson.JSONDecodeError, NotJSON):
        log.warning(
            "platform_body_unreadable",
            platform=platform,
            status=response.status_code,
            content_type=response.headers.get("content-type", ""),
        )
        raise UpstreamError(f"{platform} sent a body that is not JSON") from None
