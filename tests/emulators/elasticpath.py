"""An Elastic Path Composable Commerce emulator for the adapter tests.

A Starlette app that answers the read endpoints the adapter uses, as strictly as the real
API where it matters: bearer tokens that expire, the `op(field,value)` filter syntax,
`page[limit]` ≤ 100, `page[offset]` ≤ 10,000 and EP's error envelope. Paths are routed on
their raw, still percent-encoded form, so an encoded `/` stays inside one id.

`PUT /v2/orders/{id}` changes an order with EP's rules (platform-writes.md §1): the status
can only become `cancelled`, and neither it nor the shipping address changes once the
order is fulfilled. Changes are kept in the store, so the next read shows them.

Tests steer it with `fail_next`, `write_faults`, `expire_tokens`, `expire_tokens_after` and
`advance`, and read `requests` to see exactly which calls the adapter made.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response

from tests.emulators.base import Emulator, json_response, raw_path
from tests.emulators.elasticpath_fixtures import Json, Shelf, Store, iso, owner
from tests.emulators.write_faults import WriteFaults, sent_json

CLIENT_ID = "emulated-client-id"
CLIENT_SECRET = "emulated-client-secret-0123456789"
GRANT_PATH = "/oauth/access_token"
MAX_LIMIT = 100
DEFAULT_LIMIT = 25
MAX_OFFSET = 10_000
MAX_FILTERS = 10
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]

FILTER_OPERATORS: dict[str, frozenset[str]] = {
    "customer_id": frozenset({"eq", "like"}),
    "account_id": frozenset({"eq", "like"}),
    "status": frozenset({"eq"}),
    "payment": frozenset({"eq"}),
    "shipping": frozenset({"eq"}),
    "name": frozenset({"eq", "like"}),
    "email": frozenset({"eq", "like"}),
    "order_number": frozenset({"eq", "like"}),
    "external_ref": frozenset({"eq", "like"}),
    "currency": frozenset({"eq"}),
    "with_tax": frozenset({"gt", "ge", "lt", "le"}),
    "without_tax": frozenset({"gt", "ge", "lt", "le"}),
    "created_at": frozenset({"eq", "gt", "ge", "lt", "le"}),
    "updated_at": frozenset({"eq", "gt", "ge", "lt", "le"}),
}
NUMERIC_FIELDS = frozenset({"with_tax", "without_tax"})
SORT_FIELDS = frozenset({"created_at", "updated_at"})
INCLUDES = frozenset({"items", "promotions", "custom_discounts"})
ADDRESS_FIELDS = frozenset(
    {
        "first_name",
        "last_name",
        "phone_number",
        "company_name",
        "line_1",
        "line_2",
        "city",
        "county",
        "region",
        "postcode",
        "country",
        "instructions",
    }
)
_CLAUSE = re.compile(r"(eq|like|in|gt|ge|lt|le)\(([a-z_.]+),([^()]+)\)")
_CATALOG_CLAUSE = re.compile(r"(eq|in)\((name|sku|slug|product_types),([^()]+)\)")
"""The catalog's filters: exact values only (`eq`, `in`), no free text."""


class FilterSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    """The raw path as it arrived, percent-encoding kept."""
    segments: tuple[str, ...]
    """The path's segments, each one decoded: what the API routes on."""
    query: dict[str, str]
    status: int
    authorization: str | None
    sent: Any = None
    """The JSON body the request carried, if any."""


def error_body(status: int | str | None, title: str, detail: str | None = None) -> Json:
    problem: Json = {"title": title}
    if status is not None:
        problem = {"status": status, **problem}
    if detail is not None:
        problem["detail"] = detail
    return {"errors": [problem]}


def _error(
    status: int, title: str, detail: str | None = None, *, as_text: bool = False
) -> Response:
    return json_response(error_body(str(status) if as_text else status, title, detail), status)


def _bad_request(detail: str) -> Response:
    return _error(400, "Bad Request", detail)


def _failed(detail: str) -> Response:
    return _error(422, "Failed Validation", detail)


