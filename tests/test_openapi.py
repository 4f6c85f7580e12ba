"""The OpenAPI 3.1 document: generated from the models, complete, and true. Schemathesis
runs at least 500 generated cases against every operation of the demo store and finds no
5xx and no response that the document does not describe."""

from __future__ import annotations

import asyncio
import re
from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.routing import Route
from starlette.testclient import TestClient

from adapters.demo import DemoAdapter
from bridge.app import create_app
from bridge.auth import CUSTOMERS_READ, ORDERS_READ, ORDERS_WRITE
from bridge.oauth import TOKEN_PATH
from bridge.openapi import BODIES
from bridge.routes import ERC_ROUTES, PREFIXES, SLOT_ROUTES
from bridge.webhooks import PATH as WEBHOOK_PATH
from bridge.writes import WRITE_ROUTES
from tests.conftest import AUTH, CLIENT_ID, CLIENT_SECRET, OAUTH_CLIENT, TOKEN_SECRET, decode
from tests.conftest import settings as bridge_settings

CASES_PER_OPERATION = 500
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def demo_app(**overrides: Any) -> Any:
    values = {
        "oauth_clients": OAUTH_CLIENT,
        "token_secret": TOKEN_SECRET,
        "basic_users": "agent:agent-password-0123456789abcdef0123",
        # Generated token requests fail often; the lockout has its own tests.
        "auth_failure_limit": 1_000_000,
        **overrides,
    }
    return create_app(bridge_settings(writes=True, **values), adapter=DemoAdapter())


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    with TestClient(demo_app()) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    return dict(response.json())


def test_document_is_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    schemathesis.openapi.from_dict(document)  # validates the document while loading it


def test_every_route_of_the_app_is_documented(document: dict[str, Any]) -> None:
    app = demo_app()
    served = {
        (route.path, method)
        for route in app.routes
        if isinstance(route, Route) and route.include_in_schema  # not the pages for people
        for method in (route.methods or set()) - {"HEAD"}
    }
    documented = {
        (path, method.upper()) for path, item in document["paths"].items() for method in item
    }
    assert served == documented
    # R1 to R8, W1 to W3 and the two slot routes, under both prefixes.
    assert len([p for p in document["paths"] if p.startswith("/erc/")]) == 26


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize(("method", "path", "oauth_scope"), SLOT_ROUTES)
def test_slot_operations_are_documented_as_not_supported(
    document: dict[str, Any], prefix: str, method: str, path: str, oauth_scope: str
) -> None:
    operation = document["paths"][prefix + path][method.lower()]
    parameters = {(p["name"], p["in"]) for p in operation["parameters"]}
    path_ids = {(name, "path") for name in re.findall(r"{(\w+)}", path)}
    assert parameters == path_ids | {("brand", "query")}
    assert {"OAuth2": [oauth_scope]} in operation["security"]
    assert "200" not in operation["responses"]
    for status in ("401", "403", "501"):
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorBody"}


def test_the_cart_lookup_names_both_ids(document: dict[str, Any]) -> None:
    operation = document["paths"]["/erc/ecommerce/connections/customers/cart"]["get"]
    described = {p["name"]: p for p in operation["parameters"]}
    assert set(described) == {"brand", "customer_id", "cart_id"}
    for name in ("customer_id", "cart_id"):
        assert "exactly one" in described[name]["description"]
        assert described[name]["schema"]["pattern"]


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("route", ERC_ROUTES, ids=lambda r: r.path)
def test_erc_operations_carry_parameters_scopes_and_errors(
    document: dict[str, Any], prefix: str, route: Any
) -> None:
    operation = document["paths"][prefix + route.path]["get"]
    parameters = {(p["name"], p["in"]) for p in operation["parameters"]}
    path_ids = {(name, "path") for name in re.findall(r"{(\w+)}", route.path)}
    assert parameters == path_ids | {(name, "query") for name in route.accepts}
    assert {"ApiKey": []} in operation["security"]
    assert {"Basic": []} in operation["security"]
    assert {"OAuth2": [route.oauth_scope]} in operation["security"]
    model = BODIES[route.path][0]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": f"#/components/schemas/{model.__name__}"
    }
    for status in ("400", "401", "403", "404", "429", "500", "501", "502", "503", "504"):
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorBody"}


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("route", WRITE_ROUTES, ids=lambda r: r.action)
def test_write_operations_carry_bodies_keys_scopes_and_every_answer(
    document: dict[str, Any], prefix: str, route: Any
) -> None:
    operation = document["paths"][prefix + route.path][route.method.lower()]
    parameters = {(p["name"], p["in"]) for p in operation["parameters"]}
    assert parameters == {
        ("customer_id", "path"),
        ("order_id", "path"),
        ("brand", "query"),
        ("Idempotency-Key", "header"),
    }
    assert {"OAuth2": [ORDERS_WRITE]} in operation["security"]
    body = operation["requestBody"]
    assert body["required"] is route.body_required
    assert body["content"]["application/json"]["schema"] == {
        "$ref": f"#/components/schemas/{route.body.__name__}"
    }
    for status in (
        "400",
        "401",
        "403",
        "404",
        "409",
        "413",
        "414",
        "415",
        "422",
        "431",
        "501",
        "504",
    ):
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorBody"}
    success = operation["responses"]["200"]
    assert "Idempotent-Replayed" in success["headers"]
    assert ("content" in success) is route.answers_items


