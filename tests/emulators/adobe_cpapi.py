"""An Adobe IMS + Commerce Partner API emulator for the adapter tests.

Strict where the real API is (platforms.md §3): IMS bearer tokens that expire, the API key,
JSON `Accept`/`Content-Type`, a required `X-Correlation-Id` (400 code 4119), duplicate
request ids (4120), stored answers replayed for a repeated correlation id, history that
hides orders older than a year unless `start-date` says otherwise, `limit` clamped to the
page maximum and an offset past the end refused with code 1133. `GET /partnerservice/ping`
answers `pong` to a call bearing all of them, as the health check the adapter probes with.

`POST /v3/customers/{id}/orders` creates RETURN orders with the platform's rules
(platform-writes.md §2.2): NEW and RENEWAL orders only, at most 14 days old and complete,
lines matching the original, quantities within what remains, no licence packs or
consumables. An accepted return is open (`1002`) in the customer's history, and the
original's lines show what remains (`1008` once nothing does, and the whole order when
no line has any left).

Tests drive it through `fail_next` (the next answers carry a given status and code),
`hang_next` (answer only after a delay, to make the client time out), `hang_writes` and
`fail_writes` (the same for the order POSTs alone; a hang may process the POST or lose
it), `expire_tokens` and the request log `exchanges`.
"""

from __future__ import annotations

import asyncio
import copy
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, unquote

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.emulators.adobe_fixtures import (
    CATALOG_CSV,
    CLIENT_ID,
    CLIENT_SECRET,
    IMS_SCOPES,
    NOT_RETURNABLE_OFFERS,
    TODAY,
    CPAPIFixtures,
    default_fixtures,
    stamp,
)
from tests.emulators.base import Emulator, raw_path

TOKEN_PATH = "/ims/token/v3"
DEFAULT_LIMIT = 25
RETURN_WINDOW = timedelta(days=14)
RETURNABLE_TYPES = ("NEW", "RENEWAL")
FIRST_RETURN_ID = 5190000001

MESSAGES = {
    "1116": "Invalid Customer",
    "1124": "Internal Server Error. Please try again later",
    "1132": "Invalid value for search parameter",
    "1133": "Offset out of range",
    "2115": "Invalid Customer or Order ID",
    "2116": "Invalid order status",
    "2118": "Order already cancelled",
    "2130": "Offer ID does not match the referenced order",
    "2131": "extLineItemNumber does not match the referenced order",
    "2133": "The line item was already returned",
    "2134": "Order cannot be returned as the order already expired",
    "RETURN_NOT_SUPPORTED_SWITCH_ORDER": "Return is not supported for switch orders",
    "RETURN_NOT_SUPPORTED_MOQ_SKU": "Return is not supported for this offer",
    "RETURN_QTY_EXCEEDS_REMAINING": "Return quantity exceeds the remaining quantity",
    "4115": "API key is invalid or missing",
    "4116": "Authorization token is invalid",
    "4117": "Authorization token is missing",
    "4118": "Too many requests",
    "4119": "Correlation ID is Invalid or Missing",
    "4120": "Duplicate request id, same requestId has already been processed",
}
PRICED_FIELDS = ("pricing", "proratedDays")


@dataclass
class Exchange:
    """One request the emulator received, and what it answered."""

    method: str
    path: str
    """The raw path, still percent-encoded."""
    params: list[tuple[str, str]]
    headers: dict[str, str]
    """Header names in lower case."""
    body: Any = None
    """The decoded JSON body of a POST, PUT or PATCH."""
    status: int = 0
    code: str | None = None
    replayed: bool = False

    def param(self, name: str) -> str | None:
        return next((value for key, value in self.params if key == name), None)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def correlation_id(self) -> str | None:
        return self.header("x-correlation-id")

    @property
    def request_id(self) -> str | None:
        return self.header("x-request-id")


@dataclass
class _Fault:
    status: int = 0
    code: str | None = None
    hang_s: float = 0.0
    processed: bool = True
    """With `hang_s`: whether the request is processed before the late answer, or lost."""
    path: str | None = None
    """The one path it applies to; any when None."""


