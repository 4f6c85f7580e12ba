"""Which ERC fields each adapter fills: observed, not declared.

For every registered adapter with a conformance test module (`tests/test_conformance_*.py`)
this starts its emulator, serves its manifest's customers through the real app (R1, every
page of R2, R5, and R3 and R4 for every order listed; every page of R6 for the customers
its R6 fixtures name, of R7, and R8 for its cart fixtures, where the adapter declares them)
and notes each field that appears in a body. Rows are the fields of the ERC tables in
`tests.erc_contract` and `tests.conformance.shelf_contract`; fields the bridge itself fills
(`brand`, `_links`) and those every body must carry are left out.

    python -m tests.conformance.coverage          # print the table
    python -m tests.conformance.coverage --write  # refresh it in README.md
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import structlog
from starlette.testclient import TestClient

from adapters.base import Adapter, Capability
from adapters.registry import available_adapters
from bridge.app import create_app
from tests.conformance.shelf_contract import SHELF_TABLES
from tests.conformance.suite import PREFIX, AdapterConformance
from tests.conftest import AUTH, decode, settings
from tests.erc_contract import TABLES as ORDER_TABLES

TABLES = {**ORDER_TABLES, **SHELF_TABLES}

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
START = "<!-- coverage:start -->"
END = "<!-- coverage:end -->"

ROUTES = {
    "R1": ("customer", ""),
    "R2": ("order_summary", "orders[]."),
    "R3": ("order_detail", ""),
    "R4": ("item", "items[]."),
    "R5": ("most_recent_order", ""),
    "R6": ("shipment", "shipments[]."),
    "R7": ("product", "products[]."),
    "R8": ("cart", ""),
}
FILLED_BY_THE_BRIDGE = frozenset({"brand", "_links"})
"""Top-level fields of the route bodies that come from the bridge's settings and request."""
BODIES = frozenset({"customer", "order_summary", "order_detail", "most_recent_order", "cart"})
# Tables shown as one row: a money amount or an address is there or not, as a whole.
ONE_ROW = frozenset(
    {
        "money",
        "address",
        "price_summary",
        "tracking_info",
        "delivery_status",
        "integration_info",
        "shipment_tracking",
        "product_image",
        "product_option",
        "cart_cost",
        "cart_discount",
    }
)
ONE_ROW_OUTSIDE_R4 = frozenset({"item"})


def _descends(kind: str, route: str) -> str | None:
    """The table to descend into for a field of this kind, or None for a leaf row."""
    base, _, table = kind.partition(":")
    if base not in ("object", "array") or table in ONE_ROW:
        return None
    if table in ONE_ROW_OUTSIDE_R4 and route != "R4":
        return None
    return table


def _rows_of(table: str, route: str, prefix: str, top: bool) -> Iterator[str]:
    for name, (kind, required) in TABLES[table].items():
        if (table in BODIES and name in FILLED_BY_THE_BRIDGE) or (top and required):
            continue
        inner = _descends(kind, route)
        if inner is None:
            yield f"{prefix}{name}"
        else:
            marker = "[]." if kind.startswith("array") else "."
            yield from _rows_of(inner, route, f"{prefix}{name}{marker}", top=False)


def rows() -> list[tuple[str, str]]:
    """(route, field path) of every row, in table order."""
    return [
        (route, path)
        for route, (table, prefix) in ROUTES.items()
        for path in _rows_of(table, route, prefix, top=True)
    ]


def fields_of(body: Any, route: str) -> set[str]:
    """The field paths a route body carries, named as in `rows()`."""
    table, prefix = ROUTES[route]
    found: set[str] = set()
    elements = body["_embedded"][prefix[:-3]] if prefix else [body]
    for element in elements:
        _collect(element, table, route, prefix, found)
    return found


def _collect(body: dict[str, Any], table: str, route: str, prefix: str, found: set[str]) -> None:
    for name, value in body.items():
        if table in BODIES and name in FILLED_BY_THE_BRIDGE:
            continue
        kind, _ = TABLES[table][name]
        inner = _descends(kind, route)
        if inner is None:
            found.add(f"{prefix}{name}")
        elif kind.startswith("array"):
            for element in value:
                _collect(element, inner, route, f"{prefix}{name}[].", found)
        else:
            _collect(value, inner, route, f"{prefix}{name}.", found)


