"""Inbound authentication: X-API-Key and Basic, constant-time, with WWW-Authenticate."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from starlette.datastructures import Headers

from bridge.auth import CUSTOMERS_READ, ORDERS_READ, Authenticator, Principal
from bridge.errors import ERCError
from bridge.ratelimit import FailedAuthLimiter
from tests.conftest import API_KEY, R, RecordingDemoAdapter, decode

PASSWORD = "agent-password-8d2f-41c7-b39a-0e6d5c"
COLON_PASSWORD = "pa:ss-with-a-colon-5a1e-4f7b-9c20-d3"
KEY_ONE = "key-one-6b0d-4e2a-8f17-c39e5a1b2c3d"
KEY_TWO = "key-two-1f9c-47d0-a26b-e58f0c4d7a91"


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": "wrong"},
        {"X-API-Key": ""},
        {"X-API-Key": API_KEY[:-1]},
        basic("agent", "wrong"),
        basic("nobody", "pw"),
        {"Authorization": "Basic !!!notbase64"},
        {"Authorization": "Bearer abc"},
        {"Authorization": "Digest x"},
    ],
)
def test_missing_or_wrong_credentials_are_401(
    make_client: Any, recorder: RecordingDemoAdapter, headers: dict[str, str]
) -> None:
    client = make_client(recorder, basic_users=f"agent:{PASSWORD}")
    client.headers.clear()
    response = client.get(f"{R}/customers/cus_ana", headers=headers)
    assert response.status_code == 401
    assert decode(response)["code"] == "unauthorized"
    challenge = response.headers["www-authenticate"]
    assert 'Basic realm="erc-bridge"' in challenge and "X-API-Key" in challenge
    assert recorder.calls == []


def test_api_key_and_basic_users_are_accepted(make_client: Any) -> None:
    client = make_client(
        api_keys=f"{KEY_ONE}, {KEY_TWO}", basic_users=f"agent:{PASSWORD},other:{COLON_PASSWORD}"
    )
    client.headers.clear()
    accepted = ({"X-API-Key": KEY_TWO}, basic("agent", PASSWORD), basic("other", COLON_PASSWORD))
    for headers in accepted:
        assert client.get(f"{R}/customers/cus_ana", headers=headers).status_code == 200


def test_demo_without_credentials_is_open(make_client: Any) -> None:
    client = make_client(api_keys="")
    client.headers.clear()
    assert client.get(f"{R}/customers/cus_ana").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{"X-API-Key": "anything"}, basic("someone", "whatever"), {"Authorization": "Bearer x.y.z"}],
    ids=["api-key", "basic", "bearer"],
)
def test_an_open_demo_answers_whatever_credentials_come(
    make_client: Any, headers: dict[str, str]
) -> None:
    client = make_client(api_keys="")
    client.headers.clear()
    assert client.get(f"{R}/customers/cus_ana", headers=headers).status_code == 200


def test_demo_with_credentials_is_closed(make_client: Any) -> None:
    client = make_client()
    client.headers.clear()
    assert client.get(f"{R}/customers/cus_ana").status_code == 401


def test_scopes_limit_routes() -> None:
    reader = Principal("client", frozenset({CUSTOMERS_READ}))
    Authenticator.require(reader, CUSTOMERS_READ)
    with pytest.raises(ERCError) as refused:
        Authenticator.require(reader, ORDERS_READ)
    assert refused.value.status == 403
    assert ORDERS_READ in (refused.value.description or "")


def test_every_key_is_compared_even_after_a_match() -> None:
    auth = Authenticator(api_keys=["a", "b", "c"])
    assert auth.authenticate(Headers({"x-api-key": "a"})).name == "api-key"
    assert auth.authenticate(Headers({"x-api-key": "c"})).name == "api-key"


def test_a_locked_out_address_is_refused_only_its_wrong_credentials() -> None:
    key = "auth-test-key-0f3b8d6a2c4e1957ab"
    auth = Authenticator(api_keys=[key], limiter=FailedAuthLimiter(limit=2, window_s=60))
    wrong = Headers({"x-api-key": "auth-test-wrong-key-00000000000000"})
    for _ in range(2):
        with pytest.raises(ERCError) as refused:
            auth.authenticate(wrong, client="192.0.2.1")
        assert refused.value.status == 401
    with pytest.raises(ERCError) as locked:
        auth.authenticate(wrong, client="192.0.2.1")
    assert locked.value.status == 429
    assert locked.value.headers["Retry-After"] == "60"
    assert auth.authenticate(Headers({"x-api-key": key}), client="192.0.2.1").name == "api-key"
    with pytest.raises(ERCError) as missing:
        auth.authenticate(Headers({}), client="192.0.2.1")
    assert missing.value.status == 401  # no credential is no guess
