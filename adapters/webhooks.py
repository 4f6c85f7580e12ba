"""Reading a platform's webhook deliveries (SPEC §9): who sent it, and what it names.

A delivery is trusted only when it proves it comes from the platform: Elastic Path echoes
the integration's shared secret in `X-MOLTIN-SECRET-KEY`; BigCommerce signs with Standard
Webhooks (HMAC-SHA256 over `webhook-id.webhook-timestamp.body`). A delivery that does
not prove it, or that cannot be read, is a `WebhookRefused` and changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

TIMESTAMP_TOLERANCE_S = 300
"""How far a Standard Webhooks timestamp may be from now (the spec's five minutes)."""
MAX_ID_LENGTH = 255
MAX_TIMESTAMP_DIGITS = 12
"""Unix seconds for the next 30,000 years; a longer header is no timestamp."""


class WebhookRefused(Exception):
    """A delivery the bridge does not act on: 401 when it does not prove its sender, 400
    when it cannot be read."""

    def __init__(self, status: Literal[400, 401], reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """What a delivery asks the bridge to forget: an order or a customer.

    `delivery_id` is the platform's id of the delivery, the same on each of its retries.
    `customer_id` is known for an order when the payload carries it.
    """

    delivery_id: str
    topic: str
    kind: Literal["order", "customer"] | None
    resource_id: str | None
    customer_id: str | None = None


def unauthenticated(reason: str) -> WebhookRefused:
    return WebhookRefused(401, reason)


def unreadable(reason: str) -> WebhookRefused:
    return WebhookRefused(400, reason)


def check_shared_secret(given: str | None, secret: str) -> None:
    """The header echoes the configured secret (compared in constant time)."""
    if not given:
        raise unauthenticated("the delivery carries no secret")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        raise unauthenticated("the delivery's secret is wrong")


@dataclass(frozen=True, slots=True)
class StandardHeaders:
    """A Standard Webhooks delivery's signature headers, well formed and timely."""

    delivery_id: str
    stamp: str
    signatures: str


def check_standard_headers(headers: Mapping[str, str], *, now: float) -> StandardHeaders:
    """What the headers alone show of a Standard Webhooks delivery: that it is signed,
    when, and that this is not too long ago (or ahead)."""
    delivery_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not delivery_id or not stamp or not signatures:
        raise unauthenticated("the delivery is not signed")
    if len(delivery_id) > MAX_ID_LENGTH or not _is_timestamp(stamp):
        raise unauthenticated("the delivery's signature headers are malformed")
    if abs(now - int(stamp)) > TIMESTAMP_TOLERANCE_S:
        raise unauthenticated("the delivery's timestamp is too old or in the future")
    return StandardHeaders(delivery_id, stamp, signatures)


def check_standard_signature(
    headers: Mapping[str, str], body: bytes, key: bytes, *, now: float
) -> str:
    """The Standard Webhooks id of a delivery whose signature and timestamp hold."""
    checked = check_standard_headers(headers, now=now)
    signed = b"%s.%s.%s" % (checked.delivery_id.encode(), checked.stamp.encode(), body)
    expected = hmac.new(key, signed, hashlib.sha256).digest()
    for candidate in checked.signatures.split():
        version, _, encoded = candidate.partition(",")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(given, expected):
            return checked.delivery_id
    raise unauthenticated("the delivery's signature does not match")


def _is_timestamp(stamp: str) -> bool:
    """ASCII digits of a sane length: `str.isdigit()` alone also takes superscripts and
    other scripts' digits, which `int()` refuses, and any length, which it may refuse too."""
    return len(stamp) <= MAX_TIMESTAMP_DIGITS and stamp.isascii() and stamp.isdigit()


def json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise unreadable("the delivery is not JSON") from None
    if not isinstance(payload, dict):
        raise unreadable("the delivery is not a JSON object")
    return payload


def identifier(value: object, what: str) -> str:
    """A platform id as text: a non-empty string or a positive integer."""
    if isinstance(value, bool):
        raise unreadable(f"the delivery's {what} is not an id")
    if isinstance(value, int) and value > 0:
        return str(value)
    if isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH:
        return value
    raise unreadable(f"the delivery's {what} is not an id")


def nested(value: object, *keys: str) -> object:
    """`value[k1][k2]…`, or None where a level is missing or not an object."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value