def subjects() -> list[type[AdapterConformance]]:
    """Every conformance test class of the project, from `tests/test_conformance_*.py`."""
    found: list[type[AdapterConformance]] = []
    for path in sorted((ROOT / "tests").glob("test_conformance_*.py")):
        module = importlib.import_module(f"tests.{path.stem}")
        found += [
            value
            for value in vars(module).values()
            if isinstance(value, type)
            and issubclass(value, AdapterConformance)
            and value is not AdapterConformance
        ]
    return found


def _all_pages(client: TestClient, path: str, key: str) -> list[dict[str, Any]]:
    bodies = []
    url: str | None = f"{PREFIX}{path}?limit=100"
    while url is not None:
        response = client.get(url)
        assert response.status_code == 200, (url, response.text)
        body = decode(response)
        bodies.append(body)
        link = body["_links"].get("next")
        url = link["href"].removeprefix("http://testserver") if link else None
    assert all(key in body["_embedded"] for body in bodies)
    return bodies


def observe(subject: type[AdapterConformance]) -> tuple[str, set[tuple[str, str]]]:
    """The adapter's name and every (route, field) its bodies carried for its manifest."""
    conformance = subject()
    manifest = subject.manifest
    seen: set[tuple[str, str]] = set()

    def note(route: str, body: Any) -> None:
        seen.update((route, path) for path in fields_of(body, route))

    with conformance.serve_platform() as platform:
        adapter = conformance.build_adapter(platform)
        app = create_app(settings(cache_ttl_s=0), adapter=adapter)
        with TestClient(app, headers=AUTH) as client:
            for customer in (manifest.customer, manifest.other_customer, manifest.empty_customer):
                note("R1", decode(client.get(f"{PREFIX}/customers/{customer}")))
                orders = []
                for page in _all_pages(client, f"/customers/{customer}/orders", "orders"):
                    note("R2", page)
                    orders += [order["id"] for order in page["_embedded"]["orders"]]
                newest = client.get(f"{PREFIX}/customers/{customer}/most-recent-order")
                if newest.status_code == 200:
                    note("R5", decode(newest))
                for order in orders:
                    path = f"/customers/{customer}/orders/{order}"
                    note("R3", decode(client.get(f"{PREFIX}{path}")))
                    for page in _all_pages(client, f"{path}/items", "items"):
                        note("R4", page)
            _observe_shelf(subject, adapter, client, note)
    return adapter.name, seen


def _observe_shelf(
    subject: type[AdapterConformance],
    adapter: Adapter,
    client: TestClient,
    note: Callable[[str, Any], None],
) -> None:
    """R6 to R8 for the fixtures the conformance module names, where declared."""
    declared = adapter.capabilities
    if Capability.SHIPMENTS in declared:
        for customer in (subject.SHIPMENTS_CUSTOMER, subject.SHIPMENTS_OTHER_CUSTOMER):
            if customer is not None:
                for page in _all_pages(client, f"/customers/{customer}/shipments", "shipments"):
                    note("R6", page)
    if Capability.PRODUCTS in declared:
        for page in _all_pages(client, "/products", "products"):
            note("R7", page)
    if Capability.CART in declared:
        lookups = [("cart_id", subject.CART_ID)]
        if subject.CART_BY_CUSTOMER:
            lookups.append(("customer_id", subject.CART_CUSTOMER))
        for name, value in lookups:
            if value is not None:
                response = client.get(f"{PREFIX}/customers/cart", params={name: value})
                assert response.status_code == 200, response.text
                note("R8", decode(response))


def table() -> str:
    """The coverage table in Markdown: one column per registered adapter."""
    registered = list(available_adapters())
    observed = dict(observe(subject) for subject in subjects())
    names = [name for name in registered if name in observed]
    lines = [
        "| route | field | " + " | ".join(f"`{name}`" for name in names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for route, path in rows():
        marks = ["✓" if (route, path) in observed[name] else " " for name in names]
        lines.append(f"| {route} | `{path}` | " + " | ".join(marks) + " |")
    return "\n".join(lines) + "\n"


def readme_table(text: str) -> str:
    """The table between the README's coverage markers."""
    start, end = text.index(START) + len(START), text.index(END)
    return text[start:end].strip("\n") + "\n"


def write_readme(generated: str) -> None:
    text = README.read_text(encoding="utf-8")
    start, end = text.index(START) + len(START), text.index(END)
    README.write_text(f"{text[:start]}\n{generated}{text[end:]}", encoding="utf-8")


def main(argv: list[str]) -> int:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    generated = table()
    if "--write" in argv:
        write_readme(generated)
    else:
        sys.stdout.write(generated)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
