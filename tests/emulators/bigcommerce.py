"""A BigCommerce emulator for the adapter tests: V2 orders and V3 customers of one store.

Strict where the real API is (platforms.md §5): the `X-Auth-Token` of the store's API
account, JSON `Accept`, `page`/`limit` bounds (at most 250), the V2 sort fields, `204 No
Content` for an empty list, V2 errors as a JSON array, and a request quota per time window
reported in `X-Rate-Limit-*` headers on every answer (429 once it is used up).

Writes as the real API takes them (platform-writes.md §3): `PUT /v2/orders/{id}` sets any
`status_id` (BigCommerce enforces no transitions) and `staff_notes`, `PUT
/v2/orders/{id}/shipping_addresses/{address_id}` changes one destination; read-only fields
are refused with 400. Changes are kept in the store, so the next read shows them.

Tests steer it with `inject`/`clear` (the conformance suite's faults), `fail_next`,
`write_faults`, `limit_rate` and `advance`, and read `requests` to see exactly which calls
the adapter made.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote

import orjson
from starlette.requests import Request
from starlette.responses import Response

from tests.conformance import Fault
from tests.emulators.base import Emulator, json_response, raw_path
from tests.emulators.bigcommerce_fixtures import (
    ACCESS_TOKEN,
    STATUS_NAMES,
    STORE_HASH,
    Json,
    Store,
    rfc2822,
)
from tests.emulators.write_faults import WriteFaults, sent_json

MAX_LIMIT = 250
DEFAULT_LIMIT = 50
QUOTA = 10_000
WINDOW_MS = 30_000
BUSY_RESET_MS = 15_000
"""How long an injected 429 says to wait: longer than any request deadline."""
SORT_FIELDS = frozenset(
    {"id", "customer_id", "date_created", "date_modified", "status_id", "channel_id", "external_id"}
)
CUSTOMER_INCLUDES = frozenset(
    {"addresses", "storecredit", "attributes", "formfields", "shopper_profile_id", "segment_ids"}
)
ORDER_LISTS = ("products", "shipping_addresses", "shipments")
MALFORMED_BODY = b'[{"id": 2174, "customer_id": '
WRITABLE_ORDER_FIELDS = frozenset({"status_id", "staff_notes", "customer_message"})
"""The order fields the emulator lets a PUT change (the real API has more, e.g. products)."""
WRITABLE_ADDRESS_FIELDS = frozenset(
    {
        "first_name",
        "last_name",
        "company",
        "street_1",
        "street_2",
        "city",
        "state",
        "zip",
        "country",
        "country_iso2",
        "phone",
        "email",
        "shipping_method",
    }
)


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    """The raw path as it arrived, percent-encoding kept."""
    query: tuple[tuple[str, str], ...]
    status: int
    token: str | None
    accept: str | None
    sent: Any = None
    """The JSON body the request carried, if any."""

    def param(self, name: str) -> str | None:
        return next((value for key, value in self.query if key == name), None)

    @property
    def resource(self) -> str:
        """The path after `/stores/{hash}`."""
        return self.path.split(f"/stores/{STORE_HASH}", 1)[-1]


def v2_error(status: int, message: str) -> bytes:
    return orjson.dumps([{"status": status, "message": message}])


def _error(status: int, message: str) -> Response:
    return Response(v2_error(status, message), status_code=status, media_type="application/json")


class _BadParameter(Exception):
    pass


def _count(raw: str | None, *, name: str, default: int, low: int, high: int | None = None) -> int:
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < low or (high is not None and int(raw) > high):
        raise _BadParameter(name)
    return int(raw)


PRODUCT_INCLUDES = frozenset({"variants", "images", "options", "custom_fields", "modifiers"})
CART_INCLUDES = frozenset(
    {
        "redirect_urls",
        "line_items.physical_items.options",
        "line_items.digital_items.options",
        "promotions.banners",
    }
)


def v3_page(data: list[Json], *, total: int, page: int, limit: int) -> Response:
    """A V3 list: the page's records and where they stand among all `total`."""
    pagination = {
        "total": total,
        "count": len(data),
        "per_page": limit,
        "current_page": page,
        "total_pages": max(1, math.ceil(total / limit)),
    }
    return json_response({"data": data, "meta": {"pagination": pagination}})


