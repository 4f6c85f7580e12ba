"""Opaque, tamper-evident paging cursors (SPEC §2 Paging).

A cursor carries the adapter's resume state, a digest of what it was issued for (route,
customer, order, order_by, filters) and an expiry, signed with HMAC-SHA256 with secrets
that can be rotated (`bridge/signing.py`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from bridge.signing import SigningSecrets

MAX_CURSOR_LENGTH = 2048
DEFAULT_TTL_S = 3600.0


class CursorError(ValueError):
    pass


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    """The bytes `text` spells, only when it spells them exactly as `_b64encode` does: the
    standard decoder skips characters outside the alphabet, takes padding and ignores the
    unused low bits of the last character, so that many spellings give the same bytes and
    an altered cursor would pass the signature check. Spelled again, such bytes differ
    from `text`."""
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64encode(raw) != text:
        raise ValueError("not the canonical spelling")
    return raw


def binding_digest(binding: Mapping[str, str | None]) -> str:
    canonical = orjson.dumps(dict(binding), option=orjson.OPT_SORT_KEYS)
    return _b64encode(hashlib.sha256(canonical).digest()[:18])


class CursorCodec:
    def __init__(
        self,
        secrets: Sequence[bytes],
        *,
        ttl: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secrets = SigningSecrets(secrets, what="cursor")
        self._ttl = ttl
        self._clock = clock

    def _sign(self, payload: bytes, secret: bytes) -> bytes:
        return hmac.new(secret, payload, hashlib.sha256).digest()

    def encode(self, binding: Mapping[str, str | None], state: Mapping[str, Any]) -> str:
        payload = orjson.dumps(
            {"b": binding_digest(binding), "s": dict(state), "x": int(self._clock() + self._ttl)}
        )
        return f"{_b64encode(payload)}.{_b64encode(self._sign(payload, self._secrets.signing))}"

    def decode(self, cursor: str, binding: Mapping[str, str | None]) -> dict[str, Any]:
        """The resume state, or CursorError saying why the cursor is refused."""
        if len(cursor) > MAX_CURSOR_LENGTH or cursor.count(".") != 1:
            raise CursorError("malformed cursor")
        encoded_payload, encoded_signature = cursor.split(".")
        try:
            payload = _b64decode(encoded_payload)
            signature = _b64decode(encoded_signature)
        except ValueError:
            raise CursorError("malformed cursor") from None
        secrets = self._secrets.verifying
        if not any(hmac.compare_digest(signature, self._sign(payload, s)) for s in secrets):
            raise CursorError("cursor signature does not match")
        try:
            content = orjson.loads(payload)
            digest, state, expiry = content["b"], content["s"], content["x"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise CursorError("malformed cursor") from None
        if not isinstance(state, dict) or not isinstance(expiry, int):
            raise CursorError("malformed cursor")
        if expiry < self._clock():
            raise CursorError("cursor has expired")
        if not hmac.compare_digest(str(digest), binding_digest(binding)):
            raise CursorError("cursor was issued for another request")
        return state
