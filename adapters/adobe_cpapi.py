"""Adobe Commerce Partner API (VIP Marketplace) adapter.

Reads a reseller's customers and orders from CPAPI with an Adobe IMS token. CPAPI is
strict about headers and idempotency: every HTTP request carries a fresh `X-Request-Id`,
and every attempt a new `X-Correlation-Id`, except the retry of an attempt that timed out
without an answer (the platform replays whatever it stored under a known id).

The shared `UpstreamClient` retries 429, 5xx and lost connections, and the shared token
renews itself after a 401 (`CachedToken.authorized`); this module adds the one timeout
retry and CPAPI's error codes (`platform_rule` and `other_error`, hooks of the shared
translation in `adapters.answers`).

Cancelling (W1) and cancelling lines (W3) are licence returns: a RETURN order of the
lines' remaining quantities, for a NEW or RENEWAL order at most 14 days old. The return
is the one write CPAPI makes safe to repeat: a POST that got no answer is sent again
under the same correlation id, and CPAPI replays its stored answer instead of returning
the licences twice.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import aclosing
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import structlog
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.answers import LogFields, PlatformProblem
from adapters.base import (
    READ_CAPABILITIES,
    AheadRead,
    Capability,
    HTTPAdapter,
    OrderListRequest,
    OrderPage,
    OrderSort,
    Resume,
    WriteResult,
)
from adapters.breaker import Ahead
from adapters.deadline import remaining
from adapters.errors import (
    AdapterError,
    NotAllowed,
    NotFound,
    UnservableRequest,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from adapters.http import HTTPConfig, UpstreamClient, json_body, path_segment, readable
from adapters.paging import matches_search, page_in_memory
from adapters.resources import Tag, customer_tag, order_tags
from adapters.responses import PlatformResponse
from adapters.settings_types import AbsoluteURL, NonBlank, Secret
from adapters.tokens import CachedToken
from adapters.writing import confirmed, write_once
from mappings import adobe_cpapi as mapping
from mappings.adobe_catalog import CatalogError, OfferCatalog, parse_catalog
from mappings.adobe_cpapi import CPAPILineItem, CPAPIOrder
from mappings.grants import parse_grant
from mappings.models import Customer, Order, OrderItem
from mappings.writes import CancelItems, CancelOrder

log = structlog.get_logger("erc_bridge.adobe_cpapi")

PLATFORM = "adobe_cpapi"
IMS = "adobe_ims"
PAGE_MAX = 100
"""CPAPI's largest history page."""
MOST_RECENT_CHUNK = 25
PRICED = {"fetch-price": "true"}
MAX_ID_LENGTH = 40
"""CPAPI customer and order ids are at most 40 characters."""
TOKEN_MARGIN_S = 3600.0
"""IMS tokens live 24 h; Adobe advises taking a new one after about 23 h."""
HTTP = HTTPConfig(connect_timeout=2.0, read_timeout=3.5)
"""Short enough that one timeout retry still fits in the bridge's request deadline."""
NEWEST_FIRST = OrderSort()

NOT_FOUND_CODES = frozenset({"1116", "2115"})
CREDENTIAL_CODES = frozenset({"4115", "4116", "4117"})
REJECTED_REQUEST_CODES = frozenset({"4119", "4120"})
OFFSET_OUT_OF_RANGE = "1133"
RATE_LIMITED = "4118"
SERVER_ERROR = "1124"
PING_PATH = "/partnerservice/ping"
"""CPAPI's health check; with a token it also checks the API key and the token."""

