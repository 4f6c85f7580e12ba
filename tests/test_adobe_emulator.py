"""The CPAPI emulator is as strict as the real API, so adapter tests against it mean something."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.emulators.adobe_cpapi import TOKEN_PATH, CPAPIEmulator
from tests.emulators.adobe_fixtures import (
    BUSY,
    CLIENT_ID,
    CLIENT_SECRET,
    IMS_SCOPES,
    LARKSPUR,
    QUIET,
    default_fixtures,
)


def make_emulator() -> CPAPIEmulator:
    """What `served` (tests/conftest.py) serves for this module."""
    return CPAPIEmulator()


@pytest.fixture
def client(served: tuple[CPAPIEmulator, str], emulator: CPAPIEmulator) -> Iterator[httpx.Client]:
    """A client of the module's emulator, which `emulator` has reset for the test."""
    with httpx.Client(base_url=served[1]) as client:
        yield client


def test_reset_brings_back_the_fixtures_it_was_given() -> None:
    """A return adds an order to the fixtures; a reset forgets it, given fixtures too."""
    given = default_fixtures()
    emulator = CPAPIEmulator(given)
    before = [order["orderId"] for order in emulator.fixtures.orders[LARKSPUR]]
    emulator.fixtures.orders[LARKSPUR].insert(0, {"orderId": "5999000001"})
    emulator.reset()
    assert [order["orderId"] for order in emulator.fixtures.orders[LARKSPUR]] == before


def token_of(client: httpx.Client, **form: str) -> httpx.Response:
    body = {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scope": IMS_SCOPES,
        **form,
    }
    return client.post(TOKEN_PATH, data=body)


def headers(client: httpx.Client, **overrides: str | None) -> dict[str, str]:
    token = token_of(client).json()["access_token"]
    values: dict[str, str | None] = {
        "Authorization": f"Bearer {token}",
        "X-Api-Key": CLIENT_ID,
        "Accept": "application/json",
        "Content-Type": "application/json",
        "X-Request-Id": str(uuid.uuid4()),
        "X-Correlation-Id": str(uuid.uuid4()),
        **overrides,
    }
    return {name: value for name, value in values.items() if value is not None}


def history(client: httpx.Client, customer_id: str, **params: Any) -> httpx.Response:
    return client.get(f"/v3/customers/{customer_id}/orders", params=params, headers=headers(client))


def test_ims_issues_an_expiring_bearer_token(client: httpx.Client) -> None:
    response = token_of(client)

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 86399
    assert body["access_token"]


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "someone-else"}, 400, "invalid_client"),
        ({"scope": "openid"}, 400, "invalid_scope"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
    ],
)
def test_ims_refuses_bad_credentials(
    client: httpx.Client, form: dict[str, str], status: int, error: str
) -> None:
    response = token_of(client, **form)

    assert response.status_code == status
    assert response.json()["error"] == error


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"X-Api-Key": None}, 403, "4115"),
        ({"X-Api-Key": "another-key"}, 403, "4115"),
        ({"Authorization": None}, 403, "4117"),
        ({"Authorization": "Bearer not-a-token"}, 401, "4116"),
        ({"Authorization": "Basic abc"}, 401, "4116"),
        ({"X-Correlation-Id": None}, 400, "4119"),
        ({"X-Correlation-Id": ""}, 400, "4119"),
        ({"Accept": "text/html"}, 406, None),
        ({"Content-Type": None}, 415, None),
    ],
)
def test_every_required_header_is_enforced(
    client: httpx.Client, overrides: dict[str, str | None], status: int, code: str | None
) -> None:
    response = client.get(f"/v3/customers/{LARKSPUR}", headers=headers(client, **overrides))

    assert response.status_code == status
    assert response.json().get("code") == code


def test_expired_tokens_are_refused(client: httpx.Client, emulator: CPAPIEmulator) -> None:
    sent = headers(client)
    emulator.expire_tokens()

    response = client.get(f"/v3/customers/{LARKSPUR}", headers=sent)

    assert (response.status_code, response.json()["code"]) == (401, "4116")


def test_history_hides_orders_older_than_a_year_unless_start_date_says_otherwise(
    client: httpx.Client,
) -> None:
    by_default = history(client, BUSY, limit=100).json()
    explicit = history(client, BUSY, limit=100, **{"start-date": "2000-01-01"}).json()

    assert 0 < by_default["totalCount"] < explicit["totalCount"] == 87
    oldest_default = min(item["creationDate"] for item in by_default["items"])
    assert oldest_default >= "2024-07-01"
    assert min(item["creationDate"] for item in explicit["items"]) == "2022-07-12T08:30:00Z"


def test_history_is_newest_first_and_clamps_the_limit(client: httpx.Client) -> None:
    body = history(client, BUSY, limit=500, **{"start-date": "2000-01-01"}).json()

    assert body["limit"] == 100
    assert body["count"] == len(body["items"]) == 87
    dates = [item["creationDate"] for item in body["items"]]
    assert dates == sorted(dates, reverse=True)
    assert "next" not in body["links"]


