"""`erc-bridge new-adapter NAME`: the four files of a new platform adapter.

The adapter, its mapping module, a platform emulator with invented fixtures and a test
module wired to the conformance suite. The generated code runs as it is: its conformance
tests fail at the `TODO(NAME)` marks, where knowledge of the platform goes.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from adapters.registry import adapter_sources
from bridge.environment import env_prefix
from bridge.settings import BridgeSettings

_NAME = re.compile(r"[a-z][a-z0-9_]{0,23}")


class ScaffoldError(ValueError):
    """The adapter cannot be scaffolded; the message says why."""


@dataclass(frozen=True)
class Names:
    name: str

    @property
    def camel(self) -> str:
        return "".join(part.capitalize() for part in self.name.split("_") if part)

    @property
    def title(self) -> str:
        return " ".join(part.capitalize() for part in self.name.split("_") if part)

    @property
    def prefix(self) -> str:
        return f"{self.name.upper()}_"

    def fill(self, template: str) -> str:
        return Template(template).substitute(
            name=self.name, Camel=self.camel, Title=self.title, PREFIX=self.prefix
        )


def check_name(name: str) -> None:
    if not _NAME.fullmatch(name) or keyword.iskeyword(name) or name.endswith("_"):
        raise ScaffoldError(
            f"{name!r} is not a usable adapter name: use 1 to 24 lowercase letters, digits "
            "and _, starting with a letter (it becomes a Python module name)"
        )
    if name in adapter_sources():
        raise ScaffoldError(f"an adapter named {name!r} already exists")
    # Start-up refuses every variable under the bridge's prefix that no bridge setting
    # reads, and every one under the adapter's prefix that no adapter setting reads: when
    # one prefix holds the other, one side's variables are always refused.
    prefix, bridge_prefix = Names(name).prefix, env_prefix(BridgeSettings)
    if prefix.startswith(bridge_prefix) or bridge_prefix.startswith(prefix):
        raise ScaffoldError(
            f"{name!r} is not a usable adapter name: its variables would start with {prefix}, "
            f"which cannot be told from the bridge's own {bridge_prefix}* variables"
        )


def files(name: str) -> dict[Path, str]:
    """The relative path and text of every file the scaffold writes."""
    names = Names(name)
    return {
        Path("adapters", f"{name}.py"): names.fill(ADAPTER),
        Path("mappings", f"{name}.py"): names.fill(MAPPING),
        Path("tests", "emulators", f"{name}.py"): names.fill(EMULATOR),
        Path("tests", f"test_conformance_{name}.py"): names.fill(CONFORMANCE_TEST),
    }


def scaffold(name: str, root: Path) -> list[Path]:
    """Write the new adapter's files under the project root; never overwrites a file."""
    check_name(name)
    planned = files(name)
    for folder in ("adapters", "mappings", "tests/emulators"):
        if not (root / folder).is_dir():
            raise ScaffoldError(f"{root} is not an erc-bridge project: it has no {folder}/")
    existing = [str(path) for path in planned if (root / path).exists()]
    if existing:
        raise ScaffoldError(f"not overwriting {', '.join(existing)}")
    written = []
    for path, text in planned.items():
        (root / path).write_text(text, encoding="utf-8")
        written.append(root / path)
    return written


def next_steps(name: str) -> str:
    camel = Names(name).camel
    return f"""\
Next:
  1. .venv/bin/python -m pytest tests/test_conformance_{name}.py -x --tb=line
     (the first failure, at a TODO({name}) mark; the unknown-id lookups already pass)
  2. grep -rn "TODO({name})" adapters mappings tests    (each mark says what it needs)
  3. register it: add "{name}": "adapters.{name}:{camel}Adapter" to BUILTIN_ADAPTERS in
     adapters/registry.py, or an entry point in the group erc_bridge.adapters
  4. .venv/bin/erc-bridge adapters    (lists it with its routes and settings)
See docs/adapters.md."""