ORDERS_ENDPOINT = "/v3/customers/{id}/orders"
RETURN_WINDOW = timedelta(days=14)
RETURNABLE_TYPES = frozenset({"NEW", "RENEWAL"})
COMPLETE = "1000"
PROCESSING = "1002"
RETURN_ATTEMPTS = 3
"""How often one RETURN is sent under the same correlation id when no answer comes back."""
RETURN_TIME_FLOOR_S = 0.1
"""Below this much time left another attempt could not be answered: re-read instead."""
IGNORED_CANCEL_OPTIONS = (
    "cancel_reason",
    "restock",
    "notify_customer",
    "staff_note",
    "custom_fields",
)
"""W1 options a RETURN order has no place for (docs/platforms/adobe_cpapi.md, Writes)."""
RETURN_REFUSALS = {
    "2134": "the order is more than 14 days old, so Adobe no longer takes its licences back",
    "2117": "the order is more than 14 days old, so Adobe no longer takes its licences back",
    "2116": "Adobe does not allow returning the order in its current status",
    "2118": "the order was already cancelled",
    "2120": "those licences were already returned",
    "2127": "those licences were already returned",
    "2133": "those licences were already returned",
    "RETURN_QTY_EXCEEDS_REMAINING": "those licences were already returned",
    "RETURN_NOT_SUPPORTED_SWITCH_ORDER": (
        "the order switched plans; Adobe only takes it back by reverting the switch"
    ),
    "RETURN_NOT_SUPPORTED_MOQ_SKU": (
        "Adobe does not take back these products "
        "(licence packs, Stock credit packs and consumables)"
    ),
    "RETURN_VIOLATES_3YC_MCQ": (
        "returning these licences would take the customer below their three-year commitment"
    ),
}
"""CPAPI's refusals of a RETURN order, as a sentence an agent can read out."""
ALREADY_RETURNED = frozenset({"2118", "2120", "2127", "2133", "RETURN_QTY_EXCEEDS_REMAINING"})
"""The refusals saying the licences, or some of them, were returned since the order was
read: the order, read afresh, tells whether anything asked for is left."""


class AdobeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ADOBE_", env_file=".env", extra="ignore")

    cpapi_base_url: AbsoluteURL = Field(
        description="CPAPI base URL (a path prefix, e.g. behind a gateway, is kept)"
    )
    ims_url: AbsoluteURL = Field(description="the **full** IMS token URL")
    client_id: NonBlank = Field(
        description="the credential's client id; also sent as `X-Api-Key` on every CPAPI call"
    )
    client_secret: Secret = Field(description="the credential's client secret (never logged)")
    ims_scopes: NonBlank = Field(
        description="the scopes to ask IMS for, exactly as the console lists them"
    )
    offer_catalog: Path | None = Field(
        default=None,
        description="CSV giving names, prices and images for offer ids",
    )
    history_start: date = Field(
        default=date(2000, 1, 1),
        description="earliest order date asked of CPAPI (`YYYY-MM-DD`)",
    )


class _OffsetOutOfRange(UpstreamError):
    """CPAPI 1133: the history is shorter than the offset asked for."""


class _AlreadyReturned(NotAllowed):
    """CPAPI refused a return as already made, in whole or in part (`ALREADY_RETURNED`)."""


async def load_catalog(path: Path | None) -> OfferCatalog:
    """Read and check the offer catalog off the event loop; see `read_catalog`."""
    return await asyncio.to_thread(read_catalog, path)