def test_history_links_and_offsets(client: httpx.Client) -> None:
    body = history(client, BUSY, limit=10, offset=20, **{"start-date": "2000-01-01"}).json()

    assert (body["offset"], body["count"]) == (20, 10)
    assert body["links"]["next"]["uri"] == f"/v3/customers/{BUSY}/orders?offset=30&limit=10"
    assert body["links"]["prev"]["uri"] == f"/v3/customers/{BUSY}/orders?offset=10&limit=10"


def test_an_offset_at_the_end_is_an_empty_page_and_past_it_error_1133(
    client: httpx.Client,
) -> None:
    at_end = history(client, LARKSPUR, offset=9, **{"start-date": "2000-01-01"})
    past_end = history(client, LARKSPUR, offset=10, **{"start-date": "2000-01-01"})

    assert at_end.status_code == 200 and at_end.json()["items"] == []
    assert (past_end.status_code, past_end.json()["code"]) == (400, "1133")


@pytest.mark.parametrize(
    "params",
    [{"limit": "0"}, {"limit": "ten"}, {"offset": "-1"}, {"start-date": "01/02/2024"}],
)
def test_bad_history_parameters_are_error_1132(
    client: httpx.Client, params: dict[str, str]
) -> None:
    response = history(client, LARKSPUR, **params)

    assert (response.status_code, response.json()["code"]) == (400, "1132")


def test_history_filters_by_reference_order(client: httpx.Client) -> None:
    body = history(
        client, LARKSPUR, **{"start-date": "2000-01-01", "reference-order-id": "5120008217"}
    ).json()

    assert [item["orderId"] for item in body["items"]] == ["5120008390"]


def test_unknown_customers_and_orders(client: httpx.Client) -> None:
    customer = client.get("/v3/customers/0000000000", headers=headers(client))
    orders = history(client, "0000000000")
    order = client.get(f"/v3/customers/{QUIET}/orders/5120008217", headers=headers(client))

    assert (customer.status_code, customer.json()["code"]) == (404, "1116")
    assert (orders.status_code, orders.json()["code"]) == (404, "1116")
    assert (order.status_code, order.json()["code"]) == (404, "2115")


def test_pricing_only_with_fetch_price_and_only_for_complete_orders(client: httpx.Client) -> None:
    path = f"/v3/customers/{LARKSPUR}/orders"
    plain = client.get(f"{path}/5120008217", headers=headers(client)).json()
    priced = client.get(
        f"{path}/5120008217", params={"fetch-price": "true"}, headers=headers(client)
    ).json()
    open_order = client.get(
        f"{path}/5120007702", params={"fetch-price": "true"}, headers=headers(client)
    ).json()

    assert "pricing" not in plain["lineItems"][0] and "pricingSummary" not in plain
    assert priced["lineItems"][0]["pricing"]["partnerPrice"] == 219.9
    assert priced["pricingSummary"] == [
        {"totalLineItemPartnerPrice": 1399.5, "currencyCode": "USD"}
    ]
    assert all("pricing" not in item for item in open_order["lineItems"])


def test_a_repeated_correlation_id_replays_the_stored_answer(
    client: httpx.Client, emulator: CPAPIEmulator
) -> None:
    first_headers = headers(client)
    first = client.get(f"/v3/customers/{LARKSPUR}", headers=first_headers)
    again = client.get(
        f"/v3/customers/{QUIET}",
        headers={**first_headers, "X-Request-Id": str(uuid.uuid4())},
    )

    assert again.content == first.content
    assert [e.replayed for e in emulator.cpapi_exchanges] == [False, True]


def test_errors_are_replayed_too(client: httpx.Client, emulator: CPAPIEmulator) -> None:
    emulator.fail_next(500, "1124")
    sent = headers(client)

    first = client.get(f"/v3/customers/{LARKSPUR}", headers=sent)
    again = client.get(f"/v3/customers/{LARKSPUR}", headers={**sent, "X-Request-Id": "r2"})
    fresh = client.get(f"/v3/customers/{LARKSPUR}", headers=headers(client))

    assert first.status_code == again.status_code == 500
    assert again.json()["code"] == "1124"
    assert fresh.status_code == 200


def test_a_reused_request_id_with_a_new_correlation_id_is_error_4120(
    client: httpx.Client,
) -> None:
    sent = headers(client)
    client.get(f"/v3/customers/{LARKSPUR}", headers=sent)

    reused = client.get(
        f"/v3/customers/{LARKSPUR}", headers={**sent, "X-Correlation-Id": str(uuid.uuid4())}
    )

    assert (reused.status_code, reused.json()["code"]) == (400, "4120")


def test_percent_encoded_ids_stay_inside_their_path_segment(
    client: httpx.Client, emulator: CPAPIEmulator
) -> None:
    response = client.get(f"/v3/customers/..%2F{LARKSPUR}", headers=headers(client))

    assert (response.status_code, response.json()["code"]) == (404, "1116")
    assert emulator.cpapi_exchanges[-1].path == f"/v3/customers/..%2F{LARKSPUR}"
