"""A platform field longer than its bound (`mappings.bounds`) fails the mapping.

Each platform's emulator runs over loopback behind a hostile stand-in that lengthens one
field of one answer: the bridge answers 502 `upstream_error`, logs the field's path and
never its value, caches nothing, and the next request asks the platform again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel
from starlette.testclient import TestClient
from structlog.testing import capture_logs

from mappings import adobe_cpapi, bigcommerce, demo, elasticpath
from mappings.bounds import SHORT_MAX, TEXT_MAX, URL_MAX
from mappings.errors import MappingError
from mappings.money import to_decimal
from tests.conftest import R, decode
from tests.emulators import bigcommerce_fixtures as bc
from tests.emulators import elasticpath_fixtures as ep
from tests.emulators.adobe_fixtures import LARKSPUR
from tests.emulators.hostile import Tamper, put
from tests.hostile_platforms import Platform

LONG = 100_000
"""Far past every bound, and far under any cap on a whole answer."""
MAX_LOG_CHARS = 10_000


@dataclass(frozen=True)
class Case:
    platform: str
    route: str
    upstream: str
    """The end of the platform path whose answer is tampered with."""
    tamper: Tamper
    field: str
    """The field as the log names it."""

    def __str__(self) -> str:
        return f"{self.platform}:{self.field}"


EP_ORDER = f"/customers/{ep.MARIA}/orders/{ep.ORDER_COMPLETE}"
BC_ORDER = f"/customers/{bc.ANA}/orders/{bc.ORDER_SHIPPED}"
CASES = [
    Case("elasticpath", f"/customers/{ep.MARIA}", f"/v2/customers/{ep.MARIA}",
         put("data.name", "n" * LONG), "data.name"),
    Case("elasticpath", f"/customers/{ep.MARIA}", "/addresses",
         put("data.0.line_1", "l" * LONG), "data.0.line_1"),
    Case("elasticpath", f"/customers/{ep.HANS}/orders", "/v2/orders",
         put("included.items.0.sku", "s" * LONG), "included.items.0.sku"),
    Case("elasticpath", EP_ORDER, "/shipping-groups",
         put("data.0.tracking_reference", "t" * LONG), "data.0.tracking_reference"),
    Case("bigcommerce", f"/customers/{bc.ANA}", "/v3/customers",
         put("data.0.first_name", "n" * LONG), "data.0.first_name"),
    Case("bigcommerce", BC_ORDER, "/shipments",
         put("0.tracking_link", "https://t.example/" + "u" * LONG), "0.tracking_link"),
    Case("bigcommerce", BC_ORDER, f"/v2/orders/{bc.ORDER_SHIPPED}",
         put("total_inc_tax", "9" * LONG), "total_inc_tax"),
    Case("bigcommerce", BC_ORDER, f"/v2/orders/{bc.ORDER_SHIPPED}",
         put("date_created", "d" * LONG), "date_created"),
    Case("adobe", f"/customers/{LARKSPUR}", f"/v3/customers/{LARKSPUR}",
         put("companyProfile.contacts.0.firstName", "n" * LONG),
         "companyProfile.contacts.0.firstName"),
    Case("adobe", f"/customers/{LARKSPUR}/orders/5120008217", "/orders/5120008217",
         put("lineItems.0.offerId", "o" * LONG), "lineItems.0.offerId"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=str)
def test_an_oversize_field_is_502_logged_by_name_and_never_cached(
    bridge_on: Callable[[str], TestClient], platforms: dict[str, Platform], case: Case
) -> None:
    bridge = bridge_on(case.platform)
    hostile = platforms[case.platform].hostile
    hostile.arm(case.upstream, case.tamper)
    with capture_logs() as logs:
        refused = bridge.get(f"{R}{case.route}")
    assert refused.status_code == 502, refused.text
    assert decode(refused)["code"] == "upstream_error"
    assert len(refused.content) < 1_000
    unusable = [entry for entry in logs if entry["event"] == "platform_body_unusable"]
    assert [entry["field"] for entry in unusable] == [case.field]
    assert len(repr(logs)) < MAX_LOG_CHARS  # the value is in no log line
    assert len(bridge.app.state.bridge.cache) == 0  # type: ignore[attr-defined]

    asked = hostile.calls(case.upstream)
    served = bridge.get(f"{R}{case.route}")
    assert served.status_code == 200, served.text
    assert served.headers["x-cache"] == "MISS"
    assert hostile.calls(case.upstream) == asked + 1


# The bounds themselves, on the payload models.

NAME = {"id": "c1", "name": ""}


@pytest.mark.parametrize(
    ("parse", "bound", "payload", "field"),
    [
        (lambda raw: elasticpath.parse(elasticpath.EPCustomer, raw), SHORT_MAX, NAME, "name"),
        (
            lambda raw: bigcommerce.parse(bigcommerce.BCShipment, raw),
            URL_MAX,
            {"id": 1, "tracking_link": ""},
            "tracking_link",
        ),
        (
            lambda raw: bigcommerce.parse(bigcommerce.BCProductOption, raw),
            TEXT_MAX,
            {"display_value": ""},
            "display_value",
        ),
        (
            lambda raw: adobe_cpapi.parse_customer(raw),
            SHORT_MAX,
            {"customerId": "c1", "status": ""},
            "status",
        ),
    ],
    ids=["short", "url", "text", "adobe-short"],
)
def test_a_field_of_exactly_its_bound_is_read_and_one_more_character_is_not(
    parse: Callable[[Any], BaseModel], bound: int, payload: dict[str, Any], field: str
) -> None:
    # Characters, not bytes: a name in any script gets the same room.
    assert getattr(parse({**payload, field: "ç" * bound}), field) == "ç" * bound
    with pytest.raises(MappingError) as refused:
        parse({**payload, field: "ç" * (bound + 1)})
    assert refused.value.path == field
    assert "ç" not in str(refused.value)


def test_the_demo_store_format_is_bounded_too() -> None:
    customer = {"id": "c1", "first_name": "f" * (SHORT_MAX + 1)}
    with pytest.raises(MappingError) as refused:
        demo.parse_store({"customers": [customer], "orders": []})
    assert refused.value.path == "customers.0.first_name"


@pytest.mark.parametrize("raw", ["9" * LONG, ["1"] * LONG, {"amount": "1" * LONG}])
def test_an_unusable_amount_is_refused_without_echoing_it(raw: object) -> None:
    with pytest.raises(MappingError) as refused:
        to_decimal(raw, "total")
    assert refused.value.path == "total"
    assert len(str(refused.value)) < 100


def test_an_error_body_is_clipped_for_the_log() -> None:
    said = elasticpath.problem({"errors": [{"status": 500, "detail": "d" * LONG}]})
    assert said.detail is not None and len(said.detail) == TEXT_MAX
    said_bc = bigcommerce.problem([{"status": 500, "message": "m" * LONG}])
    assert said_bc.message is not None and len(said_bc.message) == TEXT_MAX
