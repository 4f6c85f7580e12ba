"""Inbound authentication (SPEC §3): X-API-Key and HTTP Basic, compared in constant time."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.datastructures import Headers

from bridge.errors import ERCError

CUSTOMERS_READ = "erc-ecommerce-connections-customers:read"
ORDERS_READ = "erc-ecommerce-connections-orders:read"
REALM = "erc-bridge"


@dataclass(frozen=True)
class Principal:
    """Who is calling; `scopes` None means every scope."""

    name: str
    scopes: frozenset[str] | None = None

    def allows(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes


ANONYMOUS = Principal("anonymous")


def _digest(value: str) -> bytes:
    # Equal-length digests keep compare_digest's timing independent of the secret's length.
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).digest()


def _matches_any(candidate: str, secrets: Iterable[bytes]) -> bool:
    offered = _digest(candidate)
    found = False
    for secret in secrets:
        found |= hmac.compare_digest(offered, secret)
    return found


class Authenticator:
    def __init__(
        self,
        *,
        api_keys: Iterable[str] = (),
        basic_users: Iterable[str] = (),
        open_access: bool = False,
    ) -> None:
        self._api_keys = [_digest(key) for key in api_keys]
        self._passwords: dict[str, bytes] = {}
        for entry in basic_users:
            user, _, password = entry.partition(":")
            self._passwords[user] = _digest(password)
        self._unknown_user = _digest("\x00no such user\x00")
        self.open_access = open_access

    @property
    def challenge(self) -> str:
        schemes = []
        if self._api_keys:
            schemes.append(f'ApiKey realm="{REALM}", header="X-API-Key"')
        if self._passwords or not schemes:
            schemes.append(f'Basic realm="{REALM}", charset="UTF-8"')
        return ", ".join(schemes)

    def unauthorized(self, reason: str) -> ERCError:
        return ERCError(
            401,
            "unauthorized",
            "Missing or invalid credentials",
            description=reason,
            headers={"WWW-Authenticate": self.challenge},
        )

    def authenticate(self, headers: Headers) -> Principal:
        api_key = headers.get("x-api-key")
        authorization = headers.get("authorization")
        if api_key is not None:
            if self._api_keys and _matches_any(api_key, self._api_keys):
                return Principal("api-key")
            raise self.unauthorized("The X-API-Key is not valid")
        if authorization is not None:
            scheme, _, credentials = authorization.partition(" ")
            if scheme.lower() == "basic":
                return self._basic(credentials.strip())
            raise self.unauthorized(f"Unsupported authorization scheme {scheme[:20]!r}")
        if self.open_access:
            return ANONYMOUS
        raise self.unauthorized("No credentials were given")

    def _basic(self, credentials: str) -> Principal:
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise self.unauthorized("Malformed Basic credentials") from None
        user, sep, password = decoded.partition(":")
        expected = self._passwords.get(user, self._unknown_user)
        if sep and hmac.compare_digest(_digest(password), expected) and user in self._passwords:
            return Principal(f"basic:{user}")
        raise self.unauthorized("Wrong user or password")

    @staticmethod
    def require(principal: Principal, scope: str) -> None:
        if not principal.allows(scope):
            raise ERCError(
                403,
                "forbidden",
                "The credentials do not grant access to this route",
                description=f"Required scope: {scope}",
            )