ADAPTER = '''\
"""$Title: customers and their orders over the platform's REST API.

TODO($name): say which API version this adapter reads,
how it authenticates and how its lists page, with a link to the platform's reference.

Every call goes through one `UpstreamClient`. Platform errors are translated by
`HTTPAdapter.raise_for_status`, unreadable bodies in `adapters.http.readable`; nothing else
decides what an upstream failure means.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.answers import PlatformProblem
from adapters.base import HTTPAdapter, OrderListRequest, OrderPage
from adapters.errors import NotFound
from adapters.http import path_segment, readable
from adapters.paging import page_in_memory
from adapters.settings_types import BaseURL, Secret
from mappings import $name as mapping
from mappings.models import Customer, Order

PLATFORM = "$name"


class ${Camel}Settings(BaseSettings):
    """`${PREFIX}*`: where the platform is and the bridge's credentials for it."""

    model_config = SettingsConfigDict(
        env_prefix="${PREFIX}",
        env_file=".env",
        extra="ignore",
        hide_input_in_errors=True,
    )

    base_url: BaseURL = Field(description="the platform's API base URL")
    # TODO($name): the credentials the platform's API takes
    api_token: Secret = Field(description="the bridge's API token; never logged")


class ${Camel}Adapter(HTTPAdapter):
    name = "$name"
    settings_class = ${Camel}Settings
    settings: ${Camel}Settings
    title = "$Title"
    credentials = "${PREFIX}API_TOKEN"

    async def open(self) -> None:
        token = self.settings.api_token.get_secret_value()
        self._upstream = self.connect(
            self.settings.base_url,
            # TODO($name): the headers every call needs
            # (authentication, API version).
            headers={"Accept": "application/json", "Authorization": f"Bearer {token}"},
        )

    async def probe(self) -> None:
        """One cheap call that needs the credentials (readiness, `erc-bridge check`)."""
        await self.get_json("/orders", endpoint="/orders", params={"limit": 1})

    # Routes

    async def get_customer(self, customer_id: str) -> Customer:
        raw = await self._customer(customer_id)
        with readable(PLATFORM, "/customers/{id}"):
            return mapping.customer(raw)

    async def list_orders(self, request: OrderListRequest) -> OrderPage:
        # TODO($name): page on the platform when it can,
        # with its page or cursor in `OrderPage.resume`; this reads every order at once.
        raw = await self.get_json(
            "/orders", endpoint="/orders", params={"customer_id": request.customer_id}
        )
        with readable(PLATFORM, "/orders"):
            found = mapping.parse_orders(raw)
        if not found:
            await self._customer(request.customer_id)  # no orders, or no such customer?
        for entry in found:
            self._check_owner(entry, request.customer_id)
        with readable(PLATFORM, "/orders"):
            orders = [mapping.order(entry) for entry in found]
        return page_in_memory(orders, request)

    async def get_order(self, customer_id: str, order_id: str) -> Order:
        missing = f"Order {order_id} not found"
        raw = await self.get_json(
            f"/orders/{path_segment(order_id)}", endpoint="/orders/{id}", missing=missing
        )
        with readable(PLATFORM, "/orders/{id}"):
            found = mapping.parse(mapping.${Camel}Order, raw)
        if found.customer_id != customer_id:
            raise NotFound(missing)  # someone else's order is answered like a missing one
        with readable(PLATFORM, "/orders/{id}"):
            return mapping.order(found)

    # Platform resources

    async def _customer(self, customer_id: str) -> mapping.${Camel}Customer:
        raw = await self.get_json(
            f"/customers/{path_segment(customer_id)}",
            endpoint="/customers/{id}",
            missing=f"Customer {customer_id} not found",
        )
        with readable(PLATFORM, "/customers/{id}"):
            found = mapping.parse(mapping.${Camel}Customer, raw)
        if found.id != customer_id:
            raise NotFound(f"Customer {customer_id} not found")  # never another one instead
        return found

    def _check_owner(self, entry: mapping.${Camel}Order, customer_id: str) -> None:
        """A listed order of anyone else means the platform ignored the filter: never show it."""
        if entry.customer_id != customer_id:
            raise self.filter_ignored("/orders")

    # Platform answers

    def parse_error(self, body: Any) -> PlatformProblem:
        """What the platform's error body says, for the logs."""
        # TODO($name): read the platform's error body (its code, title and detail).
        return PlatformProblem()
'''