def parse_filter(text: str) -> list[tuple[str, str, str]]:
    """EP's `op(field,value)` clauses joined by `:`; anything else is a syntax error."""
    clauses: list[str] = []
    depth, start = 0, 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0 or depth > 1:
            raise FilterSyntaxError(text)
        if char == ":" and depth == 0:
            clauses.append(text[start:index])
            start = index + 1
    clauses.append(text[start:])
    if depth != 0 or len(clauses) > MAX_FILTERS:
        raise FilterSyntaxError(text)
    parsed = []
    for clause in clauses:
        match = _CLAUSE.fullmatch(clause)
        if match is None:
            raise FilterSyntaxError(clause)
        operator, field, value = match.groups()
        allowed = FILTER_OPERATORS.get(field, frozenset())
        if operator not in allowed and not (operator == "in" and "eq" in allowed):
            raise FilterSyntaxError(clause)
        if operator not in ("in", "like") and "," in value:
            raise FilterSyntaxError(clause)
        if field in NUMERIC_FIELDS and not value.isdigit():
            raise FilterSyntaxError(clause)
        parsed.append((operator, field, value))
    return parsed


def _order_field(order: Json, field: str) -> Any:
    prices = order["meta"]["display_price"]
    readers: dict[str, Callable[[], Any]] = {
        "customer_id": lambda: owner(order),
        "account_id": lambda: None,
        "name": lambda: order["customer"]["name"],
        "email": lambda: order["customer"]["email"],
        "currency": lambda: prices["with_tax"]["currency"],
        "with_tax": lambda: prices["with_tax"]["amount"],
        "without_tax": lambda: prices["without_tax"]["amount"],
        "created_at": lambda: order["meta"]["timestamps"]["created_at"],
        "updated_at": lambda: order["meta"]["timestamps"]["updated_at"],
    }
    reader = readers.get(field)
    return reader() if reader else order.get(field)


def _matches(order: Json, operator: str, field: str, value: str) -> bool:
    actual = _order_field(order, field)
    if actual is None:
        return False
    if operator == "eq":
        return str(actual) == value
    if operator == "in":
        return str(actual) in value.split(",")
    if operator == "like":
        pattern = ".*".join(re.escape(part) for part in value.split("*"))
        return re.fullmatch(pattern, str(actual), re.IGNORECASE) is not None
    if isinstance(actual, int):
        return _compared(operator, actual, int(value))
    return _compared(operator, str(actual)[: len(value)], value)


_Ordered = TypeVar("_Ordered", int, str)


def _compared(operator: str, left: _Ordered, right: _Ordered) -> bool:
    return {"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[
        operator
    ]


def _catalog_filter(text: str) -> Callable[[Json], bool]:
    """`eq`/`in` clauses joined by `:`, values bare or in double quotes."""
    tests: list[Callable[[Json], bool]] = []
    for clause in text.split(":"):
        match = _CATALOG_CLAUSE.fullmatch(clause)
        if match is None:
            raise FilterSyntaxError(clause)
        operator, field, raw = match.groups()
        values = [value.strip('"') for value in (raw.split(",") if operator == "in" else [raw])]

        def test(product: Json, field: str = field, values: list[str] = values) -> bool:
            if field == "product_types":
                return any(kind in values for kind in product["meta"]["product_types"])
            return str(product["attributes"].get(field)) in values

        tests.append(test)
    return lambda product: all(test(product) for test in tests)