def read_catalog(path: Path | None) -> OfferCatalog:
    """Read and check the offer catalog; CatalogError names the file and line."""
    if path is None:
        return OfferCatalog()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CatalogError(str(path), f"cannot be read ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CatalogError(str(path), "is not UTF-8 text", line) from None
    return parse_catalog(text, str(path))


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return str(uuid.uuid4())


class Correlation:
    """The `X-Correlation-Id` of one logical call's attempts.

    CPAPI stores its answer under the id and replays it for any later request with the
    same id. So every attempt is a new intent with a new id, except after a timeout: that
    request may have been processed, and repeating its id fetches the stored answer.
    """

    def __init__(self) -> None:
        self.current = _new_id()
        self._reuse = True

    def for_attempt(self) -> str:
        if not self._reuse:
            self.current = _new_id()
        self._reuse = False
        return self.current

    def repeat(self) -> None:
        """The last attempt got no answer: the next one carries the same id."""
        self._reuse = True


def _check_ids(*ids: str) -> None:
    for value in ids:
        if not value or len(value) > MAX_ID_LENGTH:
            raise NotFound(f"{value[:MAX_ID_LENGTH]!r} is not a CPAPI id")


def _resume_offset(resume: Resume | None) -> int:
    if resume is None:
        return 0
    offset = resume.get("platform_offset")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise UnservableRequest("the cursor does not belong to this order list", field="cursor")
    return offset


class AdobeCPAPIAdapter(HTTPAdapter):
    """CPAPI through `_http`, and Adobe IMS, its token endpoint on another host, through
    `_ims`."""

    name = "adobe_cpapi"
    capabilities = READ_CAPABILITIES | {Capability.CANCEL_ORDER, Capability.CANCEL_ITEMS}
    settings_class = AdobeSettings
    settings: AdobeSettings
    token: CachedToken
    title = "Adobe Commerce Partner API"
    credentials = "ADOBE_CLIENT_ID, ADOBE_CLIENT_SECRET and ADOBE_IMS_SCOPES"
    credential_statuses = frozenset({401})
    """CPAPI's 403s carry a code saying whether the credentials are at fault."""

    def __init__(
        self,
        settings: AdobeSettings | None = None,
        *,
        http: HTTPConfig = HTTP,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        super().__init__(settings, http=http)
        self._now = now
        """The wall clock that judges the 14-day return window."""
        self.token = self.bearer_token(self._fetch_token, clock=clock, margin=TOKEN_MARGIN_S)
        self._catalog: OfferCatalog | None = None
        self._ims: UpstreamClient | None = None

    def check(self) -> None:
        self._catalog = read_catalog(self.settings.offer_catalog)

    async def open(self) -> None:
        if self._catalog is None:
            self._catalog = await load_catalog(self.settings.offer_catalog)
        self._ims = self.connect(_origin_of(self.settings.ims_url), platform=IMS)
        self._upstream = self.connect(self.settings.cpapi_base_url)

    async def close(self) -> None:
        if self._ims is not None:
            await self._ims.close()
            self._ims = None
        await super().close()

    async def probe(self) -> None:
        """An IMS token, then CPAPI's authenticated ping."""
        await self._exchange(PING_PATH, endpoint=PING_PATH)

    # Routes

    async def get_customer(self, customer_id: str) -> Customer:
        _check_ids(customer_id)
        raw = await self._get(
            f"/v3/customers/{path_segment(customer_id)}",
            endpoint="/v3/customers/{id}",
            tags=(customer_tag(customer_id),),
        )
        with readable(PLATFORM, "get_customer"):
            customer = mapping.customer(mapping.parse_customer(raw))
        if customer.id != customer_id:
            raise NotFound(f"customer {customer_id} not found")
        return customer

    async def list_orders(self, request: OrderListRequest) -> OrderPage:
        _check_ids(request.customer_id)
        if request.sort == NEWEST_FIRST:
            return await self._newest_first(request)
        # CPAPI sorts newest first only: any other order needs the whole history.
        async with aclosing(self._history(request.customer_id)) as history:
            orders = [self._order(entry) async for entry in history if entry.is_listable]
        return page_in_memory(orders, request)

    async def get_order(self, customer_id: str, order_id: str) -> Order:
        """One round: the order, and the returns that name it alongside (the customer's
        history by `reference-order-id` needs only the ids of the path). The returns are
        asked for ahead of need (`Ahead`): they count towards the circuit breaker, and are
        kept among the resources, only once the order is known to be the customer's and
        listable; else they are forgotten. So a failing R3 counts what its sequential
        read counted: the order's failure alone."""
        _check_ids(customer_id, order_id)
        tags = order_tags(order_id, customer_id)
        path, params = self._returns_page(customer_id, order_id)
        returns = Ahead(lambda: self.read_ahead(path, endpoint=ORDERS_ENDPOINT, params=params))
        try:
            found = await self._fetch_order(customer_id, order_id, tags)
            first = await self.used_ahead(returns, path, params, tags)
            return self._order(found, await self._return_ids(customer_id, order_id, tags, first))
        finally:
            returns.settle()

    async def list_items(self, customer_id: str, order_id: str) -> list[OrderItem]:
        tags = order_tags(order_id, customer_id)
        return list(self._order(await self._fetch_order(customer_id, order_id, tags)).items or [])

    async def most_recent_order(self, customer_id: str) -> Order:
        _check_ids(customer_id)
        async with aclosing(self._history(customer_id, chunk=MOST_RECENT_CHUNK)) as history:
            async for entry in history:
                if entry.is_listable:
                    return await self.get_order(customer_id, entry.order_id)
        raise NotFound(f"customer {customer_id} has no orders")

    # Writes: licence returns

    async def cancel_order(self, customer_id: str, order_id: str, body: CancelOrder) -> WriteResult:
        """W1: a RETURN of every line at its remaining quantity."""
        found = await self._fetch_order(customer_id, order_id)
        _check_refund(body)
        ignored = tuple(name for name in body.given() if name in IGNORED_CANCEL_OPTIONS)
        return await self._return(found, None, ignored)

    async def cancel_items(self, customer_id: str, order_id: str, body: CancelItems) -> WriteResult:
        """W3: a RETURN of the listed lines (`extLineItemNumber`s) at their remaining quantity."""
        found = await self._fetch_order(customer_id, order_id)
        return await self._return(found, body.ids, ())

    async def _return(
        self, found: CPAPIOrder, line_ids: list[str] | None, ignored: tuple[str, ...]
    ) -> WriteResult:
        """What CPAPI allows, then nothing to do, then the RETURN order; `found` is the
        order as read for its customer (ownership checked).

        A line already returned counts as done: an order CPAPI marks cancelled (`1008`), or
        whose lines asked for are all returned, is `already_done` even past the window,
        since cancelling a cancelled order is no change.
        """
        customer_id, order_id = found.customer_id, found.order_id
        if _cancelled(found):
            return WriteResult("already_done", ignored)
        if found.kind not in RETURNABLE_TYPES:
            raise NotAllowed("Adobe takes back only new and renewal orders, not this kind of order")
        lines = [(line, mapping.remaining(line)) for line in _chosen_lines(found, line_ids)]
        lines = [(line, quantity) for line, quantity in lines if quantity > 0]
        if not lines:
            return WriteResult("already_done", ignored)
        self._check_returnable(found)
        returned = [line.ext_line_item_number for line, _ in lines]

        async def nothing_left() -> bool:
            again = await self._fetch_order(customer_id, order_id)
            left = {line.ext_line_item_number: mapping.remaining(line) for line in again.line_items}
            return _cancelled(again) or all(left.get(number) == 0 for number in returned)

        payload = mapping.return_order(found, lines)
        try:
            await write_once(
                partial(self._create_return, customer_id, payload), nothing_left, platform=PLATFORM
            )
        except _AlreadyReturned:
            # Returned since it was read (by a request at the same time, say): done when
            # nothing is left of what was asked, else CPAPI's refusal stands.
            if not await confirmed(nothing_left):
                raise
            return WriteResult("already_done", ignored)
        return WriteResult("applied", ignored)

    def _check_returnable(self, found: CPAPIOrder) -> None:
        status = found.status.strip()
        if status == PROCESSING:
            raise NotAllowed(
                "Adobe is still processing the order; it can be returned once it is complete"
            )
        if status != COMPLETE:
            raise NotAllowed(RETURN_REFUSALS["2116"])
        placed = found.creation_date
        if placed is None or self._now() - placed > RETURN_WINDOW:
            raise NotAllowed(RETURN_REFUSALS["2134"])

    async def _create_return(self, customer_id: str, payload: dict[str, Any]) -> None:
        """POST the RETURN order; an attempt without an answer is repeated as the same
        intent (same correlation id) while attempts and time are left, then UpstreamTimeout.

        Any answer ends it: CPAPI stored it under the id, so repeating would only replay it.
        Except a 5xx after an attempt without an answer: it may be a gateway's own, saying
        nothing of the intent, so it counts as no answer either.
        """
        path = f"/v3/customers/{path_segment(customer_id)}/orders"
        correlation = Correlation()
        unanswered = 0

        async def send(token: str) -> PlatformResponse:
            nonlocal unanswered
            if unanswered:  # a 401 refused this unread: the earlier attempt's intent goes on
                correlation.repeat()
            while True:
                failure: AdapterError | None = None
                try:
                    response = await self._http.send(
                        "POST",
                        path,
                        json=payload,
                        retry=False,
                        endpoint=ORDERS_ENDPOINT,
                        prepare_headers=partial(self._headers, token, correlation),
                    )
                except (UpstreamTimeout, UpstreamUnavailable) as exc:
                    if not _unanswered(exc):
                        if unanswered:  # an earlier attempt may have been applied
                            raise UpstreamTimeout(f"{PLATFORM} did not answer the return") from exc
                        raise
                    failure = exc
                else:
                    if not (unanswered and response.status_code >= 500):
                        return response
                unanswered += 1
                if unanswered >= RETURN_ATTEMPTS or not _time_for_another():
                    raise UpstreamTimeout(f"{PLATFORM} did not answer the return") from failure
                log.info("return_repeated", correlation_id=correlation.current, attempt=unanswered)
                correlation.repeat()

        try:
            response = await self.token.authorized(send)
        except AdapterError as exc:
            if unanswered and not exc.may_have_arrived:  # no token to repeat an earlier attempt
                raise UpstreamTimeout(f"{PLATFORM} did not answer the return") from exc
            raise
        self.raise_for_status(response, ORDERS_ENDPOINT, correlation_id=correlation.current)

    # Orders

    async def _newest_first(self, request: OrderListRequest) -> OrderPage:
        """CPAPI's own order: resume at the platform offset of the next order to show.

        Returns and previews are skipped wherever they fall, and the page only promises a
        next one after it has seen an order that will be on it.
        """
        orders: list[Order] = []
        history = self._history_with_offsets(
            request.customer_id,
            start=_resume_offset(request.resume),
            chunk=min(PAGE_MAX, request.limit + 1),
        )
        async with aclosing(history) as entries:
            async for offset, entry in entries:
                if not entry.is_listable:
                    continue
                order = self._order(entry)
                if not matches_search(order, request.search):
                    continue
                if len(orders) == request.limit:
                    return OrderPage(orders=orders, resume={"platform_offset": offset})
                orders.append(order)
        return OrderPage(orders=orders)

    async def _fetch_order(
        self, customer_id: str, order_id: str, tags: tuple[Tag, ...] = ()
    ) -> CPAPIOrder:
        """The order, read from the resources when `tags` are given (a read), else as it
        is now (a write); NotFound unless it is the customer's and listable."""
        _check_ids(customer_id, order_id)
        raw = await self._get(
            _order_path(customer_id, order_id),
            PRICED,
            endpoint="/v3/customers/{id}/orders/{id}",
            tags=tags,
        )
        with readable(PLATFORM, "get_order"):
            found = mapping.parse_order(raw)
        if found.customer_id != customer_id or not found.is_listable:
            raise NotFound(f"order {order_id} not found for customer {customer_id}")
        return found

    def _order(self, entry: CPAPIOrder, return_ids: list[str] | None = None) -> Order:
        with readable(PLATFORM, "order"):
            return mapping.order(
                entry,
                catalog=self._catalog or OfferCatalog(),
                return_ids=return_ids or (),
                path=f"orders.{entry.order_id}",
            )

    async def _return_ids(
        self,
        customer_id: str,
        order_id: str,
        tags: tuple[Tag, ...],
        first: AheadRead | None = None,
    ) -> list[str]:
        """The ids of the returns naming the order; `first` is their first history page
        when it was read already."""
        history = self._history_with_offsets(
            customer_id,
            start=0,
            chunk=PAGE_MAX,
            reference_order_id=order_id,
            tags=tags,
            first=first,
        )
        async with aclosing(history) as entries:
            return mapping.returns_of(order_id, [entry async for _, entry in entries])

    def _returns_page(self, customer_id: str, order_id: str) -> tuple[str, dict[str, str]]:
        """The path and query of the first history page of the returns naming the order."""
        params = self._history_params(PAGE_MAX, order_id)
        return _history_path(customer_id), {**params, "offset": "0"}

    def _history_params(self, chunk: int, reference_order_id: str | None) -> dict[str, str]:
        """The explicit `start-date` matters: without it CPAPI hides orders older than the
        current term."""
        params = {
            "start-date": self.settings.history_start.isoformat(),
            "limit": str(chunk),
            **PRICED,
        }
        if reference_order_id is not None:
            params["reference-order-id"] = reference_order_id
        return params

    async def _history(
        self,
        customer_id: str,
        *,
        chunk: int = PAGE_MAX,
        reference_order_id: str | None = None,
        tags: tuple[Tag, ...] = (),
    ) -> AsyncGenerator[CPAPIOrder, None]:
        history = self._history_with_offsets(
            customer_id, start=0, chunk=chunk, reference_order_id=reference_order_id, tags=tags
        )
        async with aclosing(history) as entries:
            async for _, entry in entries:
                yield entry

    async def _history_with_offsets(
        self,
        customer_id: str,
        *,
        start: int,
        chunk: int,
        reference_order_id: str | None = None,
        tags: tuple[Tag, ...] = (),
        first: AheadRead | None = None,
    ) -> AsyncGenerator[tuple[int, CPAPIOrder], None]:
        """The customer's order history from `start`, newest first, with platform offsets;
        `first` is the page at `start` when it was read already.

        Each order of a page is kept as its own resource, so that R3 and R4 of a listed
        order cost no call for it.
        """
        params = self._history_params(chunk, reference_order_id)
        path = _history_path(customer_id)
        offset = start
        while True:
            since = self.generation()
            try:
                if offset == start and first is not None:
                    raw, since = first.raw, first.since if first.since is not None else since
                else:
                    raw = await self._get(
                        path,
                        {**params, "offset": str(offset)},
                        endpoint=ORDERS_ENDPOINT,
                        tags=(customer_tag(customer_id), *tags),
                    )
            except _OffsetOutOfRange:
                return  # the history shrank below our offset: nothing more to show
            with readable(PLATFORM, "history"):
                page = mapping.parse_history(raw)
            self._keep_orders(customer_id, raw, since)
            for index, entry in enumerate(page.items):
                yield offset + index, entry
            offset += len(page.items)
            if not page.items or offset >= page.total_count:
                return

    # Platform answers

    def parse_error(self, body: Any) -> PlatformProblem:
        """CPAPI's error `code`, or IMS's short error name (`invalid_client`); never the
        description or the request."""
        said = body if isinstance(body, dict) else {}
        code, error = said.get("code"), said.get("error")
        return PlatformProblem(
            code=str(code) if isinstance(code, str | int) else None,
            title=error if isinstance(error, str) else None,
        )

    def platform_rule(
        self, status: int, problem: PlatformProblem, fields: LogFields
    ) -> AdapterError | None:
        code = problem.code
        if code in RETURN_REFUSALS:
            log.info("return_refused", **fields)
            refused = _AlreadyReturned if code in ALREADY_RETURNED else NotAllowed
            return refused(RETURN_REFUSALS[code])
        if code in NOT_FOUND_CODES:
            return NotFound(f"{PLATFORM} does not know this customer or order (code {code})")
        if code == OFFSET_OUT_OF_RANGE:
            return _OffsetOutOfRange(f"{PLATFORM} history offset out of range")
        if code in CREDENTIAL_CODES:
            return self.credentials_rejected(fields)
        return None

    def other_error(self, status: int, problem: PlatformProblem, fields: LogFields) -> AdapterError:
        code, platform = problem.code, fields["platform"]
        if code in REJECTED_REQUEST_CODES:
            log.error("platform_rejected_request", **fields)
            return UpstreamError(f"{platform} rejected the bridge's request headers (code {code})")
        log.warning("platform_error", **fields)
        if status == 429 or code == RATE_LIMITED:
            return UpstreamError(f"{platform} is rate limiting the bridge")
        if status >= 500 or code == SERVER_ERROR:
            return UpstreamError(f"{platform} had an internal error (status {status})")
        said = f" (code {code})" if code is not None else ""
        return UpstreamError(f"{platform} answered status {status}{said}")

    # HTTP

    def _headers(self, token: str, correlation: Correlation) -> dict[str, str]:
        """The headers of one HTTP attempt: CPAPI refuses a call without any of them."""
        return {
            "Authorization": f"Bearer {token}",
            "X-Api-Key": self.settings.client_id,
            "Accept": "application/json",
            "Content-Type": "application/json",
            "X-Request-Id": _new_id(),
            "X-Correlation-Id": correlation.for_attempt(),
        }

    async def _get(
        self,
        path: str,
        params: dict[str, str] | None = None,
        *,
        endpoint: str,
        tags: tuple[Tag, ...] = (),
    ) -> Any:
        """One logical CPAPI read, as JSON; kept in the resources when given `tags`."""
        return await self.get_json(path, endpoint=endpoint, params=params, tags=tags)

    async def exchange(
        self, path: str, *, endpoint: str, params: Mapping[str, str | int] | None = None
    ) -> PlatformResponse:
        query = {name: str(value) for name, value in (params or {}).items()}
        return await self._exchange(path, query or None, endpoint=endpoint)

    def _keep_orders(self, customer_id: str, history: Any, since: int | None) -> None:
        """Each order of a history page (parsed already) as `GET …/orders/{id}` answers it."""
        if since is None:  # nothing is kept
            return
        for entry in history.get("items", []):
            order_id = entry.get("orderId")
            if isinstance(order_id, str) and order_id:
                tags = order_tags(order_id, customer_id)
                self.keep(_order_path(customer_id, order_id), PRICED, entry, tags, since=since)

    async def _exchange(
        self, path: str, params: dict[str, str] | None = None, *, endpoint: str
    ) -> PlatformResponse:
        """One logical CPAPI read: its successful response.

        The shared client retries 429, 5xx and lost connections, each attempt a new intent.
        A timeout is retried here, once, as the same intent; a 401 renews the token once.
        """
        correlation = Correlation()
        retried = False

        async def send(token: str) -> PlatformResponse:
            nonlocal retried
            while True:
                try:
                    return await self._http.send(
                        "GET",
                        path,
                        params=params,
                        endpoint=endpoint,
                        prepare_headers=partial(self._headers, token, correlation),
                    )
                except UpstreamTimeout:
                    if retried:
                        raise
                    retried = True
                    correlation.repeat()

        response = await self.token.authorized(send)
        self.raise_for_status(response, endpoint, correlation_id=correlation.current)
        return response

    async def _fetch_token(self) -> tuple[str, float]:
        """A client_credentials token from Adobe IMS, and its lifetime in seconds."""
        form = {
            "grant_type": "client_credentials",
            "client_id": self.settings.client_id,
            "client_secret": self.settings.client_secret.get_secret_value(),
            "scope": self.settings.ims_scopes,
        }
        if self._ims is None:
            raise RuntimeError("AdobeCPAPIAdapter.open() was not awaited")
        token_path = _path_of(self.settings.ims_url)
        response = await self._ims.send(
            "POST",
            token_path,
            data=form,
            headers={"Accept": "application/json"},
            endpoint=token_path,
        )
        self.raise_for_status(response, token_path, authenticating=True, platform=IMS)
        with readable(IMS, token_path):
            grant = parse_grant(json_body(response, IMS))
            return grant.access_token, grant.lifetime(now=time.time())


def _history_path(customer_id: str) -> str:
    return f"/v3/customers/{path_segment(customer_id)}/orders"


def _order_path(customer_id: str, order_id: str) -> str:
    return f"/v3/customers/{path_segment(customer_id)}/orders/{path_segment(order_id)}"


def _check_refund(body: CancelOrder) -> None:
    """A RETURN credits the partner at the original order's price, on Adobe's terms: the
    bridge can neither give store credit nor return licences without that credit."""
    refund = body.refund_method
    if refund is None:
        return
    if refund.store_credit is not None:
        raise NotAllowed(
            "Adobe credits returned licences against the original order; "
            "it cannot give store credit",
            field="refund_method",
        )
    if refund.original_payment_method is False:
        raise NotAllowed(
            "Adobe always credits returned licences against the original order; "
            "they cannot be returned without it",
            field="refund_method",
        )


def _chosen_lines(found: CPAPIOrder, line_ids: list[str] | None) -> list[CPAPILineItem]:
    """Every line, or the listed ones in the order given; an id that is not a line of the
    order is the caller's mistake, named by its place in `ids`."""
    if line_ids is None:
        return list(found.line_items)
    by_id = {line.ext_line_item_number: line for line in found.line_items}
    for index, line_id in enumerate(line_ids):
        if line_id not in by_id:
            raise UnservableRequest(
                f"{line_id!r} is not a line of order {found.order_id}", field=f"ids[{index}]"
            )
    return [by_id[line_id] for line_id in line_ids]


def _unanswered(exc: AdapterError) -> bool:
    """The attempt got no answer (a timeout or a lost connection), so CPAPI may have
    processed it without saying so; a busy answer is an answer, and a call never sent
    (refused connection, open circuit, no time left) is as good as one."""
    if not exc.may_have_arrived:
        return False
    return isinstance(exc, UpstreamTimeout) or isinstance(exc.__cause__, ConnectionError)


def _cancelled(found: CPAPIOrder) -> bool:
    return found.status.strip() == mapping.CANCELLED


def _time_for_another() -> bool:
    left = remaining()
    return left is None or left > RETURN_TIME_FLOOR_S


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path or '/'}?{parts.query}" if parts.query else parts.path or "/"