MAPPING = '''\
"""$Title JSON -> ERC models.

Platform bodies are first validated into the small records below, so that a body the
bridge cannot read fails with a `MappingError` naming the field; the functions after them
turn those records into ERC models (`mappings.models`), with the shared helpers for records
(`mappings.records`), money (`mappings.money`), statuses (`mappings.status`), addresses
(`mappings.addresses`) and deliveries and totals (`mappings.builders`).
"""

from __future__ import annotations

from mappings.bounds import Short
from mappings.models import Customer, Order
from mappings.records import LenientRecord, parse_list
from mappings.records import parse as parse


class ${Camel}Customer(LenientRecord):
    """TODO($name): the fields of the platform's customer the mapping reads, every string
    bounded by a type of `mappings.bounds` (Short, Url or Text)."""

    id: Short


class ${Camel}Order(LenientRecord):
    """TODO($name): the fields of the platform's order the mapping reads, every string
    bounded by a type of `mappings.bounds` (Short, Url or Text)."""

    id: Short
    customer_id: Short


def parse_orders(raw: object) -> list[${Camel}Order]:
    """TODO($name): the platform's list envelope; this reads a bare JSON array."""
    return parse_list(${Camel}Order, raw)


def customer(raw: ${Camel}Customer) -> Customer:
    raise NotImplementedError(
        "TODO($name): map the platform's customer to an ERC Customer "
        "(first_name, last_name, customer_since, and shipping_addresses: declare the "
        "platform's address as a mappings.addresses.AddressRecord, aliasing only the keys "
        "it names otherwise, and map it with addresses_of / address_of)"
    )


def order(raw: ${Camel}Order) -> Order:
    raise NotImplementedError(
        "TODO($name): map the platform's order to an ERC Order "
        "(order_number, purchase_datetime, status and cancellation through "
        "mappings.status, price_summary through mappings.money, addresses, "
        "and items: every product line, so that items_number and R4 work)"
    )
'''