@dataclass
class _Answer:
    status: int
    body: bytes
    code: str | None = None
    media_type: str = "application/json"


@dataclass
class _State:
    tokens: dict[str, float] = field(default_factory=dict)
    answers: dict[str, _Answer] = field(default_factory=dict)
    request_ids: set[str] = field(default_factory=set)
    faults: deque[_Fault] = field(default_factory=deque)
    write_faults: deque[_Fault] = field(default_factory=deque)
    ims_faults: deque[int] = field(default_factory=deque)
    next_order_id: int = FIRST_RETURN_ID


def _error(status: int, code: str, message: str | None = None) -> _Answer:
    body = {"code": code, "message": message or MESSAGES.get(code, "Error")}
    return _Answer(status, orjson.dumps(body), code)


def _json(body: Any, status: int = 200) -> _Answer:
    return _Answer(status, orjson.dumps(body))


def _json_or_none(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _is_return_line(line: Any) -> bool:
    if not isinstance(line, dict):
        return False
    quantity = line.get("quantity")
    return (
        isinstance(line.get("extLineItemNumber"), int | str)
        and isinstance(line.get("offerId"), str)
        and isinstance(quantity, int)
        and not isinstance(quantity, bool)
        and quantity > 0
    )


def _remaining(line: dict[str, Any]) -> int:
    """What is left of a line: CPAPI sends `remainingQuantity` on NEW and RENEWAL lines."""
    if "remainingQuantity" in line:
        return int(line["remainingQuantity"])
    return 0 if line.get("status") == "1008" else int(line["quantity"])


class _BadParameter(Exception):
    pass


def _parse_moment(text: str) -> datetime:
    try:
        if "T" in text:
            if not text.endswith("Z"):
                raise ValueError(text)
            return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
    except ValueError:
        raise _BadParameter(text) from None


def _parse_count(text: str | None, default: int, minimum: int) -> int:
    if text is None:
        return default
    if not text.isdigit() or int(text) < minimum:
        raise _BadParameter(text)
    return int(text)


def _created(order: dict[str, Any]) -> datetime:
    return _parse_moment(order["creationDate"])


def _line_total(line: dict[str, Any]) -> Decimal:
    pricing = line.get("pricing") or {}
    return Decimal(str(pricing.get("lineItemPartnerPrice", 0)))


class CPAPIEmulator(Emulator[Exchange]):
    """IMS and CPAPI in one Starlette app; `app` is what a test serves."""

    def __init__(
        self,
        fixtures: CPAPIFixtures | None = None,
        *,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        scopes: str = IMS_SCOPES,
        today: datetime = TODAY,
        token_lifetime: int = 86399,
        max_limit: int = 100,
    ) -> None:
        self._initial_fixtures = copy.deepcopy(fixtures)
        self.fixtures = fixtures or default_fixtures()
        self.client_id = client_id
        self.client_secret = client_secret
        self.scopes = frozenset(scope.strip() for scope in scopes.split(","))
        self.today = today
        self.token_lifetime = token_lifetime
        self.max_limit = max_limit
        self._state = _State()
        self._write_seen = threading.Event()
        super().__init__(
            [
                Route(TOKEN_PATH, self._token, methods=["POST"]),
                Route("/{rest:path}", self._cpapi, methods=["GET", "POST", "PUT", "PATCH"]),
            ],
            clock=time.monotonic,
        )

    # Test controls

    def reset(self) -> None:
        """Forget requests, tokens, stored answers and faults; restore the fixtures."""
        super().reset()
        with self._lock:
            self._state = _State()
        self._write_seen.clear()
        given = self._initial_fixtures
        self.fixtures = copy.deepcopy(given) if given is not None else default_fixtures()
        self.max_limit = 100

    def adapter_settings(self, base_url: str, **overrides: Any) -> dict[str, Any]:
        """Settings (AdobeSettings field names) that point an adapter at this emulator."""
        return {
            "cpapi_base_url": base_url,
            "ims_url": base_url + TOKEN_PATH,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "ims_scopes": ",".join(sorted(self.scopes)),
            "offer_catalog": CATALOG_CSV,
            **overrides,
        }

    def fail_next(
        self,
        status: int,
        code: str | None = None,
        *,
        times: int = 1,
        after: int = 0,
        path: str | None = None,
    ) -> None:
        """`times` CPAPI calls (to `path` only, when given) get this error, once `after`
        calls went through untouched."""
        with self._lock:
            self._state.faults.extend(_Fault(path=path) for _ in range(after))
            self._state.faults.extend(_Fault(status, code, path=path) for _ in range(times))

    def hang_next(self, seconds: float, *, times: int = 1) -> None:
        """The next `times` CPAPI calls are processed, but answered only after `seconds`."""
        with self._lock:
            self._state.faults.extend(_Fault(hang_s=seconds) for _ in range(times))

    def hang_writes(self, seconds: float, *, times: int = 1, processed: bool = True) -> None:
        """The next `times` order POSTs answer after `seconds`; `processed` says whether
        each is applied (and its answer stored) first, or lost on the way."""
        with self._lock:
            self._state.write_faults.extend(
                _Fault(hang_s=seconds, processed=processed) for _ in range(times)
            )

    def fail_writes(self, status: int, code: str | None = None, *, times: int = 1) -> None:
        """The next `times` fresh order POSTs get this error instead of being processed."""
        with self._lock:
            self._state.write_faults.extend(_Fault(status, code) for _ in range(times))

    def wait_for_write(self, timeout: float = 5.0) -> bool:
        """Block until an order POST has arrived (since the last reset)."""
        return self._write_seen.wait(timeout)

    @property
    def write_exchanges(self) -> list[Exchange]:
        """The order POSTs received, replays included."""
        return [e for e in self.exchanges if e.method == "POST" and e.path != TOKEN_PATH]

    def returns_of(self, order_id: str) -> list[dict[str, Any]]:
        """The RETURN orders that reference `order_id`, as stored now."""
        with self._lock:
            return [
                order
                for orders in self.fixtures.orders.values()
                for order in orders
                if order["orderType"] == "RETURN" and order.get("referenceOrderId") == order_id
            ]

    def fail_token(self, status: int, *, times: int = 1) -> None:
        with self._lock:
            self._state.ims_faults.extend([status] * times)

    def expire_tokens(self) -> None:
        with self._lock:
            self._state.tokens.clear()

    @property
    def exchanges(self) -> list[Exchange]:
        with self._lock:
            return list(self.requests)

    @property
    def cpapi_exchanges(self) -> list[Exchange]:
        return [e for e in self.exchanges if e.path != TOKEN_PATH]

    @property
    def token_exchanges(self) -> list[Exchange]:
        return [e for e in self.exchanges if e.path == TOKEN_PATH]

    # IMS

    async def _token(self, request: Request) -> Response:
        exchange = self._record(request)
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        with self._lock:
            fault = self._state.ims_faults.popleft() if self._state.ims_faults else None
        if fault is not None:
            answer = _json({"error": "server_error"}, fault)
        elif form.get("grant_type") != "client_credentials":
            answer = _json({"error": "unsupported_grant_type"}, 400)
        elif form.get("client_id") != self.client_id:
            answer = _json({"error": "invalid_client", "error_description": "unknown client"}, 400)
        elif form.get("client_secret") != self.client_secret:
            answer = _json({"error": "invalid_client", "error_description": "bad secret"}, 401)
        elif self._scopes_of(form.get("scope")) != self.scopes:
            answer = _json({"error": "invalid_scope"}, 400)
        else:
            token = f"ims-{secrets.token_urlsafe(24)}"
            with self._lock:
                self._state.tokens[token] = self.now() + self.token_lifetime
            answer = _json(
                {"access_token": token, "token_type": "bearer", "expires_in": self.token_lifetime}
            )
        return self._send(exchange, answer)

    @staticmethod
    def _scopes_of(raw: object) -> frozenset[str]:
        text = raw if isinstance(raw, str) else ""
        return frozenset(scope.strip() for scope in text.split(",") if scope.strip())

    # CPAPI

    async def _cpapi(self, request: Request) -> Response:
        exchange = self._record(request)
        if request.method != "GET":
            exchange.body = _json_or_none(await request.body())
            self._write_seen.set()
        refused = self._check_headers(exchange)
        if refused is not None:
            return self._send(exchange, refused)
        correlation_id = exchange.correlation_id or ""
        with self._lock:
            stored = self._state.answers.get(correlation_id)
            duplicate = exchange.request_id in self._state.request_ids
            if exchange.request_id is not None:
                self._state.request_ids.add(exchange.request_id)
            fresh = stored is None and not duplicate
            writing = request.method == "POST"
            faults = self._state.write_faults if writing else self._state.faults
            # A stall delays any answer; an error fault replaces only a fresh one.
            fault = _next_fault(faults, exchange.path, fresh=fresh)
        if fault is not None and fault.hang_s and not fault.processed:
            await asyncio.sleep(fault.hang_s)  # lost on the way: nothing done, nothing stored
            return self._send(exchange, _Answer(504, orjson.dumps({"message": "lost"})))
        if stored is not None:  # a known intent: X-Request-Id is not even looked at
            exchange.replayed = True
            answer = stored
        elif duplicate:
            answer = _error(400, "4120")
        else:
            if fault is not None and fault.status:
                answer = _error(fault.status, fault.code or str(fault.status))
            else:
                answer = self._route(request.method, exchange)
            with self._lock:
                self._state.answers[correlation_id] = answer
        if fault is not None and fault.hang_s:
            await asyncio.sleep(fault.hang_s)  # processed, but the answer comes too late
        return self._send(exchange, answer)

    def _check_headers(self, exchange: Exchange) -> _Answer | None:
        if exchange.header("x-api-key") != self.client_id:
            return _error(403, "4115")
        authorization = exchange.header("authorization")
        if not authorization:
            return _error(403, "4117")
        scheme, _, token = authorization.partition(" ")
        with self._lock:
            expires = self._state.tokens.get(token) if scheme.lower() == "bearer" else None
        if expires is None or expires <= self.now():
            return _error(401, "4116")
        if not (exchange.correlation_id or "").strip():
            return _error(400, "4119")
        if "application/json" not in (exchange.header("accept") or ""):
            return _Answer(406, orjson.dumps({"message": "Accept must be application/json"}))
        if (exchange.header("content-type") or "").split(";")[0].strip() != "application/json":
            return _Answer(415, orjson.dumps({"message": "Content-Type must be application/json"}))
        return None

    def _route(self, method: str, exchange: Exchange) -> _Answer:
        segments = [unquote(part) for part in exchange.path.strip("/").split("/")]
        if method == "POST":
            match segments:
                case ["v3", "customers", customer_id, "orders"]:
                    return self._create_order(customer_id, exchange.body)
        if method != "GET":
            return _Answer(405, orjson.dumps({"message": "Method Not Allowed"}))
        match segments:
            case ["partnerservice", "ping"]:  # its headers were checked like any call's
                return _Answer(200, b"pong", media_type="text/plain")
            case ["v3", "customers", customer_id]:
                return self._customer(customer_id)
            case ["v3", "customers", customer_id, "orders"]:
                return self._history(customer_id, exchange)
            case ["v3", "customers", customer_id, "orders", order_id]:
                return self._order(customer_id, order_id, exchange)
        return _Answer(404, orjson.dumps({"message": "Not Found"}))

    def _customer(self, customer_id: str) -> _Answer:
        found = self.fixtures.customers.get(customer_id)
        return _json(found) if found is not None else _error(404, "1116")

    def _order(self, customer_id: str, order_id: str, exchange: Exchange) -> _Answer:
        for order in self.fixtures.orders.get(customer_id, []):
            if order["orderId"] == order_id:
                return _json(self._presented(order, exchange.param("fetch-price") == "true"))
        return _error(404, "2115")

    def _history(self, customer_id: str, exchange: Exchange) -> _Answer:
        if customer_id not in self.fixtures.customers:
            return _error(404, "1116")
        start_date, end_date = exchange.param("start-date"), exchange.param("end-date")
        try:
            # Without start-date CPAPI shows the current term only: about a year.
            start = _parse_moment(start_date) if start_date else self.today - timedelta(days=365)
            end = _parse_moment(end_date) if end_date else self.today
            limit = min(_parse_count(exchange.param("limit"), DEFAULT_LIMIT, 1), self.max_limit)
            offset = _parse_count(exchange.param("offset"), 0, 0)
        except _BadParameter:
            return _error(400, "1132")
        selected = [
            order
            for order in self.fixtures.orders.get(customer_id, [])
            if start <= _created(order) <= end and self._matches(order, exchange)
        ]
        selected.sort(key=lambda order: (_created(order), order["orderId"]), reverse=True)
        if offset > len(selected):
            return _error(400, "1133")
        priced = exchange.param("fetch-price") == "true"
        page = [self._presented(order, priced) for order in selected[offset : offset + limit]]
        base = f"/v3/customers/{customer_id}/orders"
        links: dict[str, Any] = {"self": self._link(f"{base}?offset={offset}&limit={limit}")}
        if offset + limit < len(selected):
            links["next"] = self._link(f"{base}?offset={offset + limit}&limit={limit}")
        if offset > 0:
            links["prev"] = self._link(f"{base}?offset={max(offset - limit, 0)}&limit={limit}")
        return _json(
            {
                "totalCount": len(selected),
                "count": len(page),
                "offset": offset,
                "limit": limit,
                "items": page,
                "links": links,
            }
        )

    # Returns

    def _create_order(self, customer_id: str, body: Any) -> _Answer:
        """A RETURN order, with CPAPI's rules; other order types are not emulated."""
        if customer_id not in self.fixtures.customers:
            return _error(404, "1116")
        if not isinstance(body, dict) or body.get("orderType") != "RETURN":
            return _error(400, "1117", "Only RETURN orders are emulated")
        lines = body.get("lineItems")
        if not isinstance(lines, list) or not lines or not all(_is_return_line(x) for x in lines):
            return _error(400, "1117", "Invalid lineItems")
        with self._lock:
            original = next(
                (
                    order
                    for order in self.fixtures.orders.get(customer_id, [])
                    if order["orderId"] == body.get("referenceOrderId")
                ),
                None,
            )
            if original is None:
                return _error(404, "2115")
            refused = self._return_refused(original, lines)
            if refused is not None:
                return refused
            created = self._apply_return(original, lines)
        return _json(self._presented(created, priced=False), 201)

    def _return_refused(
        self, original: dict[str, Any], lines: list[dict[str, Any]]
    ) -> _Answer | None:
        if original["orderType"] in ("SWITCH", "PREVIEW_SWITCH"):
            return _error(422, "RETURN_NOT_SUPPORTED_SWITCH_ORDER")
        if original["orderType"] not in RETURNABLE_TYPES:
            return _error(400, "2116", "Only NEW and RENEWAL orders can be returned")
        if self.today - _created(original) > RETURN_WINDOW:
            return _error(400, "2134")
        if original["status"] == "1008":
            return _error(400, "2118")
        if original["status"] != "1000":
            return _error(400, "2116")
        by_number = {str(line["extLineItemNumber"]): line for line in original["lineItems"]}
        for wanted in lines:
            line = by_number.get(str(wanted["extLineItemNumber"]))
            if line is None:
                return _error(400, "2131")
            if line["offerId"] != wanted["offerId"]:
                return _error(400, "2130")
            if line["offerId"] in NOT_RETURNABLE_OFFERS:
                return _error(422, "RETURN_NOT_SUPPORTED_MOQ_SKU")
            left = _remaining(line)
            if left == 0:
                return _error(400, "2133")
            if wanted["quantity"] > left:
                return _error(422, "RETURN_QTY_EXCEEDS_REMAINING")
        return None

    def _apply_return(
        self, original: dict[str, Any], lines: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """The original's lines lose the returned licences; the open return joins the history."""
        by_number = {str(line["extLineItemNumber"]): line for line in original["lineItems"]}
        returned = []
        for wanted in lines:
            line = by_number[str(wanted["extLineItemNumber"])]
            line["remainingQuantity"] = _remaining(line) - wanted["quantity"]
            if line["remainingQuantity"] == 0:
                line["status"] = "1008"
            returned.append(
                {
                    "extLineItemNumber": line["extLineItemNumber"],
                    "offerId": line["offerId"],
                    "quantity": wanted["quantity"],
                    "subscriptionId": line.get("subscriptionId", ""),
                    "status": "1002",
                    "currencyCode": line.get("currencyCode", original["currencyCode"]),
                }
            )
        if all(_remaining(line) == 0 for line in original["lineItems"]):
            original["status"] = "1008"
        order_id = str(self._state.next_order_id)
        self._state.next_order_id += 1
        created = {
            **original,
            "orderId": order_id,
            "orderType": "RETURN",
            "status": "1002",
            "referenceOrderId": original["orderId"],
            "externalReferenceId": "",
            "source": "API",
            "creationDate": stamp(self.today),
            "lineItems": returned,
        }
        self.fixtures.orders[original["customerId"]].insert(0, created)
        return created

    @staticmethod
    def _matches(order: dict[str, Any], exchange: Exchange) -> bool:
        """AND across parameters, OR across repeated values of one parameter."""
        readers: tuple[tuple[str, Callable[[dict[str, Any]], set[str]]], ...] = (
            ("order-type", lambda o: {o["orderType"]}),
            ("status", lambda o: {o["status"]}),
            ("reference-order-id", lambda o: {o.get("referenceOrderId", "")}),
            ("offer-id", lambda o: {line["offerId"] for line in o["lineItems"]}),
        )
        for name, value_of in readers:
            wanted = {value for key, value in exchange.params if key == name}
            if wanted and not wanted & value_of(order):
                return False
        return True

    @staticmethod
    def _link(uri: str) -> dict[str, Any]:
        return {"uri": uri, "method": "GET", "headers": []}

    @staticmethod
    def _presented(order: dict[str, Any], priced: bool) -> dict[str, Any]:
        """Pricing only with fetch-price=true, and only for complete (1000) orders."""
        show_prices = priced and order["status"] == "1000"
        lines = [
            line if show_prices else {k: v for k, v in line.items() if k not in PRICED_FIELDS}
            for line in order["lineItems"]
        ]
        presented = {**order, "lineItems": lines}
        priced_lines = [line for line in lines if "pricing" in line]
        if show_prices and priced_lines:
            total = sum((_line_total(line) for line in priced_lines), Decimal(0))
            presented["pricingSummary"] = [
                {"totalLineItemPartnerPrice": float(total), "currencyCode": order["currencyCode"]}
            ]
        presented["links"] = {
            "self": {
                "uri": f"/v3/customers/{order['customerId']}/orders/{order['orderId']}",
                "method": "GET",
                "headers": [],
            }
        }
        return presented

    # Plumbing

    def _record(self, request: Request) -> Exchange:
        return self.log(
            Exchange(
                method=request.method,
                path=raw_path(request),
                params=list(request.query_params.multi_items()),
                headers={key.lower(): value for key, value in request.headers.items()},
            )
        )

    @staticmethod
    def _send(exchange: Exchange, answer: _Answer) -> Response:
        exchange.status = answer.status
        exchange.code = answer.code
        return Response(answer.body, status_code=answer.status, media_type=answer.media_type)


def _next_fault(faults: deque[_Fault], path: str, *, fresh: bool) -> _Fault | None:
    """The first fault for `path`, taken; a stall delays any answer, an error fault
    replaces only a fresh one."""
    fault = next((f for f in faults if f.path is None or f.path == path), None)
    if fault is None or not (fresh or fault.hang_s):
        return None
    faults.remove(fault)
    return fault