def _v3_error(status: int, title: str) -> Response:
    return json_response({"status": status, "title": title, "type": "about:blank"}, status)


def _matches_keyword(product: Json, keyword: str) -> bool:
    """BigCommerce's `keyword`: words of the name, SKU or description, any case."""
    wanted = keyword.casefold()
    texts = [product["name"], product["sku"], product["description"]]
    texts += [variant["sku"] for variant in product["variants"]]
    return any(wanted in text.casefold() for text in texts)


class _ShelfRoutes:
    """The catalog, cart and store endpoints (SPEC §8), mixed into the emulator."""

    store: Store
    store_hash: str

    def _shelf(self, query: Any, segments: list[str]) -> Response | None:
        match segments:
            case ["v2", "store"]:
                return json_response(
                    {
                        "id": self.store_hash,
                        "name": "Trail Outfitters",
                        "currency": self.store.currency,
                    }
                )
            case ["v3", "catalog", "products"]:
                return self._catalog(query)
            case ["v3", "carts", cart_id]:
                includes = set(filter(None, query.get("include", "").split(",")))
                if includes - CART_INCLUDES:
                    return _v3_error(422, "The include is invalid")
                found = self.store.carts.get(cart_id)
                if found is None:
                    return _v3_error(404, "Cart not found")
                return json_response({"data": found})
        return None

    def _catalog(self, query: Any) -> Response:
        includes = set(filter(None, query.get("include", "").split(",")))
        if includes - PRODUCT_INCLUDES:
            return _v3_error(422, "The include is invalid")
        page = _count(query.get("page"), name="page", default=1, low=1)
        limit = _count(
            query.get("limit"), name="limit", default=DEFAULT_LIMIT, low=1, high=MAX_LIMIT
        )
        found = list(self.store.catalog)
        visible = query.get("is_visible")
        if visible is not None:
            found = [p for p in found if p["is_visible"] == (visible == "true")]
        keyword = query.get("keyword")
        if keyword:
            found = [p for p in found if _matches_keyword(p, keyword)]
        chosen = found[(page - 1) * limit : page * limit]
        left_out = {"variants", "images", "options"} - includes
        data = [{k: v for k, v in p.items() if k not in left_out} for p in chosen]
        return v3_page(data, total=len(found), page=page, limit=limit)


