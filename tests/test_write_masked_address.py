"""W2 refuses an address part with a `*` in it: reads take such text for a platform's mask
of erased data and leave it out, so the part would be stored yet never shown back, and the
same request would apply again instead of being already done. Refused as a bad body: 400
naming each such field, before any platform call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from adapters.elasticpath import ElasticPathAdapter
from tests import test_elasticpath_writes as elasticpath
from tests.emulators.elasticpath import ElasticPathEmulator
from tests.test_platform_writes import bridge_of
from tests.write_support import NEW_ADDRESS, R, RecordingWrites, path

CUSTOMER, ORDER = "cus_john", "ord_us_025"
MASKABLE = ("address", "city", "first_name", "last_name", "phone_number", "zip_code")
"""The parts a read shows only without a `*`."""
PLACE = {
    "address": "350 Fifth Avenue",
    "city": "New York",
    "zip_code": "10118",
    "region_code": "US-NY",
    "country_code": "US",
}


def make_emulator() -> ElasticPathEmulator:
    """What `served` (tests/conftest.py) serves for this module."""
    return elasticpath.make_emulator()


def _shipping_address(client: TestClient) -> Any:
    response = client.get(f"{R}/customers/{CUSTOMER}/orders/{ORDER}")
    assert response.status_code == 200, response.text
    return response.json().get("shipping_address")


def _refused_naming(response: Any) -> list[str]:
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_request"
    return sorted(field["name"] for field in response.json()["fields"])


@pytest.mark.parametrize("field", MASKABLE)
def test_a_part_with_an_asterisk_is_refused_and_nothing_changes(
    writes: TestClient, recording: RecordingWrites, field: str
) -> None:
    before = _shipping_address(writes)
    body = {**PLACE, "first_name": "John", field: "*rear entrance*"}

    for _ in range(2):  # a repeat is refused alike, never applied
        response = writes.post(path(CUSTOMER, ORDER, "change_shipping_address"), json=body)
        assert _refused_naming(response) == [field]

    assert recording.writes == []
    assert _shipping_address(writes) == before


def test_every_part_with_an_asterisk_is_named(
    writes: TestClient, recording: RecordingWrites
) -> None:
    body = {**PLACE, **{field: f"{field} *" for field in MASKABLE}}
    response = writes.post(path(CUSTOMER, ORDER, "change_shipping_address"), json=body)
    assert _refused_naming(response) == sorted(MASKABLE)
    assert "*" in response.json()["fields"][0]["description"]
    assert recording.writes == []


def test_the_same_address_without_the_asterisk_is_applied(writes: TestClient) -> None:
    response = writes.post(path(CUSTOMER, ORDER, "change_shipping_address"), json=PLACE)
    assert response.status_code == 200, response.text
    assert _shipping_address(writes)["address"] == PLACE["address"]


@pytest.fixture
async def adapter(
    served: tuple[ElasticPathEmulator, str], emulator: ElasticPathEmulator
) -> AsyncIterator[ElasticPathAdapter]:
    adapter = elasticpath.make_adapter(served[1])
    await adapter.open()
    yield adapter
    await adapter.close()


@pytest.mark.anyio
async def test_a_platform_is_never_called_for_a_part_with_an_asterisk(
    emulator: ElasticPathEmulator, adapter: ElasticPathAdapter
) -> None:
    route = path(elasticpath.CUSTOMER, elasticpath.ORDER, "change_shipping_address")
    address = {**NEW_ADDRESS, "address": "Rua Nova 7 *"}
    async with bridge_of(adapter) as bridge:
        refused = await bridge.post(route, json=address)
        calls_when_refused = list(emulator.requests)
        applied = await bridge.post(route, json={**address, "address": "Rua Nova 7"})

    assert _refused_naming(refused) == ["address"]
    assert calls_when_refused == []
    assert applied.status_code == 200, applied.text
    assert [(r.method, r.path) for r in emulator.writes] == [
        ("PUT", elasticpath.order_path(elasticpath.ORDER))
    ]
