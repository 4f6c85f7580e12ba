"""A token endpoint's answer (RFC 6749 §5.1): the token and how long it stays valid."""

from __future__ import annotations

from typing import Any

import pytest

from mappings.errors import MappingError
from mappings.grants import TOKEN_MAX, parse_grant


@pytest.mark.parametrize(
    ("body", "now", "lifetime"),
    [
        ({"access_token": "t", "expires_in": 86399}, 0, 86399),
        ({"access_token": "t", "expires_in": 0.5, "token_type": "bearer"}, 0, 0.5),
        ({"access_token": "t", "expires": 1000}, 400, 600),
        ({"access_token": "t", "expires_in": 3600, "expires": 1000}, 400, 600),
        ({"access_token": "t", "expires_in": 60, "expires": 1000}, 400, 60),
    ],
)
def test_the_lifetime_is_the_shorter_reading(
    body: dict[str, Any], now: float, lifetime: float
) -> None:
    grant = parse_grant(body)
    assert grant.access_token == "t"
    assert grant.lifetime(now=now) == lifetime


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"access_token": "", "expires_in": 3600}, "access_token"),
        ({"access_token": "t" * (TOKEN_MAX + 1), "expires_in": 3600}, "access_token"),
        ({"access_token": 7, "expires_in": 3600}, "access_token"),
        ({"expires_in": 3600}, "access_token"),
        ({"access_token": "t"}, "expires"),
        ({"access_token": "t", "expires_in": "3600"}, "expires_in"),
        ({"access_token": "t", "expires_in": True}, "expires_in"),
        ({"access_token": "t", "expires_in": 0}, "expires_in"),
        ({"access_token": "t", "expires_in": -5}, "expires_in"),
        ({"access_token": "t", "expires": "soon"}, "expires"),
        (["not", "an", "object"], ""),
    ],
)
def test_an_unusable_grant_names_the_field(body: Any, path: str) -> None:
    with pytest.raises(MappingError) as caught:
        parse_grant(body).lifetime(now=0)
    assert caught.value.path == path
    assert "t" * 50 not in str(caught.value)