class BigCommerceEmulator(_ShelfRoutes, Emulator[LoggedRequest]):
    """One BigCommerce store; `app` is what a test serves."""

    def __init__(
        self,
        store: Store,
        *,
        store_hash: str = STORE_HASH,
        token: str = ACCESS_TOKEN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(handler=self._handle, methods=("GET", "POST", "PUT"), clock=clock)
        self.store = store
        self.store_hash = store_hash
        self.token = token
        self.reset()

    # Test controls

    def reset(self) -> None:
        super().reset()
        self.write_faults = WriteFaults()
        with self._lock:
            self._quota = QUOTA
            self._window_ms = WINDOW_MS
            self._window_start: float | None = None
            self._used = 0

    def clear(self) -> None:
        """FaultInjector: answer normally again."""
        self.reset()

    def inject(self, fault: Fault) -> None:
        """FaultInjector: answer every API call with `fault` until `clear()`."""
        status, body = {
            Fault.NOT_FOUND: (404, v2_error(404, "The requested resource was not found.")),
            Fault.UNAUTHORIZED: (401, v2_error(401, "Invalid credentials.")),
            Fault.RATE_LIMITED: (429, v2_error(429, "Too many requests.")),
            Fault.SERVER_ERROR: (500, v2_error(500, "Internal server error.")),
            Fault.MALFORMED: (200, MALFORMED_BODY),
        }[fault]
        busy = {
            "X-Rate-Limit-Time-Reset-Ms": str(BUSY_RESET_MS),
            "X-Rate-Limit-Requests-Left": "0",
        }
        self.fail_next(
            status, body, times=1_000_000, headers=busy if fault is Fault.RATE_LIMITED else None
        )

    def fail_next(
        self,
        status: int,
        body: bytes | list[Any] | Json | None = None,
        *,
        times: int = 1,
        path: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next `times` calls (those under `path` only, when given) with this.

        `path` is matched against the start of the path after `/stores/{hash}`.
        """
        if body is None:
            body = v2_error(status, "Injected failure") if status >= 400 else b""
        self.faults.add(status, body, times=times, path=path, headers=headers)

    def limit_rate(self, quota: int, window_ms: int = WINDOW_MS) -> None:
        """A new quota window starting now: `quota` calls, then 429 until it resets."""
        with self._lock:
            self._quota = quota
            self._window_ms = window_ms
            self._window_start = self.now()
            self._used = 0

    # Inspection

    @property
    def resources(self) -> list[str]:
        """The path after `/stores/{hash}` of every call, in order."""
        return [r.resource for r in self.requests]

    @property
    def writes(self) -> list[LoggedRequest]:
        """Every call that could change something, in order."""
        return [r for r in self.requests if r.method not in ("GET", "HEAD")]

    # HTTP

    async def _handle(self, request: Request) -> Response:
        path = raw_path(request)
        response = await self._respond(request, path)
        self.log(
            LoggedRequest(
                method=request.method,
                path=path,
                query=tuple(request.query_params.multi_items()),
                status=response.status_code,
                token=request.headers.get("x-auth-token"),
                accept=request.headers.get("accept"),
                sent=await sent_json(request),
            )
        )
        return response

    async def _respond(self, request: Request, raw_path: str) -> Response:
        segments = [unquote(segment) for segment in raw_path.strip("/").split("/")]
        if segments[:2] != ["stores", self.store_hash]:
            return _error(404, "The requested resource was not found.")
        resource = "/" + "/".join(raw_path.strip("/").split("/")[2:])
        fault = self.faults.take(resource)
        if fault is not None:
            return fault.response(self._quota_headers())
        if not self._count_call():
            return self._with(_error(429, "Too many requests."), self._quota_headers())
        quota = self._quota_headers()
        if request.headers.get("x-auth-token") != self.token:
            return self._with(_error(401, "Invalid credentials."), quota)
        if request.method not in ("GET", "PUT"):
            return self._with(_error(405, "Method not allowed."), quota)
        if "application/json" not in request.headers.get("accept", ""):
            return self._with(_error(406, "Only application/json is served here."), quota)
        if request.method == "PUT":
            return self._with(await self._update(request, segments[2:]), quota)
        try:
            response = self._route(request, segments[2:])
        except _BadParameter as exc:
            response = _error(400, f"The field '{exc}' is invalid.")
        return self._with(response, quota)

    @staticmethod
    def _with(response: Response, headers: dict[str, str]) -> Response:
        response.headers.update(headers)
        return response

    def _window(self) -> float:
        """The start of the current quota window (a new one once the last is over)."""
        now = self.now()
        if self._window_start is None or now >= self._window_start + self._window_ms / 1000:
            self._window_start, self._used = now, 0
        return self._window_start

    def _count_call(self) -> bool:
        """Count one call against the quota; False when none is left."""
        with self._lock:
            self._window()
            if self._used >= self._quota:
                return False
            self._used += 1
            return True

    def _quota_headers(self) -> dict[str, str]:
        with self._lock:
            start = self._window()
            reset_ms = math.ceil((start + self._window_ms / 1000 - self.now()) * 1000)
            return {
                "X-Rate-Limit-Time-Window-Ms": str(self._window_ms),
                "X-Rate-Limit-Time-Reset-Ms": str(reset_ms),
                "X-Rate-Limit-Requests-Quota": str(self._quota),
                "X-Rate-Limit-Requests-Left": str(self._quota - self._used),
            }

    def _route(self, request: Request, segments: list[str]) -> Response:
        query = request.query_params
        shelf = self._shelf(query, segments)
        if shelf is not None:
            return shelf
        match segments:
            case ["v2", "orders"]:
                return self._orders(query)
            case ["v2", "orders", order_id]:
                found = self.store.order(order_id)
                if found is None:
                    return _error(404, "The requested resource was not found.")
                return json_response(found)
            case ["v2", "orders", order_id, name] if name in ORDER_LISTS:
                if self.store.order(order_id) is None:
                    return _error(404, "The requested resource was not found.")
                records: dict[str, list[Json]] = getattr(self.store, name)
                return self._page(query, records[order_id])
            case ["v3", "customers"]:
                return self._customers(query)
        return _error(404, "The requested resource was not found.")

    async def _update(self, request: Request, segments: list[str]) -> Response:
        match segments:
            case ["v2", "orders", order_id]:
                record = self.store.order(order_id)
                writable = WRITABLE_ORDER_FIELDS
            case ["v2", "orders", order_id, "shipping_addresses", address_id]:
                record = next(
                    (
                        found
                        for found in self.store.shipping_addresses.get(order_id, [])
                        if str(found["id"]) == address_id
                    ),
                    None,
                )
                writable = WRITABLE_ADDRESS_FIELDS
            case _:
                return _error(405, "Method not allowed.")
        if record is None:
            return _error(404, "The requested resource was not found.")
        if request.headers.get("content-type", "").split(";")[0] != "application/json":
            return _error(415, "The request must be JSON.")
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _error(400, "The request body is not valid JSON.")
        if not isinstance(body, dict):
            return _error(400, "The request body must be an object.")
        for name, value in body.items():
            if name not in writable:
                return _error(400, f"The field '{name}' cannot be written.")
            valid = value in STATUS_NAMES if name == "status_id" else isinstance(value, str)
            if not valid or isinstance(value, bool):
                return _error(400, f"The field '{name}' is invalid.")

        def apply() -> Response:
            record.update(body)
            if "status_id" in body:
                record["status"] = record["custom_status"] = STATUS_NAMES[body["status_id"]]
            if "date_modified" in record:
                record["date_modified"] = rfc2822(datetime.now(UTC))
            return json_response(record)

        return await self.write_faults.answer(apply)

    def _orders(self, query: Any) -> Response:
        orders = list(self.store.orders)
        customer = query.get("customer_id")
        if customer is not None:
            if not customer.isdigit():
                raise _BadParameter("customer_id")
            orders = [o for o in orders if o["customer_id"] == int(customer)]
        field, _, direction = query.get("sort", "id:asc").partition(":")
        if field not in SORT_FIELDS or direction not in ("asc", "desc"):
            raise _BadParameter("sort")

        def key(order: Json) -> tuple[Any, int]:
            value = order[field]
            if field.startswith("date_"):
                value = parsedate_to_datetime(value)
            return (value if value is not None else "", order["id"])

        orders.sort(key=key, reverse=direction == "desc")
        return self._page(query, orders)

    def _page(self, query: Any, records: list[Json]) -> Response:
        page = _count(query.get("page"), name="page", default=1, low=1)
        limit = _count(
            query.get("limit"), name="limit", default=DEFAULT_LIMIT, low=1, high=MAX_LIMIT
        )
        chosen = records[(page - 1) * limit : page * limit]
        if not chosen:
            return Response(status_code=204)
        return json_response(chosen)

    def _customers(self, query: Any) -> Response:
        wanted = query.get("id:in")
        ids = wanted.split(",") if wanted else list(self.store.customers)
        if not all(value.isdigit() for value in ids):
            return json_response({"status": 422, "title": "The filter id:in is invalid"}, 422)
        includes = set(filter(None, query.get("include", "").split(",")))
        if includes - CUSTOMER_INCLUDES:
            return json_response({"status": 422, "title": "The include is invalid"}, 422)
        page = _count(query.get("page"), name="page", default=1, low=1)
        limit = _count(
            query.get("limit"), name="limit", default=DEFAULT_LIMIT, low=1, high=MAX_LIMIT
        )
        found = [
            self.store.customers[str(int(value))]
            for value in ids
            if str(int(value)) in self.store.customers
        ]
        chosen = found[(page - 1) * limit : page * limit]
        data = [
            customer if "addresses" in includes else {**customer, "addresses": None}
            for customer in chosen
        ]
        data = [{k: v for k, v in customer.items() if v is not None} for customer in data]
        return v3_page(data, total=len(found), page=page, limit=limit)
