"""No credential, token or card number reaches the logs: a whole scenario is run over real
HTTP against the Elastic Path emulator, then the captured output is searched for every
secret and token that was used."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog

from adapters.elasticpath import ElasticPathAdapter
from bridge.app import create_app
from bridge.logs import configure_logging
from bridge.redaction import REDACTED, Redactor, mask_card
from tests.conftest import FAST, R, settings
from tests.emulators import elasticpath_fixtures as fx
from tests.emulators.elasticpath import CLIENT_ID, CLIENT_SECRET, ElasticPathEmulator, error_body
from tests.platform_settings import elasticpath_settings
from tests.servers import serve

API_KEY = "api-key-5e0b77c1d2-8f4a-4b6c-9d13-a0e2"
GUESSED_KEY = "guessed-key-0a9f3c"
BASIC_USER, BASIC_PASSWORD = "agent", "basic-password-61b2-7c3e-4a90-b5d8"
OAUTH_ID, OAUTH_SECRET = "talkdesk", "oauth-secret-2c8d4e-61f0-4e2b-a7c9"
TOKEN_SECRET = "token-signing-secret-for-the-redaction-test"
CURSOR_SECRET = "cursor-signing-secret-7f3e-2d91-4c0a-b6e5"
CARD = "4111 1111 1111 1111"
CARD_DIGITS = CARD.replace(" ", "")
SCOPES = "erc-ecommerce-connections-customers:read+erc-ecommerce-connections-orders:read"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def logged(capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    configure_logging("debug")
    capsys.readouterr()
    yield
    logging.getLogger().handlers[:] = []


def run_scenario(emulator: ElasticPathEmulator, platform_url: str) -> list[str]:
    """Everything a day in production might do; returns the tokens it saw."""
    adapter = ElasticPathAdapter(
        elasticpath_settings(platform_url),
        http=FAST,
    )
    app = create_app(
        settings(
            api_keys=API_KEY,
            basic_users=f"{BASIC_USER}:{BASIC_PASSWORD}",
            oauth_clients=f"{OAUTH_ID}:{OAUTH_SECRET}:{SCOPES}",
            token_secret=TOKEN_SECRET,
            cursor_secret=CURSOR_SECRET,
            cache_ttl_s=0,
        ),
        adapter=adapter,
    )
    tokens: list[str] = []
    customer = f"{R}/customers/{fx.MARIA}"
    # One platform call a read (R1 sends the addresses call beside the customer's).
    orders = f"{R}/customers/{fx.MARIA}/orders"
    with serve(app) as base, httpx.Client(base_url=base) as http:
        for form, headers in (
            (
                {"grant_type": "client_credentials"},
                {"Authorization": basic(OAUTH_ID, OAUTH_SECRET)},
            ),
            (
                {
                    "grant_type": "client_credentials",
                    "client_id": OAUTH_ID,
                    "client_secret": OAUTH_SECRET,
                },
                {},
            ),
        ):
            issued = http.post("/oauth/token", data=form, headers=headers)
            assert issued.status_code == 200
            tokens.append(issued.json()["access_token"])
        for headers in (
            {"X-API-Key": API_KEY},
            {"Authorization": basic(BASIC_USER, BASIC_PASSWORD)},
            {"Authorization": f"Bearer {tokens[0]}"},
        ):
            assert http.get(customer, headers=headers).status_code == 200
            first = http.get(f"{customer}/orders?limit=2", headers=headers)
            assert first.status_code == 200
            assert (
                http.get(first.json()["_links"]["next"]["href"], headers=headers).status_code == 200
            )
        for headers in (
            {"X-API-Key": GUESSED_KEY},
            {"Authorization": basic(BASIC_USER, "wrong-" + BASIC_PASSWORD)},
            {"Authorization": f"Bearer {tokens[1][:-3]}abc"},
        ):
            assert http.get(customer, headers=headers).status_code == 401
        wrong_client = http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": basic(OAUTH_ID, OAUTH_SECRET + "x")},
        )
        assert wrong_client.status_code == 401

        # The platform answers with error bodies that quote what they should not.
        platform_token = next(
            r.authorization for r in emulator.requests if r.authorization is not None
        ).partition(" ")[2]
        tokens.append(platform_token)
        emulator.fail_next(
            401,
            error_body(
                401,
                "Unauthorized",
                f"client_secret={CLIENT_SECRET} is not valid; "
                f"Authorization: Bearer {platform_token}",
            ),
            times=2,  # the adapter renews its token once after a 401
        )
        assert http.get(orders, headers={"X-API-Key": API_KEY}).status_code == 503
        emulator.fail_next(
            400,
            error_body(
                400,
                f"card {CARD} declined",
                json.dumps({"access_token": platform_token, "client_id": CLIENT_ID}),
            ),
        )
        assert http.get(orders, headers={"X-API-Key": API_KEY}).status_code == 502

    # Lines other code might write: uvicorn's logger and a careless structlog call.
    logging.getLogger("uvicorn.error").warning(
        "bad request with headers %s", {"authorization": f"Bearer {tokens[0]}"}
    )
    structlog.get_logger("erc_bridge.test").info(
        "debugging",
        headers={"X-API-Key": API_KEY, "Authorization": basic(BASIC_USER, BASIC_PASSWORD)},
        raw=[(b"x-api-key", GUESSED_KEY.encode())],
        card_number=CARD_DIGITS,
        note=f"paid with {CARD_DIGITS} using token {tokens[1]}",
    )
    return tokens


def test_no_secret_or_token_appears_in_any_log_line(
    logged: None, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator = ElasticPathEmulator(fx.default_store())
    with serve(emulator.app) as platform_url:
        tokens = run_scenario(emulator, platform_url)
    output = capsys.readouterr()
    text = output.out + output.err
    lines = [json.loads(line) for line in output.out.splitlines() if line.strip()]

    events = {line["event"] for line in lines}
    assert {
        "request",
        "platform_credentials_rejected",
        "platform_rejected_request",
        "debugging",
    } <= events
    assert any("bad request with headers" in line["event"] for line in lines)
    assert sum(1 for line in lines if line["event"] == "request") >= 15

    secrets = [
        API_KEY,
        GUESSED_KEY,
        BASIC_PASSWORD,
        basic(BASIC_USER, BASIC_PASSWORD).split()[1],
        OAUTH_SECRET,
        basic(OAUTH_ID, OAUTH_SECRET).split()[1],
        TOKEN_SECRET,
        CURSOR_SECRET,
        CLIENT_SECRET,
        CARD,
        CARD_DIGITS,
        *tokens,
    ]
    for secret in secrets:
        assert secret not in text, secret
    for token in tokens:  # not even the signature on its own
        assert token.rsplit(".", 1)[-1] not in text
    assert "************1111" in text
    assert REDACTED in text


# The processor itself.


@pytest.fixture
def redactor() -> Redactor:
    redactor = Redactor()
    redactor.register(["configured-secret-1", "abc"])
    return redactor


def run(redactor: Redactor, **event: Any) -> dict[str, Any]:
    return dict(redactor(None, "info", dict(event)))


@pytest.mark.parametrize(
    "key",
    [
        "Authorization",
        "authorization",
        "X-API-Key",
        "x_api_key",
        "api_key",
        "client_secret",
        "access_token",
        "refresh_token",
        "password",
        "cookie",
        "token",
    ],
)
def test_sensitive_keys_are_redacted_at_any_depth(redactor: Redactor, key: str) -> None:
    event = run(redactor, top={key: "v-1"}, deep=[{"x": {key: "v-2"}}], **{key: "v-3"})
    assert event == {"top": {key: REDACTED}, "deep": [{"x": {key: REDACTED}}], key: REDACTED}


def test_ordinary_keys_are_kept(redactor: Redactor) -> None:
    event = run(
        redactor, token_type="Bearer", expires_in=600, status=401, route="/oauth/token", n=12
    )
    assert event == {
        "token_type": "Bearer",
        "expires_in": 600,
        "status": 401,
        "route": "/oauth/token",
        "n": 12,
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("key configured-secret-1 used", f"key {REDACTED} used"),
        ("Authorization: Bearer abc.def-ghi", f"Authorization: Bearer {REDACTED}"),
        ("authorization=Basic Zm9vOmJhcg==", f"authorization=Basic {REDACTED}"),
        ("sent Bearer eyJhbGciOi.x.y now", f"sent Bearer {REDACTED} now"),
        ("Basic dXNlcjpwYXNz", f"Basic {REDACTED}"),
        ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig", f"token {REDACTED}"),
        ("client_secret=s3cr3t&grant_type=x", f"client_secret={REDACTED}&grant_type=x"),
        (
            '{"access_token": "opaque123", "expires_in": 3600}',
            f'{{"access_token": "{REDACTED}", "expires_in": 3600}}',
        ),
        ("password: hunter2", f"password: {REDACTED}"),
        (f"card {CARD} ok", "card ************1111 ok"),
        ("card 5555-5555-5555-4444", "card ************4444"),
        ("amex 378282246310005", "amex ***********0005"),
        ("order 4111111111111112 (fails Luhn)", "order 4111111111111112 (fails Luhn)"),
        ("at 1700000000000 ms", "at 1700000000000 ms"),
        (
            'WWW-Authenticate: Basic realm="erc-bridge"',
            'WWW-Authenticate: Basic realm="erc-bridge"',
        ),
        ("nothing to see", "nothing to see"),
        ("The access token has expired", "The access token has expired"),
        ("Basic authentication failed", "Basic authentication failed"),
        ("bearer 8ae9c0d1f2", f"bearer {REDACTED}"),
    ],
)
def test_text_is_scrubbed(redactor: Redactor, text: str, expected: str) -> None:
    assert run(redactor, event=text)["event"] == expected


def test_short_values_are_not_hunted(redactor: Redactor) -> None:
    assert run(redactor, event="abc def")["event"] == "abc def"


def test_card_fields_keep_the_last_four(redactor: Redactor) -> None:
    assert run(redactor, card_number=CARD)["card_number"] == "************1111"
    assert run(redactor, pan=int(CARD_DIGITS))["pan"] == "************1111"
    assert mask_card("1234") == REDACTED


def test_header_lists_are_judged_by_name(redactor: Redactor) -> None:
    event = run(redactor, headers=[(b"authorization", b"Basic Zm9vOmJhcg=="), ("accept", "*/*")])
    assert event["headers"] == [["authorization", REDACTED], ["accept", "*/*"]]


def test_exceptions_are_scrubbed_too(logged: None, capsys: pytest.CaptureFixture[str]) -> None:
    held = "held-in-a-local-9d8c"  # frame locals stay out of logged tracebacks
    assert held
    try:
        raise RuntimeError(f"upstream said client_secret={CLIENT_SECRET} with card {CARD}")
    except RuntimeError:
        structlog.get_logger("erc_bridge.test").exception("failed")
        logging.getLogger("uvicorn.error").exception("failed too")
    out = capsys.readouterr().out
    assert out.count("client_secret=[REDACTED]") == 2
    assert CARD not in out
    assert held not in out