@pytest.mark.parametrize("route", WRITE_ROUTES, ids=lambda r: r.action)
def test_the_replay_header_is_listed_on_every_answer_a_key_keeps_and_no_other(
    document: dict[str, Any], route: Any
) -> None:
    """A key keeps what the write answered once it began, a server error once the write
    went out included; refusals before the key is claimed are never replays."""
    operation = document["paths"][PREFIXES[0] + route.path][route.method.lower()]
    replayable = {
        status
        for status, response in operation["responses"].items()
        if "Idempotent-Replayed" in response["headers"]
    }
    assert replayable == {"200", "400", "404", "422", "501", "502", "503", "504"}


def test_every_erc_answer_says_it_is_private(document: dict[str, Any]) -> None:
    answers = [
        (path, status, response)
        for path, item in document["paths"].items()
        if path.startswith(PREFIXES)
        for operation in item.values()
        for status, response in operation["responses"].items()
    ]
    assert len(answers) > 26
    for path, status, response in answers:
        assert "Cache-Control" in response["headers"], (path, status)


def test_the_front_doors_refusals_are_documented_wherever_it_guards(
    document: dict[str, Any],
) -> None:
    guarded = [
        (path, operation)
        for path, item in document["paths"].items()
        if path.startswith(PREFIXES) or path in (TOKEN_PATH, WEBHOOK_PATH)
        for operation in item.values()
    ]
    assert len(guarded) > 26
    for path, operation in guarded:
        assert {"408", "414", "431"} <= set(operation["responses"]), path


def test_metrics_say_they_may_be_refused_for_failed_authentications(
    document: dict[str, Any],
) -> None:
    too_many = document["paths"]["/metrics"]["get"]["responses"]["429"]
    assert too_many["headers"]["Retry-After"]["required"] is True