class _ShelfRoutes:
    """The catalog, inventory and cart endpoints (SPEC §8), mixed into the emulator."""

    store: Store
    _page: Callable[..., Response]
    now: Callable[[], float]

    async def _shelf(self, request: Request, segments: tuple[str, ...]) -> Response | None:
        shelf = self.store.shelf
        if shelf is None:
            return None
        match request.method, list(segments):
            case "GET", ["catalog", "products"]:
                return self._catalog(request, shelf, shelf.catalog)
            case "GET", ["catalog", "products", product_id, "relationships", "children"]:
                if shelf.product(product_id) is None:
                    return _error(404, "Not Found", "The product could not be found")
                return self._catalog(request, shelf, shelf.children(product_id))
            case "POST", ["inventories", "multiple"]:
                return await self._stock(request, shelf)
            case "GET", ["v2", "carts", cart_id]:
                return self._cart(request, shelf, cart_id)
            case "DELETE", ["v2", "carts", cart_id]:
                if shelf.carts.pop(cart_id, None) is None:
                    return _error(404, "Not Found", "The cart could not be found")
                shelf.cart_items.pop(cart_id, None)
                return Response(status_code=204)
        return None

    def _catalog(self, request: Request, shelf: Shelf, products: list[Json]) -> Response:
        query = request.query_params
        try:
            chosen = _catalog_filter(query["filter"]) if "filter" in query else None
        except FilterSyntaxError:
            return _error(400, "Bad Request", "Could not parse the supplied filter")
        matching = [p for p in products if chosen is None or chosen(p)]
        with_images = query.get("include") == "main_image"

        def included(page: list[Json]) -> Json | None:
            if not with_images:
                return None
            ids = [
                p["relationships"]["main_image"]["data"]["id"]
                for p in page
                if "main_image" in p["relationships"]
            ]
            return {"main_images": [shelf.main_images[image_id] for image_id in ids]}

        return self._page(request, matching, included=included, cap_offset=True)

    async def _stock(self, request: Request, shelf: Shelf) -> Response:
        try:
            body = orjson.loads(await request.body())
            ids = [entry["id"] for entry in body["data"]]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return _bad_request("data must list the products by id")
        return json_response(
            {
                "data": [
                    {
                        "id": product_id,
                        "type": "stock",
                        "total": shelf.stock[product_id] + 2,
                        "allocated": 2,
                        "available": shelf.stock[product_id],
                    }
                    for product_id in ids
                    if product_id in shelf.stock
                ]
            }
        )

    def _cart(self, request: Request, shelf: Shelf, cart_id: str) -> Response:
        found = shelf.carts.get(cart_id)
        if found is None:
            # EP's documented behaviour: an unknown id gets a new, empty cart.
            found = shelf.made_by_read(cart_id, iso(datetime.fromtimestamp(self.now(), UTC)))
        body: Json = {"data": found}
        if request.query_params.get("include") == "items":
            body["included"] = {"items": shelf.cart_items.get(cart_id, [])}
        return json_response(body)


