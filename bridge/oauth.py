"""The bridge's own OAuth2 token endpoint (RFC 6749 §4.4, client credentials) and the
short-lived JWT access tokens it issues (HS256, signed with the first
`ERC_BRIDGE_TOKEN_SECRET`, verified with any of them: `bridge/signing.py`)."""

from __future__ import annotations

import base64
import binascii
import hmac
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import orjson
from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge.auth import REALM, ExpiredToken, InvalidToken, Principal, client_address, secret_digest
from bridge.bodies import ClientGone, read_body
from bridge.ratelimit import FailedAuthLimiter
from bridge.signing import SigningSecrets

TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path
ALGORITHM = "HS256"
TOKEN_TYPE = "at+jwt"  # noqa: S105 - the JWT "typ" of RFC 9068 §2.1
MAX_TOKEN_LENGTH = 4096
MAX_FORM_BYTES = 4096
MAX_FORM_FIELDS = 16
CLOCK_SKEW_S = 30
CLAIMS = ("exp", "iat", "sub", "scope", "jti")
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class OAuthClient:
    client_id: str
    scopes: frozenset[str]


class ClientRegistry:
    """The configured clients (`client_id:secret:scope+scope`); secrets kept as digests."""

    def __init__(self, entries: Iterable[str]) -> None:
        self._clients: dict[str, tuple[OAuthClient, bytes]] = {}
        for entry in entries:
            client_id, secret, scopes = entry.split(":", 2)
            client = OAuthClient(client_id, frozenset(scopes.split("+")))
            self._clients[client_id] = (client, secret_digest(secret))
        self._nobody = secret_digest("\x00no such client\x00")

    def __bool__(self) -> bool:
        return bool(self._clients)

    def get(self, client_id: str) -> OAuthClient | None:
        found = self._clients.get(client_id)
        return found[0] if found else None

    def authenticate(self, client_id: str, secret: str) -> OAuthClient | None:
        client, expected = self._clients.get(client_id, (None, self._nobody))
        # RFC 6749 §2.3.1 asks clients to form-encode Basic credentials; many do not.
        candidates = {secret, unquote_plus(secret)}
        matched = False
        for candidate in candidates:
            matched |= hmac.compare_digest(secret_digest(candidate), expected)
        return client if matched and client is not None else None


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    granted: str
    """The granted scopes, space-separated (RFC 6749 §3.3)."""


