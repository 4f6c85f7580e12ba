"""The bridge's own OAuth2 token endpoint (RFC 6749 §4.4) and the bearer tokens it issues."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from starlette.testclient import TestClient

from adapters.demo import DemoAdapter
from bridge.app import create_app
from bridge.auth import CUSTOMERS_READ, ORDERS_READ
from bridge.config import StartupError, load_settings
from bridge.cursors import CursorCodec
from bridge.oauth import AccessTokens, ClientRegistry
from tests.conftest import (
    BOTH_SCOPES,
    CLIENT_ID,
    CLIENT_SECRET,
    TOKEN_SECRET,
    ManualClock,
    R,
    RecordingDemoAdapter,
    decode,
    settings,
)
from tests.servers import serve
from tests.unsent_bodies import answer_before_the_body

TOKEN_URL = "/oauth/token"
ROUTES = {
    f"{R}/customers/cus_ana": CUSTOMERS_READ,
    f"{R}/customers/cus_ana/orders": ORDERS_READ,
    f"{R}/customers/cus_ana/orders/ord_1001": ORDERS_READ,
    f"{R}/customers/cus_ana/orders/ord_1001/items": ORDERS_READ,
    f"{R}/customers/cus_ana/most-recent-order": ORDERS_READ,
    "/erc/ecommerce/customers/cus_ana": CUSTOMERS_READ,
    "/erc/ecommerce/customers/cus_ana/most-recent-order": ORDERS_READ,
}
READER_SECRET = "reader-secret-1-4c8e-9a2f-b07d-53e1"
ORDERS_SECRET = "orders-secret-2-7e1b-40d9-a6c3-8f25"
CUSTOMERS_ONLY = f"reader:{READER_SECRET}:{CUSTOMERS_READ}"
ORDERS_ONLY = f"orders:{ORDERS_SECRET}:{ORDERS_READ}"
ALL_CLIENTS = ",".join([f"{CLIENT_ID}:{CLIENT_SECRET}:{BOTH_SCOPES}", CUSTOMERS_ONLY, ORDERS_ONLY])


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_for(
    client: TestClient, client_id: str = CLIENT_ID, secret: str = CLIENT_SECRET, **form: str
) -> str:
    response = client.post(
        TOKEN_URL,
        data={"grant_type": "client_credentials", **form},
        headers=basic(client_id, secret),
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def oauth_error(response: Any, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["error"] == error
    assert set(body) <= {"error", "error_description"}
    return dict(body)


@pytest.fixture
def oauth(
    make_app_client: Callable[..., TestClient], recorder: RecordingDemoAdapter, clock: ManualClock
) -> TestClient:
    return make_app_client(recorder, clock=clock, headers={}, oauth_clients=ALL_CLIENTS)


# The flow end to end, as Talkdesk runs it: a real OAuth client library over real HTTP.


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_client_credentials_flow_with_an_oauth_library(auth_method: str) -> None:
    app = create_app(
        settings(api_keys="", oauth_clients=ALL_CLIENTS, token_secret=TOKEN_SECRET),
        adapter=DemoAdapter(),
    )
    with (
        serve(app) as base,
        OAuth2Client(
            CLIENT_ID,
            CLIENT_SECRET,
            scope=f"{CUSTOMERS_READ} {ORDERS_READ}",
            token_endpoint_auth_method=auth_method,
        ) as talkdesk,
    ):
        token = talkdesk.fetch_token(base + TOKEN_URL, grant_type="client_credentials")
        assert token["token_type"] == "Bearer"
        assert token["expires_in"] == 600
        assert set(token["scope"].split()) == {CUSTOMERS_READ, ORDERS_READ}
        for path in ROUTES:
            response = talkdesk.get(base + path)
            assert response.status_code == 200, (path, response.text)
        with httpx.Client(base_url=base) as anonymous:
            refused = anonymous.get(f"{R}/customers/cus_ana")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith('Bearer realm="erc-bridge"')
    claims = jwt.decode(token["access_token"], TOKEN_SECRET, algorithms=["HS256"])
    assert set(claims) == {"exp", "iat", "sub", "scope", "jti"}
    assert claims["sub"] == CLIENT_ID
    assert claims["exp"] - claims["iat"] == 600
    assert jwt.get_unverified_header(token["access_token"])["alg"] == "HS256"


def test_token_response_follows_rfc_6749(oauth: TestClient, clock: ManualClock) -> None:
    response = oauth.post(
        TOKEN_URL,
        data={"grant_type": "client_credentials", "scope": ORDERS_READ},
        headers=basic(CLIENT_ID, CLIENT_SECRET),
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("Bearer", 600, ORDERS_READ)
    claims = jwt.decode(
        body["access_token"],
        TOKEN_SECRET,
        algorithms=["HS256"],
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["iat"] == int(clock.now)
    assert claims["exp"] == int(clock.now) + 600
    assert claims["scope"] == ORDERS_READ
    second = token_for(oauth)
    assert jwt.decode(second, options={"verify_signature": False})["jti"] != claims["jti"]


def test_form_credentials_and_default_scope(oauth: TestClient) -> None:
    response = oauth.post(
        TOKEN_URL,
        data={
            "grant_type": "client_credentials",
            "client_id": "reader",
            "client_secret": READER_SECRET,
        },
    )
    assert response.status_code == 200
    assert response.json()["scope"] == CUSTOMERS_READ


# Scopes per route (SPEC §1).


@pytest.mark.parametrize(("path", "scope"), ROUTES.items())
@pytest.mark.parametrize(
    ("client_id", "secret", "granted"),
    [
        ("reader", READER_SECRET, {CUSTOMERS_READ}),
        ("orders", ORDERS_SECRET, {ORDERS_READ}),
        (CLIENT_ID, CLIENT_SECRET, {CUSTOMERS_READ, ORDERS_READ}),
    ],
)
def test_each_route_needs_its_scope(
    oauth: TestClient,
    recorder: RecordingDemoAdapter,
    path: str,
    scope: str,
    client_id: str,
    secret: str,
    granted: set[str],
) -> None:
    token = token_for(oauth, client_id, secret)
    response = oauth.get(path, headers=bearer(token))
    if scope in granted:
        assert response.status_code == 200
        assert recorder.calls
        return
    assert response.status_code == 403
    body = decode(response)
    assert body["code"] == "forbidden"
    assert scope in body["description"]
    assert response.headers["www-authenticate"] == (
        f'Bearer realm="erc-bridge", error="insufficient_scope", scope="{scope}"'
    )
    assert recorder.calls == []


def test_narrower_scope_than_the_client_has(oauth: TestClient) -> None:
    token = token_for(oauth, scope=CUSTOMERS_READ)
    assert oauth.get(f"{R}/customers/cus_ana", headers=bearer(token)).status_code == 200
    assert oauth.get(f"{R}/customers/cus_ana/orders", headers=bearer(token)).status_code == 403


# Token endpoint errors (RFC 6749 §5.2).


@pytest.mark.parametrize(
    ("form", "headers", "status", "error"),
    [
        (
            {"grant_type": "client_credentials"},
            basic(CLIENT_ID, "wrong-secret"),
            401,
            "invalid_client",
        ),
        (
            {"grant_type": "client_credentials"},
            basic("nobody", CLIENT_SECRET),
            401,
            "invalid_client",
        ),
        ({"grant_type": "client_credentials"}, {}, 401, "invalid_client"),
        (
            {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": "nope"},
            {},
            401,
            "invalid_client",
        ),
        ({"grant_type": "client_credentials", "client_id": CLIENT_ID}, {}, 401, "invalid_client"),
        (
            {"grant_type": "client_credentials"},
            {"Authorization": "Basic %%%"},
            401,
            "invalid_client",
        ),
        (
            {"grant_type": "client_credentials"},
            {"Authorization": "Bearer x"},
            401,
            "invalid_client",
        ),
        (
            {
                "grant_type": "client_credentials",
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
            },
            basic(CLIENT_ID, CLIENT_SECRET),
            400,
            "invalid_request",
        ),
        ({}, basic(CLIENT_ID, CLIENT_SECRET), 400, "invalid_request"),
        ({"grant_type": ""}, basic(CLIENT_ID, CLIENT_SECRET), 400, "invalid_request"),
        (
            {"grant_type": "password"},
            basic(CLIENT_ID, CLIENT_SECRET),
            400,
            "unsupported_grant_type",
        ),
        (
            {"grant_type": "refresh_token"},
            basic(CLIENT_ID, CLIENT_SECRET),
            400,
            "unsupported_grant_type",
        ),
        (
            {"grant_type": "client_credentials", "scope": "admin"},
            basic(CLIENT_ID, CLIENT_SECRET),
            400,
            "invalid_scope",
        ),
        (
            {"grant_type": "client_credentials", "scope": ORDERS_READ},
            basic("reader", READER_SECRET),
            400,
            "invalid_scope",
        ),
    ],
)
def test_token_request_errors(
    oauth: TestClient, form: dict[str, str], headers: dict[str, str], status: int, error: str
) -> None:
    body = oauth_error(oauth.post(TOKEN_URL, data=form, headers=headers), status, error)
    assert CLIENT_SECRET not in json.dumps(body)


def test_invalid_client_carries_a_basic_challenge(oauth: TestClient) -> None:
    response = oauth.post(
        TOKEN_URL, data={"grant_type": "client_credentials"}, headers=basic(CLIENT_ID, "wrong")
    )
    oauth_error(response, 401, "invalid_client")
    assert response.headers["www-authenticate"].startswith('Basic realm="erc-bridge"')


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"grant_type": "client_credentials"}', "application/json"),
        (b"grant_type=client_credentials&grant_type=client_credentials", None),
        (b"grant_type=client_credentials&scope=a&scope=b", None),
        (b"grant_type=client_credentials&" + b"x=1&" * 20, None),
        (b"grant_type=client_credentials&pad=" + b"x" * 5000, None),
        (b"grant_type=client_credentials&\xff=1", None),
        (b"grant_type", None),
    ],
)
def test_malformed_token_requests_are_invalid_request(
    oauth: TestClient, content: bytes, content_type: str | None
) -> None:
    response = oauth.post(
        TOKEN_URL,
        content=content,
        headers={
            **basic(CLIENT_ID, CLIENT_SECRET),
            "Content-Type": content_type or "application/x-www-form-urlencoded",
        },
    )
    oauth_error(response, 400, "invalid_request")


FORM = {"Content-Type": "application/x-www-form-urlencoded"}
REFUSED_BY_HEADERS = {
    "not-a-form": ({"Content-Type": "application/json"}, ALL_CLIENTS, b"HTTP/1.1 400 "),
    "malformed-basic": ({**FORM, "Authorization": "Basic %%%"}, ALL_CLIENTS, b"HTTP/1.1 401 "),
    "wrong-basic": ({**FORM, **basic(CLIENT_ID, "wrong")}, ALL_CLIENTS, b"HTTP/1.1 401 "),
    "no-client-configured": (FORM, "", b"HTTP/1.1 401 "),
}


@pytest.mark.parametrize(
    ("headers", "clients", "status_line"), REFUSED_BY_HEADERS.values(), ids=list(REFUSED_BY_HEADERS)
)
def test_a_token_request_its_headers_refuse_is_answered_before_its_body(
    headers: dict[str, str], clients: str, status_line: bytes
) -> None:
    app = create_app(
        settings(api_keys="k" * 32, oauth_clients=clients, token_secret=TOKEN_SECRET),
        adapter=DemoAdapter(),
    )
    with serve(app) as base:
        answer = answer_before_the_body(base, TOKEN_URL, headers)
    assert answer.startswith(status_line), answer


def test_wrong_basic_credentials_are_refused_whatever_the_form_says(oauth: TestClient) -> None:
    form = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": "x"}
    response = oauth.post(TOKEN_URL, data=form, headers=basic(CLIENT_ID, "wrong"))
    oauth_error(response, 401, "invalid_client")


def test_token_endpoint_only_takes_post(oauth: TestClient) -> None:
    response = oauth.get(TOKEN_URL)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_form_encoded_basic_credentials_are_accepted(
    make_app_client: Callable[..., TestClient],
) -> None:
    client = make_app_client(
        headers={}, oauth_clients=f"app:p+ss%w0rd-0123456789abcdef-0123456:{ORDERS_READ}"
    )
    as_configured, form_encoded = (
        "p+ss%w0rd-0123456789abcdef-0123456",
        "p%2Bss%25w0rd-0123456789abcdef-0123456",
    )
    for secret in (as_configured, form_encoded):  # RFC 6749 §2.3.1 asks for the encoded form
        response = client.post(
            TOKEN_URL, data={"grant_type": "client_credentials"}, headers=basic("app", secret)
        )
        assert response.status_code == 200, secret


# Bad bearer tokens.


def forge(claims: dict[str, Any], key: str = TOKEN_SECRET, **header: Any) -> str:
    return jwt.encode(claims, key, algorithm="HS256", headers={"typ": "at+jwt", **header})


def unsigned(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'at+jwt'})}.{part(claims)}."


def good_claims(clock: ManualClock, **changes: Any) -> dict[str, Any]:
    claims = {
        "sub": CLIENT_ID,
        "scope": f"{CUSTOMERS_READ} {ORDERS_READ}",
        "iat": int(clock.now),
        "exp": int(clock.now) + 600,
        "jti": "j1",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


BAD_TOKENS: dict[str, Callable[[ManualClock], str]] = {
    "alg none": lambda clock: unsigned(good_claims(clock)),
    "wrong secret": lambda clock: forge(
        good_claims(clock), key="another-secret-of-32-bytes-or-more!!"
    ),
    "expired": lambda clock: forge(
        good_claims(clock, iat=int(clock.now) - 700, exp=int(clock.now) - 100)
    ),
    "issued in the future": lambda clock: forge(good_claims(clock, iat=int(clock.now) + 3600)),
    "not valid before a later time": lambda clock: forge(
        good_claims(clock, nbf=int(clock.now) + 1)
    ),
    "string nbf": lambda clock: forge(good_claims(clock, nbf=str(int(clock.now)))),
    "no exp": lambda clock: forge(good_claims(clock, exp=None)),
    "no scope": lambda clock: forge(good_claims(clock, scope=None)),
    "no jti": lambda clock: forge(good_claims(clock, jti=None)),
    "unknown client": lambda clock: forge(good_claims(clock, sub="someone-else")),
    "scope beyond the client's": lambda clock: forge(
        good_claims(clock, sub="reader", scope=f"{CUSTOMERS_READ} {ORDERS_READ}")
    ),
    "not an access token": lambda clock: forge(good_claims(clock), typ="JWT"),
    "string exp": lambda clock: forge(good_claims(clock, exp="9999999999")),
    "garbage": lambda clock: "not-a-jwt",
    "empty": lambda clock: "",
    "huge": lambda clock: "e" * 5000,
}


@pytest.mark.parametrize("kind", BAD_TOKENS)
def test_bad_bearer_tokens_are_401(
    oauth: TestClient, recorder: RecordingDemoAdapter, clock: ManualClock, kind: str
) -> None:
    response = oauth.get(f"{R}/customers/cus_ana", headers=bearer(BAD_TOKENS[kind](clock)))
    assert response.status_code == 401
    assert decode(response)["code"] == "unauthorized"
    challenge = response.headers["www-authenticate"]
    assert 'Bearer realm="erc-bridge", error="invalid_token"' in challenge
    assert recorder.calls == []


@pytest.mark.parametrize("path", ROUTES)
def test_bad_tokens_are_refused_on_every_route(
    oauth: TestClient, recorder: RecordingDemoAdapter, clock: ManualClock, path: str
) -> None:
    for kind in ("alg none", "wrong secret", "expired", "garbage"):
        assert oauth.get(path, headers=bearer(BAD_TOKENS[kind](clock))).status_code == 401, kind
    assert recorder.calls == []


def test_a_token_is_refused_before_its_nbf_and_accepted_from_then_on(
    oauth: TestClient, recorder: RecordingDemoAdapter, clock: ManualClock
) -> None:
    token = forge(good_claims(clock, nbf=int(clock.now) + 60))
    early = oauth.get(f"{R}/customers/cus_ana", headers=bearer(token))
    assert early.status_code == 401
    assert (
        'error_description="The access token is not valid yet"'
        in (early.headers["www-authenticate"])
    )
    assert recorder.calls == []
    clock.advance(59)
    assert oauth.get(f"{R}/customers/cus_ana", headers=bearer(token)).status_code == 401
    clock.advance(1)
    assert oauth.get(f"{R}/customers/cus_ana", headers=bearer(token)).status_code == 200


def test_tampered_token_is_401(oauth: TestClient, recorder: RecordingDemoAdapter) -> None:
    header, payload, signature = token_for(oauth, "reader", READER_SECRET).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = f"{CUSTOMERS_READ} {ORDERS_READ}"
    widened = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    response = oauth.get(
        f"{R}/customers/cus_ana/orders", headers=bearer(f"{header}.{widened}.{signature}")
    )
    assert response.status_code == 401
    assert recorder.calls == []


def test_a_good_forged_shape_is_accepted_so_the_bad_ones_mean_something(
    oauth: TestClient, clock: ManualClock
) -> None:
    assert (
        oauth.get(f"{R}/customers/cus_ana", headers=bearer(forge(good_claims(clock)))).status_code
        == 200
    )


def test_challenge_advertises_every_configured_scheme(oauth: TestClient) -> None:
    challenge = oauth.get(f"{R}/customers/cus_ana").headers["www-authenticate"]
    assert challenge == ('ApiKey realm="erc-bridge", header="X-API-Key", Bearer realm="erc-bridge"')
    bad = oauth.get(f"{R}/customers/cus_ana", headers=bearer("x.y.z"))
    assert bad.headers["www-authenticate"].endswith(
        'Bearer realm="erc-bridge", error="invalid_token", '
        'error_description="The access token is malformed"'
    )


def test_bearer_is_refused_without_oauth_clients(
    make_app_client: Callable[..., TestClient],
) -> None:
    client = make_app_client(headers={}, oauth_clients="")
    response = client.get(f"{R}/customers/cus_ana", headers=bearer("x.y.z"))
    assert response.status_code == 401
    assert "Bearer" not in response.headers["www-authenticate"]


# Expiry, with a controlled clock.


def test_token_expires_after_its_lifetime(oauth: TestClient, clock: ManualClock) -> None:
    token = token_for(oauth)
    clock.advance(599)
    assert oauth.get(f"{R}/customers/cus_ana", headers=bearer(token)).status_code == 200
    clock.advance(1)
    expired = oauth.get(f"{R}/customers/cus_ana", headers=bearer(token))
    assert expired.status_code == 401
    assert 'error_description="The access token has expired"' in expired.headers["www-authenticate"]
    assert oauth.get(f"{R}/customers/cus_ana", headers=bearer(token_for(oauth))).status_code == 200


def test_token_lifetime_is_configurable(
    make_app_client: Callable[..., TestClient], clock: ManualClock
) -> None:
    client = make_app_client(clock=clock, headers={}, token_ttl_s=60)
    response = client.post(
        TOKEN_URL,
        data={"grant_type": "client_credentials"},
        headers=basic(CLIENT_ID, CLIENT_SECRET),
    )
    assert response.json()["expires_in"] == 60
    clock.advance(60)
    refused = client.get(f"{R}/customers/cus_ana", headers=bearer(response.json()["access_token"]))
    assert refused.status_code == 401


# Secret rotation: the first secret signs, every secret verifies.

OLD_SECRET = "old-token-secret-0123456789abcdef-0001"
NEW_SECRET = "new-token-secret-0123456789abcdef-0002"


def test_token_secret_rotation(
    make_app_client: Callable[..., TestClient], clock: ManualClock
) -> None:
    before = make_app_client(clock=clock, headers={}, token_secret=OLD_SECRET)
    during = make_app_client(clock=clock, headers={}, token_secret=f"{NEW_SECRET},{OLD_SECRET}")
    after = make_app_client(clock=clock, headers={}, token_secret=NEW_SECRET)
    old_token = token_for(before)
    new_token = token_for(during)

    assert during.get(f"{R}/customers/cus_ana", headers=bearer(old_token)).status_code == 200
    assert during.get(f"{R}/customers/cus_ana", headers=bearer(new_token)).status_code == 200
    jwt.decode(
        new_token,
        NEW_SECRET,
        algorithms=["HS256"],
        options={"verify_exp": False, "verify_iat": False},
    )
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            new_token,
            OLD_SECRET,
            algorithms=["HS256"],
            options={"verify_exp": False, "verify_iat": False},
        )
    assert after.get(f"{R}/customers/cus_ana", headers=bearer(old_token)).status_code == 401
    assert before.get(f"{R}/customers/cus_ana", headers=bearer(new_token)).status_code == 401


def test_cursor_secret_rotation(make_app_client: Callable[..., TestClient]) -> None:
    url = f"{R}/customers/cus_john/orders?limit=5"
    old, new = "old-cursor-secret-0123456789abcdef", "new-cursor-secret-0123456789abcdef"
    before = make_app_client(cursor_secret=old)
    during = make_app_client(cursor_secret=f"{new}, {old}")
    after = make_app_client(cursor_secret=new)
    old_next = decode(before.get(url))["_links"]["next"]["href"]
    page = during.get(old_next.removeprefix("http://testserver"))
    assert page.status_code == 200
    new_next = decode(page)["_links"]["next"]["href"].removeprefix("http://testserver")
    assert after.get(new_next).status_code == 200
    assert before.get(new_next).status_code == 400
    assert after.get(old_next.removeprefix("http://testserver")).status_code == 400


@pytest.mark.parametrize(
    ("sign", "what"),
    [
        (lambda: CursorCodec([]), "cursor"),
        (lambda: AccessTokens([], ClientRegistry([])), "token"),
    ],
)
def test_nothing_is_signed_without_a_secret(sign: Any, what: str) -> None:
    with pytest.raises(ValueError, match=f"at least one {what} secret is required"):
        sign()


# Configuration.


HIDDEN_SECRET = "hidden-value-long-enough-0123456789abcdef"


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("token_secret", "hidden-value-0", "at least 32 bytes"),
        ("oauth_clients", f"app:{HIDDEN_SECRET}-1:admin", "unknown scope"),
        (
            "oauth_clients",
            f"app:{HIDDEN_SECRET}-2:{ORDERS_READ},app:{HIDDEN_SECRET}-3:{ORDERS_READ}",
            "listed twice",
        ),
        ("oauth_clients", f"app:hidden-value-4:{ORDERS_READ}", "the secret of client 'app'"),
        ("oauth_clients", "app:hidden-value-5", "client_id:secret:scope+scope"),
        ("token_ttl_s", "0", "greater than or equal to 1"),
    ],
)
def test_bad_oauth_configuration_stops_startup(variable: str, value: str, problem: str) -> None:
    with pytest.raises(StartupError) as stopped:
        load_settings(_env_file=None, **{variable: value})
    message = str(stopped.value)
    assert f"ERC_BRIDGE_{variable.upper()}" in message
    assert problem in message
    assert "hidden-value" not in message