class ElasticPathEmulator(_ShelfRoutes, Emulator[LoggedRequest]):
    fault_prefix = "/v2/"

    def __init__(
        self,
        store: Store,
        *,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        token_lifetime: int = 3600,
    ) -> None:
        super().__init__(handler=self._handle, methods=METHODS)
        self.store = store
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_lifetime = token_lifetime
        self.reset()

    # Test controls

    def reset(self) -> None:
        super().reset()
        self.write_faults = WriteFaults()
        self.token_in_data_envelope = False
        self._tokens: dict[str, float] = {}
        self._uses_left: int | None = None

    def expire_tokens(self) -> None:
        self._tokens.clear()

    def expire_tokens_after(self, requests: int) -> None:
        """Every token issued so far stops working after `requests` more authorized calls."""
        self._uses_left = requests

    def fail_next(
        self,
        status: int,
        body: Json | bytes | None = None,
        *,
        times: int = 1,
        path: str | None = None,
        content_type: str = "application/json",
        exact: bool = False,
    ) -> None:
        """Answer the next `times` API calls (those under `path` only, when given, or to
        `path` alone when `exact`) with this."""
        if body is None:
            body = error_body(status, "Injected failure")
        self.faults.add(
            status, body, times=times, path=path, content_type=content_type, exact=exact
        )

    def send_malformed_next(self, *, path: str | None = None) -> None:
        self.fail_next(200, b'{"data": [{"type": "order", "id": ', path=path)

    # Inspection

    @property
    def api_calls(self) -> list[LoggedRequest]:
        return [r for r in self.requests if r.path != GRANT_PATH]

    @property
    def writes(self) -> list[LoggedRequest]:
        """Every call that could change something, in order."""
        return [r for r in self.api_calls if r.method not in ("GET", "HEAD")]

    @property
    def api_paths(self) -> list[str]:
        return [r.path for r in self.api_calls]

    @property
    def api_segments(self) -> list[tuple[str, ...]]:
        return [r.segments for r in self.api_calls]

    @property
    def grants(self) -> int:
        return sum(1 for r in self.requests if r.path == GRANT_PATH and r.status == 200)

    @property
    def sequence(self) -> list[tuple[str, int]]:
        """(path, status) of every call in order, token grants included."""
        return [(r.path, r.status) for r in self.requests]

    # HTTP

    async def _handle(self, request: Request) -> Response:
        path = raw_path(request)
        segments = tuple(unquote(segment) for segment in path.split("/")[1:])
        response = await self._respond(request, path, segments)
        self.log(
            LoggedRequest(
                method=request.method,
                path=path,
                segments=segments,
                query=dict(request.query_params),
                status=response.status_code,
                authorization=request.headers.get("authorization"),
                sent=await sent_json(request),
            )
        )
        return response

    async def _respond(
        self, request: Request, raw_path: str, segments: tuple[str, ...]
    ) -> Response:
        fault = self.faults.take(raw_path)
        if fault is not None:
            return fault.response()
        if raw_path == GRANT_PATH:
            if request.method != "POST":
                return _error(405, "Method Not Allowed")
            return await self._grant(request)
        if not self._authorized(request):
            return _error(401, "Unable to validate access token")
        shelf = await self._shelf(request, segments)
        if shelf is not None:
            return shelf
        if request.method == "PUT" and segments[:2] == ("v2", "orders") and len(segments) == 3:
            return await self._update_order(request, segments[2])
        if request.method != "GET":
            return _error(405, "Method Not Allowed")
        query = request.query_params
        match list(segments):
            case ["v2", "customers", customer_id]:
                return self._customer(customer_id)
            case ["v2", "customers", customer_id, "addresses"]:
                return self._addresses(request, customer_id)
            case ["v2", "orders"]:
                return self._orders(request)
            case ["v2", "orders", order_id]:
                return self._order(order_id, include=query.get("include"))
            case ["v2", "orders", order_id, "items"]:
                return self._items(request, order_id)
            case ["v2", "orders", order_id, "shipping-groups"]:
                return self._shipping_groups(order_id)
        return _error(404, "Not Found", "The requested resource could not be found")

    async def _grant(self, request: Request) -> Response:
        if (
            request.headers.get("content-type", "").split(";")[0]
            != "application/x-www-form-urlencoded"
        ):
            return _bad_request("The request body must be form encoded")
        form = {key: values[0] for key, values in parse_qs((await request.body()).decode()).items()}
        for name in ("grant_type", "client_id", "client_secret"):
            if not form.get(name):
                return json_response(
                    error_body(422, "Unprocessable Entity", f"{name} is required"), 422
                )
        if form["grant_type"] != "client_credentials":
            return _bad_request("Unsupported grant_type")
        if form["client_id"] != self.client_id or form["client_secret"] != self.client_secret:
            return _error(401, "Unauthorized", "Invalid client credentials")
        token = secrets.token_hex(20)
        expires = self.now() + self.token_lifetime
        self._tokens[token] = expires
        grant = {
            "expires": int(expires),
            "identifier": "client_credentials",
            "expires_in": self.token_lifetime,
            "access_token": token,
            "token_type": "Bearer",
        }
        return json_response({"data": grant} if self.token_in_data_envelope else grant)

    def _authorized(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        expires = self._tokens.get(token)
        if scheme != "Bearer" or expires is None or expires <= self.now():
            return False
        if self._uses_left is not None:
            if self._uses_left <= 0:
                self._tokens.clear()
                self._uses_left = None
                return False
            self._uses_left -= 1
        return True

    # Resources

    def _customer(self, customer_id: str) -> Response:
        found = self.store.customers.get(customer_id)
        if found is None:
            # EP writes this status as a string on some endpoints.
            return _error(
                404, "Not Found", "The requested customer could not be found", as_text=True
            )
        return json_response({"data": found})

    def _addresses(self, request: Request, customer_id: str) -> Response:
        if customer_id not in self.store.customers:
            return _error(
                404, "Not Found", "The requested customer could not be found", as_text=True
            )
        return self._page(request, self.store.addresses[customer_id])

    def _orders(self, request: Request) -> Response:
        query = request.query_params
        try:
            clauses = parse_filter(query["filter"]) if "filter" in query else []
        except FilterSyntaxError:
            return _error(400, "Bad Request", "Could not parse the supplied filter")
        includes = self._includes(query.get("include"))
        if isinstance(includes, Response):
            return includes
        orders = [
            order
            for order in self.store.orders
            if all(_matches(order, *clause) for clause in clauses)
        ]
        sort = query.get("sort")
        if sort is not None:
            field = sort.removeprefix("-")
            if field not in SORT_FIELDS:
                return _bad_request(f"Invalid sort attribute: {sort}")
            orders = sorted(
                orders,
                key=lambda order: order["meta"]["timestamps"][field],
                reverse=sort.startswith("-"),
            )

        def included(page: list[Json]) -> Json | None:
            if "items" not in includes:
                return None
            return {"items": [item for order in page for item in self.store.items[order["id"]]]}

        return self._page(request, orders, included=included, cap_offset=True)

    def _includes(self, raw: str | None) -> set[str] | Response:
        wanted = {part.strip() for part in raw.split(",")} if raw else set()
        unknown = wanted - INCLUDES
        if unknown:
            return _bad_request(f"Invalid include: {', '.join(sorted(unknown))}")
        return wanted

    def _order(self, order_id: str, *, include: str | None) -> Response:
        found = self.store.order(order_id)
        if found is None:
            return _error(404, "Not Found", "The requested order could not be found")
        includes = self._includes(include)
        if isinstance(includes, Response):
            return includes
        body: Json = {"data": found}
        if "items" in includes:
            body["included"] = {"items": self.store.items[order_id]}
        return json_response(body)

    async def _update_order(self, request: Request, order_id: str) -> Response:
        found = self.store.order(order_id)
        if found is None:
            return _error(404, "Not Found", "The requested order could not be found")
        if request.headers.get("content-type", "").split(";")[0] != "application/json":
            return _bad_request("The request body must be JSON")
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _bad_request("The request body is not valid JSON")
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or data.get("type") != "order":
            return _failed("data.type must be order")
        if "status" in data and data["status"] != "cancelled":
            return _failed("status can only be set to cancelled")
        address = data.get("shipping_address")
        if address is not None and (
            not isinstance(address, dict)
            or not set(address) <= ADDRESS_FIELDS
            or not all(isinstance(value, str) for value in address.values())
        ):
            return _failed("shipping_address is invalid")

        def apply() -> Response:
            if found["shipping"] == "fulfilled" and ("status" in data or address is not None):
                # The status EP answers with here is not documented; its errors guide says 4xx.
                return _failed("The order has been fulfilled")
            if "status" in data:
                found["status"] = data["status"]
            if address is not None:
                found["shipping_address"] = {**found["shipping_address"], **address}
            found["meta"]["timestamps"]["updated_at"] = "2026-01-01T00:00:00Z"
            return json_response({"data": deepcopy(found)})

        return await self.write_faults.answer(apply)

    def _items(self, request: Request, order_id: str) -> Response:
        if self.store.order(order_id) is None:
            return _error(404, "Not Found", "The requested order could not be found")
        return self._page(request, self.store.items[order_id])

    def _shipping_groups(self, order_id: str) -> Response:
        if self.store.order(order_id) is None:
            return _error(404, "Not Found", "The requested order could not be found")
        groups = self.store.shipping_groups[order_id]
        return json_response({"data": groups, "meta": {"results": {"total": len(groups)}}})

    def _page(
        self,
        request: Request,
        records: list[Json],
        *,
        included: Callable[[list[Json]], Json | None] | None = None,
        cap_offset: bool = False,
    ) -> Response:
        query = request.query_params
        raw_limit = query.get("page[limit]", str(DEFAULT_LIMIT))
        raw_offset = query.get("page[offset]", "0")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
            return _bad_request(f"page[limit] must be an integer between 1 and {MAX_LIMIT}")
        if not raw_offset.isdigit():
            return _bad_request("page[offset] must be a non-negative integer")
        limit, offset = int(raw_limit), int(raw_offset)
        if cap_offset and offset > MAX_OFFSET:
            return _bad_request(
                f"page[offset] must be less than or equal to {MAX_OFFSET}; use filters to narrow"
            )
        chosen = records[offset : offset + limit]
        total = len(records)
        base = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"

        def link(at: int) -> str:
            return f"{base}?{urlencode({'page[offset]': at, 'page[limit]': limit})}"

        last = max(0, (math.ceil(total / limit) - 1) * limit)
        body: Json = {
            "data": chosen,
            "links": {
                "current": link(offset),
                "first": link(0),
                "last": link(last) if total > limit else None,
                "next": link(offset + limit) if offset + limit < total else None,
                "prev": link(max(0, offset - limit)) if offset > 0 else None,
            },
            "meta": {
                "page": {
                    "limit": limit,
                    "offset": offset,
                    "current": offset // limit + 1,
                    "total": max(1, math.ceil(total / limit)),
                },
                "results": {"total": total},
            },
        }
        extra = included(chosen) if included else None
        if extra is not None:
            body["included"] = extra
        return json_response(body)