def test_write_bodies_say_their_constraints(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    address = schemas["NewShippingAddress"]
    assert address["required"] == ["address", "city", "country_code"]
    assert "PT" in address["properties"]["country_code"]["enum"]
    assert "XX" not in address["properties"]["country_code"]["enum"]
    ids = schemas["CancelItems"]["properties"]["ids"]
    assert (ids["minItems"], ids["maxItems"], ids["uniqueItems"]) == (1, 100, True)
    assert schemas["CancelOrder"]["properties"]["staff_note"]["anyOf"][0]["maxLength"] == 1000


def test_cursors_are_opaque_strings(document: dict[str, Any]) -> None:
    operation = document["paths"]["/erc/ecommerce/connections/customers/{customer_id}/orders"]
    (cursor,) = [p for p in operation["get"]["parameters"] if p["name"] == "cursor"]
    assert set(cursor["schema"]) == {"type", "maxLength"}


def test_body_schemas_come_from_the_models(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for model, _ in BODIES.values():
        generated = model.model_json_schema(by_alias=True, mode="serialization")
        assert set(schemas[model.__name__]["properties"]) == set(generated["properties"])
        assert schemas[model.__name__]["required"] == generated["required"]
        assert schemas[model.__name__]["additionalProperties"] is False
    # Answers omit absent fields, never send null; write bodies may send null for absent.
    requests = {"CancelOrder", "RefundMethod", "StoreCredit", "NewShippingAddress", "CancelItems"}
    answers = {name: schema for name, schema in schemas.items() if name not in requests}
    assert "null" not in str(answers)


def test_security_schemes(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert schemes["Basic"] == {"type": "http", "scheme": "basic"}
    flow = schemes["OAuth2"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "/oauth/token"
    assert set(flow["scopes"]) == {CUSTOMERS_READ, ORDERS_READ, ORDERS_WRITE}


def test_open_demo_says_credentials_are_optional() -> None:
    with TestClient(demo_app(api_keys="", basic_users="", oauth_clients="")) as client:
        document = client.get("/openapi.json").json()
    operation = document["paths"]["/erc/ecommerce/connections/customers/{customer_id}"]["get"]
    assert {} in operation["security"]


def test_public_url_names_the_server(document: dict[str, Any]) -> None:
    app = demo_app(public_url="https://erc.example.com/shop")
    with TestClient(app) as client:
        served = client.get("/openapi.json", headers=AUTH).json()
    assert served["servers"] == [{"url": "https://erc.example.com/shop"}]
    flow = served["components"]["securitySchemes"]["OAuth2"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "https://erc.example.com/shop/oauth/token"
    assert "servers" not in document


# Schemathesis against the demo store.

APP = demo_app()
SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", APP)
DEMO_STORE: DemoAdapter = APP.state.bridge.adapter
asyncio.run(DEMO_STORE.open())  # fail early here if the demo data cannot load

DEMO_CUSTOMERS = ["cus_ana", "cus_john", "cus_yuki", "cus_fatima", "cus_new"]
DEMO_ORDERS = [
    ("cus_ana", "ord_1001"),
    ("cus_ana", "ord_1005"),
    ("cus_john", "ord_us_001"),
    ("cus_yuki", "ord_2001"),
    ("cus_fatima", "ord_3001"),
    ("cus_john", "ord_1001"),  # another customer's order
]
OPEN_ORDER = {"customer_id": "cus_ana", "order_id": "ord_1005"}
"""The one order of `DEMO_ORDERS` whose address may change (not shipped, not a pickup)."""
CASES: Counter[str] = Counter()
STATUSES: defaultdict[str, set[int]] = defaultdict(set)


@SCHEMA.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any]) -> Any:
    """Half the cases use ids the demo store knows, so 200 bodies are checked too; writes
    also name the open order on their own, so that changes are made whatever ran before."""
    names = set(path_parameters or {})
    if names == {"customer_id"}:
        known = [{"customer_id": c} for c in DEMO_CUSTOMERS]
    elif names == {"customer_id", "order_id"}:
        known = [{"customer_id": c, "order_id": o} for c, o in DEMO_ORDERS]
    else:
        return st.just(path_parameters)
    path = context.operation.path if context.operation is not None else ""
    if re.search(WRITE_PATHS, path):
        return st.one_of(st.just(path_parameters), st.sampled_from(known), st.just(OPEN_ORDER))
    return st.one_of(st.just(path_parameters), st.sampled_from(known))


NEW_ADDRESSES = [
    {"address": "350 Fifth Avenue", "city": "New York", "country_code": "US"},
    {"address": "1 Rua Augusta", "city": "Lisboa", "country_code": "PT", "zip_code": "1100-053"},
]


KNOWN_QUERIES: dict[str, list[Mapping[str, str | int]]] = {
    "/customers/cart": [
        *({"customer_id": c} for c in DEMO_CUSTOMERS),
        {"cart_id": "crt_ana_current"},
        {"cart_id": "crt_guest_7f3a"},
    ],
    "/customers/{customer_id}/shipments": [{"order_id": "ord_1002"}, {"limit": 1}],
    "/products": [{"search": "linen"}, {"limit": 2}],
}


@SCHEMA.hook
def flatmap_query(context: Any, query: dict[str, Any]) -> Any:
    """Half the cases of R6 to R8 name what the demo store holds, so 200 bodies are
    checked too (a cart needs exactly one of its two ids)."""
    path = context.operation.path if context.operation is not None else ""
    known = next((q for suffix, q in KNOWN_QUERIES.items() if path.endswith(suffix)), None)
    if known is None:
        return st.just(query)
    return st.one_of(st.just(query), st.sampled_from(known))


@SCHEMA.hook
def flatmap_body(context: Any, body: Any) -> Any:
    """Some token requests carry the real client's credentials, so tokens are issued too;
    some address changes carry a real address, so changes are made too."""
    path = context.operation.path if context.operation is not None else None
    if path is not None and path.endswith("/change-shipping-address"):
        return st.one_of(st.just(body), st.sampled_from(NEW_ADDRESSES))
    if path != "/oauth/token":
        return st.just(body)
    client = {"grant_type": "client_credentials", "client_id": CLIENT_ID}
    real = [
        {**client, "client_secret": CLIENT_SECRET},
        {**client, "client_secret": CLIENT_SECRET, "scope": ORDERS_READ},
        {**client, "client_secret": CLIENT_SECRET, "scope": f"{CUSTOMERS_READ} {ORDERS_READ}"},
    ]
    return st.one_of(st.just(body), st.sampled_from(real))


WRITE_PATHS = r"/(cancel|change-shipping-address|cancel-items)$"
WRITE_CASES_PER_OPERATION = 150
"""Fewer than for the reads: a write body has fewer shapes, and `make api-check` runs
every check on them."""


@SCHEMA.exclude(path_regex=WRITE_PATHS).parametrize()
@settings(
    max_examples=CASES_PER_OPERATION,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_document_holds_for_generated_requests(case: Any) -> None:
    _call(case)


@SCHEMA.include(path_regex=WRITE_PATHS).parametrize()
@settings(
    max_examples=WRITE_CASES_PER_OPERATION,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_document_holds_for_generated_writes(case: Any) -> None:
    _call(case)


SLOT_PATHS = tuple(path for _, path, _ in SLOT_ROUTES)
UNSERVED_CHECKS = [check for check in CHECKS if check is not not_a_server_error]
"""The slot routes answer 501 by design: a 5xx that is no server error."""


def _call(case: Any) -> None:
    if case.method == "POST" and re.search(WRITE_PATHS, case.path):
        # Each write case starts from the demo orders as shipped: one that cancelled the only
        # order whose address may change must not turn every later change into a 422.
        asyncio.run(DEMO_STORE.open())
    headers = {} if case.path == "/oauth/token" else AUTH
    checks = UNSERVED_CHECKS if case.path.endswith(SLOT_PATHS) else CHECKS
    response = case.call_and_validate(headers=headers, checks=checks)
    CASES[f"{case.method} {case.path}"] += 1
    STATUSES[f"{case.method} {case.path}"].add(response.status_code)


def test_every_erc_route_got_enough_cases() -> None:
    if not CASES:
        pytest.skip("the generated cases did not run in this test run")
    for prefix in PREFIXES:
        for route in ERC_ROUTES:
            operation = f"GET {prefix}{route.path}"
            assert CASES[operation] >= CASES_PER_OPERATION, operation
            # Known ids, unknown ids and invalid parameters were all among the cases (the
            # catalog has no ids to be unknown).
            expected = {200, 400} if route.path == "/products" else {200, 400, 404}
            assert expected <= STATUSES[operation], (operation, STATUSES[operation])
    for prefix in PREFIXES:
        for method, path, _ in SLOT_ROUTES:
            operation = f"{method} {prefix}{path}"
            assert CASES[operation] >= CASES_PER_OPERATION, operation
            # Nothing but 501, or a request the front door refuses before it is read (a
            # query that is not UTF-8, a path too long).
            assert 501 in STATUSES[operation] <= {400, 414, 501}, (operation, STATUSES[operation])
    for prefix in PREFIXES:
        for write in WRITE_ROUTES:
            operation = f"{write.method} {prefix}{write.path}"
            assert CASES[operation] >= WRITE_CASES_PER_OPERATION, operation
            # Invalid bodies and unknown orders were among the cases, and changes that were
            # made or already in place (W3's ids are rarely lines of the order).
            expected = {400, 404} if write.answers_items else {200, 400, 404}
            assert expected <= STATUSES[operation], (operation, STATUSES[operation])
    assert CASES["POST /oauth/token"] >= CASES_PER_OPERATION
    assert {200, 400, 401} <= STATUSES["POST /oauth/token"], STATUSES["POST /oauth/token"]


def test_a_known_customer_answers_200_through_the_same_app() -> None:
    with TestClient(APP, headers=AUTH) as client:
        response = client.get("/erc/ecommerce/connections/customers/cus_ana")
    assert response.status_code == 200
    assert decode(response)["id"] == "cus_ana"
