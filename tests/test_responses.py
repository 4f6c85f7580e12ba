"""The upstream client's own response type (`adapters.responses`): headers looked up
without case, repeats kept, the body as JSON. What a real answer gives is tested with the
client (`test_upstream_client.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from adapters.http1 import Headers
from adapters.responses import PlatformResponse, ResponseHeaders

RAW: Headers = [
    (b"Content-Type", b"application/json"),
    (b"Link", b"</orders?page=2>; rel=next"),
    (b"X-Rate-Limit-Requests-Left", b"12"),
    (b"link", b"</orders?page=9>; rel=last"),
    (b"X-Note", "caf\u00e9".encode("latin-1")),
]


@dataclass(frozen=True)
class Lookup:
    name: str
    joined: str | None
    values: list[str]


LOOKUPS = [
    pytest.param(Lookup("content-type", "application/json", ["application/json"]), id="lower"),
    pytest.param(Lookup("X-RATE-LIMIT-REQUESTS-LEFT", "12", ["12"]), id="upper"),
    pytest.param(
        Lookup(
            "Link",
            "</orders?page=2>; rel=next, </orders?page=9>; rel=last",
            ["</orders?page=2>; rel=next", "</orders?page=9>; rel=last"],
        ),
        id="repeated, in order",
    ),
    pytest.param(Lookup("x-note", "caf\u00e9", ["caf\u00e9"]), id="latin-1"),
    pytest.param(Lookup("retry-after", None, []), id="absent"),
]


@pytest.mark.parametrize("lookup", LOOKUPS)
def test_headers_are_found_whatever_the_case_with_every_value(lookup: Lookup) -> None:
    headers = ResponseHeaders(RAW)

    assert headers.get(lookup.name) == lookup.joined
    assert headers.get_list(lookup.name) == lookup.values
    assert (lookup.name in headers) == (lookup.joined is not None)
    if lookup.joined is None:
        assert headers.get(lookup.name, "") == ""
        with pytest.raises(KeyError):
            headers[lookup.name]
    else:
        assert headers[lookup.name] == lookup.joined


def test_headers_keep_what_was_received_and_list_each_name_once() -> None:
    headers = ResponseHeaders(RAW)

    assert headers.raw is RAW
    assert list(headers) == ["content-type", "link", "x-rate-limit-requests-left", "x-note"]
    assert len(headers) == 4
    not_a_name: object = 7  # a mapping is asked about any key, whatever its type
    assert not_a_name not in headers


@dataclass(frozen=True)
class Body:
    content: bytes
    json: Any
    text: str


BODIES = [
    pytest.param(Body(b'{"data":[1,2]}', {"data": [1, 2]}, '{"data":[1,2]}'), id="json"),
    pytest.param(Body(b"null", None, "null"), id="json null"),
    pytest.param(Body(b"\xff<html>", orjson.JSONDecodeError, "\ufffd<html>"), id="not json"),
]


@pytest.mark.parametrize("body", BODIES)
def test_the_body_reads_as_json_or_says_it_is_not(body: Body) -> None:
    response = PlatformResponse(200, [], body.content)

    assert response.content == body.content
    assert response.text == body.text
    if body.json is orjson.JSONDecodeError:
        with pytest.raises(ValueError):
            response.json()
    else:
        assert response.json() == body.json


@pytest.mark.parametrize(
    ("status", "success"),
    [
        pytest.param(199, False, id="informational"),
        pytest.param(200, True, id="ok"),
        pytest.param(204, True, id="no content"),
        pytest.param(299, True, id="last 2xx"),
        pytest.param(301, False, id="redirect"),
        pytest.param(404, False, id="not found"),
    ],
)
def test_success_is_a_2xx_status(status: int, success: bool) -> None:
    assert PlatformResponse(status, [], b"").is_success is success
