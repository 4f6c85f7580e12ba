"""A platform that answers a customer lookup with another customer: 404, never that one.

The emulators run over loopback behind a hostile stand-in that swaps one answer for
another customer's body; the bridge answers as if the customer did not exist, shows and
caches nothing of the other one, and asks the platform again next time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.testclient import TestClient
from structlog.testing import capture_logs

from tests.conftest import R, decode
from tests.emulators import bigcommerce_fixtures as bc
from tests.emulators import elasticpath_fixtures as ep
from tests.hostile_platforms import Platform

EP_STORE = ep.default_store()
BC_STORE = bc.default_store()


def instead(body: Any) -> Callable[[Any], Any]:
    return lambda _: body


def assert_not_found(response: Any, *, never: list[str]) -> None:
    assert response.status_code == 404, response.text
    assert decode(response)["code"] == "not_found"
    for text in never:
        assert text not in response.text


def test_elasticpath_r1_answered_with_another_customer_is_404(
    bridge_on: Callable[[str], TestClient], platforms: dict[str, Platform]
) -> None:
    bridge, hostile = bridge_on("elasticpath"), platforms["elasticpath"].hostile
    maria = EP_STORE.customers[ep.MARIA]
    hostile.arm(f"/v2/customers/{ep.HANS}", instead({"data": maria}))
    with capture_logs() as logs:
        refused = bridge.get(f"{R}/customers/{ep.HANS}")
    assert_not_found(refused, never=[ep.MARIA, maria["name"], maria["email"]])
    # nothing is asked about Maria (Hans's addresses go out alongside, and are dropped)
    assert hostile.calls(f"/v2/customers/{ep.MARIA}/addresses") == 0
    assert "platform_answered_another_customer" in [entry["event"] for entry in logs]
    assert len(bridge.app.state.bridge.cache) == 0  # type: ignore[attr-defined]

    served = bridge.get(f"{R}/customers/{ep.HANS}")
    assert served.status_code == 200
    assert decode(served)["id"] == ep.HANS
    assert hostile.calls(f"/v2/customers/{ep.HANS}") == 2


def test_elasticpath_order_list_of_a_customer_answered_as_another_is_404(
    bridge_on: Callable[[str], TestClient], platforms: dict[str, Platform]
) -> None:
    bridge, hostile = bridge_on("elasticpath"), platforms["elasticpath"].hostile
    hostile.arm(f"/v2/customers/{ep.NOAH}", instead({"data": EP_STORE.customers[ep.MARIA]}))
    assert_not_found(bridge.get(f"{R}/customers/{ep.NOAH}/orders"), never=[ep.MARIA])
    assert len(bridge.app.state.bridge.cache) == 0  # type: ignore[attr-defined]
    served = bridge.get(f"{R}/customers/{ep.NOAH}/orders")
    assert served.status_code == 200
    assert decode(served)["_embedded"] == {"orders": []}


def test_bigcommerce_r1_answered_with_another_customer_is_404(
    bridge_on: Callable[[str], TestClient], platforms: dict[str, Platform]
) -> None:
    bridge, hostile = bridge_on("bigcommerce"), platforms["bigcommerce"].hostile
    lukas = BC_STORE.customers[bc.LUKAS]
    hostile.arm("/v3/customers", instead({"data": [lukas]}))
    refused = bridge.get(f"{R}/customers/{bc.ANA}")
    assert_not_found(refused, never=[lukas["first_name"], lukas["email"]])
    assert len(bridge.app.state.bridge.cache) == 0  # type: ignore[attr-defined]

    served = bridge.get(f"{R}/customers/{bc.ANA}")
    assert served.status_code == 200
    assert decode(served)["id"] == bc.ANA
    assert hostile.calls("/v3/customers") == 2
