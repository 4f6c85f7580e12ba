"""Inbound authentication (SPEC §3): X-API-Key, HTTP Basic and the bridge's own bearer
tokens, compared in constant time, with failed attempts rate limited per client address."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from starlette.types import Scope

from bridge.errors import ERCError
from bridge.ratelimit import FailedAuthLimiter

CUSTOMERS_READ = "erc-ecommerce-connections-customers:read"
ORDERS_READ = "erc-ecommerce-connections-orders:read"
ORDERS_WRITE = "erc-ecommerce-connections-orders:write"
SCOPES = (CUSTOMERS_READ, ORDERS_READ, ORDERS_WRITE)
REALM = "erc-bridge"


@dataclass(frozen=True)
class Principal:
    """Who is calling; `scopes` None means every scope."""

    name: str
    scopes: frozenset[str] | None = None
    key_digest: str | None = None
    """For an API key: the first 8 hex digits of its SHA-256, which names it in audit
    lines without revealing it."""

    def allows(self, oauth_scope: str) -> bool:
        return self.scopes is None or oauth_scope in self.scopes

    @property
    def caller(self) -> str:
        """Who acted, as audit lines name them: the OAuth client id, the Basic user name,
        or the API key's digest."""
        if self.key_digest is not None:
            return self.key_digest
        return self.name.partition(":")[2] or self.name


ANONYMOUS = Principal("anonymous")


class InvalidToken(Exception):
    """A bearer token that is malformed, forged or no longer valid."""

    guessed = True
    """Whether the failure counts against the client address (a forged token does,
    an honest token that merely expired does not)."""


class ExpiredToken(InvalidToken):
    guessed = False


class TokenVerifier(Protocol):
    def verify(self, token: str) -> Principal:
        """The token's principal, or InvalidToken."""
        ...


class _Refused(Exception):
    def __init__(self, reason: str, *, guessed: bool = True, token_error: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.guessed = guessed
        self.token_error = token_error


def secret_digest(value: str) -> bytes:
    # Equal-length digests keep compare_digest's timing independent of the secret's length.
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).digest()


def _matches_any(offered: bytes, secrets: Iterable[bytes]) -> bool:
    """Whether the digest `offered` is one of `secrets`, every one of them compared."""
    found = False
    for secret in secrets:
        found |= hmac.compare_digest(offered, secret)
    return found


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


class Authenticator:
    def __init__(
        self,
        *,
        api_keys: Iterable[str] = (),
        basic_users: Iterable[str] = (),
        tokens: TokenVerifier | None = None,
        limiter: FailedAuthLimiter | None = None,
        open_access: bool = False,
    ) -> None:
        self._api_keys = [secret_digest(key) for key in api_keys]
        # Built once: the principal a key names depends on nothing else.
        self._key_principals = {
            digest: Principal("api-key", key_digest=digest.hex()[:8]) for digest in self._api_keys
        }
        self._passwords: dict[str, bytes] = {}
        for entry in basic_users:
            user, _, password = entry.partition(":")
            self._passwords[user] = secret_digest(password)
        self._unknown_user = secret_digest("\x00no such user\x00")
        self._tokens = tokens
        self.limiter = limiter if limiter is not None else FailedAuthLimiter()
        self.open_access = open_access

    def challenge(self, token_error: str | None = None) -> str:
        schemes = []
        if self._api_keys:
            schemes.append(f'ApiKey realm="{REALM}", header="X-API-Key"')
        if self._passwords or not (schemes or self._tokens):
            schemes.append(f'Basic realm="{REALM}", charset="UTF-8"')
        if self._tokens is not None:
            bearer = f'Bearer realm="{REALM}"'
            if token_error is not None:
                bearer += f', error="invalid_token", error_description="{_quoted(token_error)}"'
            schemes.append(bearer)
        return ", ".join(schemes)

    def unauthorized(self, reason: str, *, token_error: bool = False) -> ERCError:
        return ERCError(
            401,
            "unauthorized",
            "Missing or invalid credentials",
            description=reason,
            headers={"WWW-Authenticate": self.challenge(reason if token_error else None)},
        )

    def authenticate(self, headers: Mapping[str, str], client: str | None = None) -> Principal:
        """The caller, or a 401. The credential is checked first: only a wrong one counts
        against `client`, and only a wrong one is answered 429 while it is locked out."""
        try:
            return self._identify(headers)
        except _Refused as refused:
            error = self.unauthorized(refused.reason, token_error=refused.token_error)
            if refused.guessed and client is not None:
                raise self.refuse(client, error) from None
            raise error from None

    def refuse(self, client: str, error: ERCError) -> ERCError:
        """The answer to a wrong credential from `client`: `error`, counted against the
        address, or 429 while the address is locked out."""
        retry_after = self.limiter.failed(client)
        if retry_after is None:
            return error
        return ERCError(
            429,
            "too_many_requests",
            "Too many failed authentications from this address",
            headers={"Retry-After": str(retry_after)},
        )

    def _identify(self, headers: Mapping[str, str]) -> Principal:
        if self.open_access:
            # Talkdesk always sends the credentials its connection was set up with: an
            # open store must answer them too, not only requests that carry none.
            return ANONYMOUS
        api_key = headers.get("x-api-key")
        authorization = headers.get("authorization")
        if api_key is not None:
            offered = secret_digest(api_key)
            if self._api_keys and _matches_any(offered, self._api_keys):
                # Looked up only once the constant-time comparison has found the key.
                return self._key_principals[offered]
            raise _Refused("The X-API-Key is not valid")
        if authorization is not None:
            scheme, _, credentials = authorization.partition(" ")
            if scheme.lower() == "basic":
                return self._basic(credentials.strip())
            if scheme.lower() == "bearer" and self._tokens is not None:
                return self._bearer(credentials.strip())
            raise _Refused("Unsupported authorization scheme")
        raise _Refused("No credentials were given", guessed=False)

    def _basic(self, credentials: str) -> Principal:
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise _Refused("Malformed Basic credentials") from None
        user, sep, password = decoded.partition(":")
        expected = self._passwords.get(user, self._unknown_user)
        if (
            sep
            and hmac.compare_digest(secret_digest(password), expected)
            and user in self._passwords
        ):
            return Principal(f"basic:{user}")
        raise _Refused("Wrong user or password")

    def _bearer(self, token: str) -> Principal:
        assert self._tokens is not None
        try:
            return self._tokens.verify(token)
        except InvalidToken as exc:
            raise _Refused(str(exc), guessed=exc.guessed, token_error=True) from None

    @staticmethod
    def require(principal: Principal, oauth_scope: str) -> None:
        if principal.allows(oauth_scope):
            return
        headers = {}
        if principal.scopes is not None:  # a bearer token: RFC 6750 §3.1
            headers["WWW-Authenticate"] = (
                f'Bearer realm="{REALM}", error="insufficient_scope", scope="{oauth_scope}"'
            )
        raise ERCError(
            403,
            "forbidden",
            "The credentials do not grant access to this route",
            description=f"Required scope: {oauth_scope}",
            headers=headers,
        )