class AccessTokens:
    """Issues and verifies access tokens; `clock` is injectable so tests control time."""

    def __init__(
        self,
        secrets: Sequence[bytes],
        clients: ClientRegistry,
        *,
        ttl_s: int = 600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secrets = SigningSecrets(secrets, what="token")
        self._clients = clients
        self.ttl_s = ttl_s
        self._clock = clock

    def issue(self, client: OAuthClient, scopes: Iterable[str]) -> IssuedToken:
        # PyJWT is imported where a token is issued or read, not when the bridge starts:
        # it loads `cryptography` whenever that is installed (about 13 MB resident), and a
        # bridge without OAuth clients never needs either.
        import jwt

        now = int(self._clock())
        granted = " ".join(sorted(scopes))
        claims = {
            "sub": client.client_id,
            "scope": granted,
            "iat": now,
            "exp": now + self.ttl_s,
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode(
            claims, self._secrets.signing, algorithm=ALGORITHM, headers={"typ": TOKEN_TYPE}
        )
        return IssuedToken(token, self.ttl_s, granted)

    def verify(self, token: str) -> Principal:
        import jwt

        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("The access token is malformed")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise InvalidToken("The access token is malformed") from None
        if header.get("alg") != ALGORITHM or header.get("typ") != TOKEN_TYPE:
            raise InvalidToken("The access token is not one this service issued")
        claims = self._verified_claims(token)
        now = self._clock()
        exp, iat, sub, granted = claims["exp"], claims["iat"], claims["sub"], claims["scope"]
        if not (isinstance(exp, int) and isinstance(iat, int) and isinstance(granted, str)):
            raise InvalidToken("The access token is malformed")
        if iat > now + CLOCK_SKEW_S:
            raise InvalidToken("The access token is not valid yet")
        # This bridge issues no `nbf`, but a token signed with a shared secret may carry one.
        nbf = claims.get("nbf", now)
        if not isinstance(nbf, int | float) or isinstance(nbf, bool):
            raise InvalidToken("The access token is malformed")
        if nbf > now:
            raise InvalidToken("The access token is not valid yet")
        if exp <= now:
            raise ExpiredToken("The access token has expired")
        client = self._clients.get(str(sub))
        scopes = frozenset(granted.split())
        # A client removed from the configuration, or whose scopes shrank, loses its tokens.
        if client is None or not scopes <= client.scopes:
            raise InvalidToken("The access token's client is no longer allowed")
        return Principal(f"oauth:{client.client_id}", scopes)

    def _verified_claims(self, token: str) -> dict[str, Any]:
        import jwt

        for secret in self._secrets.verifying:
            try:
                return jwt.decode(
                    token,
                    secret,
                    algorithms=[ALGORITHM],
                    # Times are checked against the injected clock, not the wall clock.
                    options={
                        "require": list(CLAIMS),
                        "verify_exp": False,
                        "verify_iat": False,
                        "verify_nbf": False,
                    },
                )
            except jwt.InvalidSignatureError:
                continue
            except jwt.InvalidTokenError:
                raise InvalidToken("The access token is malformed") from None
        raise InvalidToken("The access token signature is not valid")


class TokenResponse(BaseModel):
    """RFC 6749 §5.1."""

    model_config = ConfigDict(extra="forbid")

    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - RFC 6750
    expires_in: int
    scope: str


class OAuthErrorBody(BaseModel):
    """RFC 6749 §5.2."""

    model_config = ConfigDict(extra="forbid")

    error: str
    error_description: str | None = None


class TokenForm(BaseModel):
    """The token request's form fields (RFC 6749 §4.4.2, §2.3.1); documents the endpoint."""

    model_config = ConfigDict(extra="allow")

    grant_type: str
    scope: str | None = None
    client_id: str | None = None
    client_secret: str | None = None


_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthError(Exception):
    def __init__(
        self,
        status: int,
        error: str,
        description: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.headers = dict(headers or {})

    def response(self) -> Response:
        body = OAuthErrorBody(error=self.error, error_description=self.description)
        return _json(body, self.status, {**self.headers, **_NO_STORE})


def _json(body: BaseModel, status: int, headers: Mapping[str, str]) -> Response:
    return Response(
        orjson.dumps(body.model_dump(exclude_none=True)),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


def invalid_request(description: str) -> OAuthError:
    return OAuthError(400, "invalid_request", description)


def invalid_client(description: str) -> OAuthError:
    # RFC 6749 §5.2: 401 with a challenge for the scheme the client may use.
    return OAuthError(
        401,
        "invalid_client",
        description,
        {"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'},
    )


def _form_too_large() -> OAuthError:
    return invalid_request(f"The request body exceeds {MAX_FORM_BYTES} bytes")


def _require_form(request: Request) -> None:
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type != FORM_CONTENT_TYPE:
        raise invalid_request(f"The request body must be {FORM_CONTENT_TYPE}")


async def _read_form(request: Request) -> dict[str, str]:
    try:
        body = await read_body(request.scope, request.receive, MAX_FORM_BYTES, _form_too_large)
    except ClientGone:
        raise invalid_request("The request body was not received") from None
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=bool(body),
            max_num_fields=MAX_FORM_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise invalid_request("The request body is not a valid form") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:  # RFC 6749 §3.2
            shown = name if name in TokenForm.model_fields else "a parameter"
            raise invalid_request(f"The request repeats {shown}")
        if value:  # RFC 6749 §3.1: a parameter without a value counts as omitted
            form[name] = value
    return form


def _basic_credentials(authorization: str) -> tuple[str, str]:
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise invalid_client("Unsupported authorization scheme: use Basic")
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise invalid_client("Malformed Basic credentials") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise invalid_client("Malformed Basic credentials")
    return unquote_plus(client_id), secret


class TokenEndpoint:
    """`POST /oauth/token`.

    Errors follow RFC 6749 §5.2. `invalid_grant` has no case here: in this flow the
    client's own authentication is the grant (§4.4), and its failure is `invalid_client`.
    """

    def __init__(
        self, clients: ClientRegistry, tokens: AccessTokens, limiter: FailedAuthLimiter
    ) -> None:
        self._clients = clients
        self._tokens = tokens
        self._limiter = limiter

    def route(self) -> Route:
        return Route(TOKEN_PATH, self.token, methods=["POST"])

    async def token(self, request: Request) -> Response:
        address = client_address(request.scope)
        try:
            # What the headers decide comes first: a caller they refuse is not read from.
            _require_form(request)
            by_header = self._header_client(request.headers.get("authorization"), address)
            form = await _read_form(request)
            client = self._form_client(by_header, form, address)
            issued = self._grant(client, form)
        except OAuthError as exc:
            return exc.response()
        body = TokenResponse(
            access_token=issued.access_token, expires_in=issued.expires_in, scope=issued.granted
        )
        return _json(body, 200, _NO_STORE)

    def _header_client(self, authorization: str | None, address: str) -> OAuthClient | None:
        """The client the Basic credentials authenticate, or None without them (the form
        may carry them); refused at once when no client is configured, for then no form
        can authenticate."""
        if authorization is not None:
            return self._authenticate(*_basic_credentials(authorization), address)
        if not self._clients:
            raise self._refused(address)
        return None

    def _form_client(
        self, by_header: OAuthClient | None, form: dict[str, str], address: str
    ) -> OAuthClient:
        in_form = "client_id" in form or "client_secret" in form
        if by_header is not None and in_form:  # RFC 6749 §2.3
            raise invalid_request("Use one client authentication method, not two")
        if by_header is not None:
            return by_header
        if "client_id" in form and "client_secret" in form:
            return self._authenticate(form["client_id"], form["client_secret"], address)
        raise invalid_client("Client authentication is required")

    def _authenticate(self, client_id: str, secret: str, address: str) -> OAuthClient:
        client = self._clients.authenticate(client_id, secret)
        if client is not None:  # a valid secret is never refused by the lockout
            return client
        raise self._refused(address)

    def _refused(self, address: str) -> OAuthError:
        """A failed authentication, counted towards the lockout of `address`."""
        retry_after = self._limiter.failed(address)
        if retry_after is not None:
            return OAuthError(
                429,
                "slow_down",
                "Too many failed authentications from this address",
                {"Retry-After": str(retry_after)},
            )
        return invalid_client("Unknown client or wrong secret")

    def _grant(self, client: OAuthClient, form: dict[str, str]) -> IssuedToken:
        grant_type = form.get("grant_type")
        if grant_type is None:
            raise invalid_request("The grant_type parameter is required")
        if grant_type != "client_credentials":
            raise OAuthError(400, "unsupported_grant_type", "Only client_credentials is supported")
        requested = frozenset(form["scope"].split()) if "scope" in form else client.scopes
        if not requested or not requested <= client.scopes:
            raise OAuthError(
                400,
                "invalid_scope",
                "The requested scope is not granted to this client; allowed: "
                + " ".join(sorted(client.scopes)),
            )
        return self._tokens.issue(client, requested)