EMULATOR = '''\
"""An emulator of $Title for the adapter tests: its read API over real HTTP.

TODO($name): replace the invented payloads below
with realistic ones from the platform's API reference (field names, envelopes, paging,
error bodies), and answer as strictly as the real API does where it matters.

Tests steer it with `inject`/`clear` (the conformance suite's faults) and read `requests`
to see which calls the adapter made.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.conformance import Fault

API_TOKEN = "emulated-$name-token"

CUSTOMER = "c-100"
OTHER_CUSTOMER = "c-200"
QUIET_CUSTOMER = "c-300"
ORDER = "o-1001"
OTHER_ORDER = "o-2001"

CUSTOMERS: dict[str, dict[str, Any]] = {
    CUSTOMER: {"id": CUSTOMER, "name": "Ada Example", "created_at": "2024-01-02T03:04:05Z"},
    OTHER_CUSTOMER: {"id": OTHER_CUSTOMER, "name": "Bo Example"},
    QUIET_CUSTOMER: {"id": QUIET_CUSTOMER, "name": "Cy Example"},
}
ORDERS: list[dict[str, Any]] = [
    {
        "id": ORDER,
        "customer_id": CUSTOMER,
        "number": "A-1001",
        "created_at": "2025-05-01T10:00:00Z",
        "currency": "USD",
        "total": "30.00",
        "lines": [
            {"id": "l-1", "name": "Mug", "sku": "MUG", "price": "10.00", "quantity": 1},
            {"id": "l-2", "name": "Tea", "sku": "TEA", "price": "10.00", "quantity": 2},
        ],
    },
    {
        "id": "o-1002",
        "customer_id": CUSTOMER,
        "number": "A-1002",
        "created_at": "2025-06-01T10:00:00Z",
        "currency": "USD",
        "total": "5.00",
        "lines": [{"id": "l-3", "name": "Spoon", "sku": "SPN", "price": "5.00", "quantity": 1}],
    },
    {
        "id": OTHER_ORDER,
        "customer_id": OTHER_CUSTOMER,
        "number": "B-2001",
        "created_at": "2025-04-01T10:00:00Z",
        "currency": "USD",
        "total": "12.00",
        "lines": [{"id": "l-4", "name": "Bowl", "sku": "BWL", "price": "12.00", "quantity": 1}],
    },
]

FAULTS: dict[Fault, tuple[int, bytes]] = {
    Fault.NOT_FOUND: (404, b'{"error": "not found"}'),
    Fault.UNAUTHORIZED: (401, b'{"error": "unauthorized"}'),
    Fault.RATE_LIMITED: (429, b'{"error": "too many requests"}'),
    Fault.SERVER_ERROR: (500, b'{"error": "internal error"}'),
    Fault.MALFORMED: (200, b'{"id": "o-1001", "lines": ['),
}


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


class ${Camel}Emulator:
    """The platform's read API; `app` is what a test serves."""

    def __init__(self) -> None:
        self.app = Starlette(routes=[Route("/{path:path}", self._handle)])
        self.requests: list[str] = []
        self._fault: Fault | None = None

    def inject(self, fault: Fault) -> None:
        """FaultInjector: answer every API call with `fault` until `clear()`."""
        self._fault = fault

    def clear(self) -> None:
        """FaultInjector: answer normally again."""
        self._fault = None

    async def _handle(self, request: Request) -> Response:
        self.requests.append(request.url.path)
        if self._fault is not None:
            status, body = FAULTS[self._fault]
            return Response(body, status_code=status, media_type="application/json")
        if request.headers.get("authorization") != f"Bearer {API_TOKEN}":
            return _json({"error": "unauthorized"}, 401)
        match request.url.path.strip("/").split("/"):
            case ["customers", customer_id] if customer_id in CUSTOMERS:
                return _json(CUSTOMERS[customer_id])
            case ["orders"]:
                wanted = request.query_params.get("customer_id")
                return _json([order for order in ORDERS if order["customer_id"] == wanted])
            case ["orders", order_id]:
                for order in ORDERS:
                    if order["id"] == order_id:
                        return _json(order)
        return _json({"error": "not found"}, 404)
'''

CONFORMANCE_TEST = '''\
"""$Title against the adapter conformance suite."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from adapters import $name as adapter
from adapters.base import Adapter
from tests.conformance import ALL_FAULTS, AdapterConformance, Manifest, Platform
from tests.conftest import FAST
from tests.emulators import $name as emulated
from tests.servers import serve


class Test${Camel}Conformance(AdapterConformance):
    # TODO($name): the ids of the emulator's fixtures once they are realistic.
    manifest = Manifest(
        customer=emulated.CUSTOMER,
        orders=2,
        order=emulated.ORDER,
        items=2,
        empty_customer=emulated.QUIET_CUSTOMER,
        other_customer=emulated.OTHER_CUSTOMER,
        other_order=emulated.OTHER_ORDER,
        faults=ALL_FAULTS,
    )

    @contextmanager
    def serve_platform(self) -> Iterator[Platform]:
        emulator = emulated.${Camel}Emulator()
        with serve(emulator.app) as url:
            yield Platform(url=url, faults=emulator, emulator=emulator)

    def build_adapter(self, platform: Platform) -> Adapter:
        settings = adapter.${Camel}Settings(
            _env_file=None,
            base_url=platform.url,
            api_token=emulated.API_TOKEN,
        )
        return adapter.${Camel}Adapter(settings, http=FAST)
'''
