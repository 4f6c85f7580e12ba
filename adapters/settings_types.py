"""The kinds of value a setting holds, each with its rules written once.

Every settings model (the bridge's own and each adapter's) declares its fields with these
types and a `Field(description=...)`; the docs' variable tables are generated from
those declarations (`python -m bridge.settings_doc --write`). A rule breaks with a
`ValueError` whose words follow the variable's name in the one-line startup error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, TypeVar
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from pydantic import AfterValidator, BeforeValidator, SecretStr
from pydantic_settings import NoDecode
from redis.asyncio import ConnectionPool
from redis.exceptions import RedisError

T = TypeVar("T")

_OPTION_NAME = re.compile(r"[a-z_]+")
"""What every query option redis-py takes looks like."""

MIN_SECRET_BYTES = 32
"""RFC 7518 §3.2: an HS256 key is at least as long as the hash output. Every other secret
a caller or the bridge proves itself with is held to the same length, so that none is
short enough to guess."""

TOO_SHORT = f"must be at least {MIN_SECRET_BYTES} bytes long (openssl rand -hex 32 makes one)"

SHOWN_DEFAULT = "shown_default"
"""`Field(json_schema_extra={SHOWN_DEFAULT: ...})`: the default as the docs tell it, for a
setting whose default is computed (`random per process`) or reads better in words."""


def long_enough(secret: str) -> bool:
    """Counted in bytes, not characters: the length is what makes a secret hard to guess."""
    return len(secret.encode("utf-8", "surrogateescape")) >= MIN_SECRET_BYTES


def split_commas(value: object) -> object:
    """`a, b,,c` → `("a", "b", "c")`; a value that is not text is left to the type."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _blank_is_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


def _when_set(check: Callable[[T], T]) -> Callable[[T | None], T | None]:
    def checked(value: T | None) -> T | None:
        return None if value is None else check(value)

    return checked


# Text.


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


def _secret_not_blank(value: SecretStr) -> SecretStr:
    if not value.get_secret_value().strip():
        raise ValueError("must not be empty")
    return value


def _stripped(value: str) -> str:
    return value.strip()


NonBlank = Annotated[str, AfterValidator(_not_blank)]
"""Text with something in it, trimmed of surrounding white space."""

OptionalText = Annotated[
    str | None, BeforeValidator(_blank_is_none), AfterValidator(_when_set(_stripped))
]
"""Text, trimmed; blank is the same as unset."""

Secret = Annotated[SecretStr, AfterValidator(_secret_not_blank)]
"""A credential with something in it; kept as given, never shown."""

CommaList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(split_commas)]
"""Comma-separated entries, each trimmed; empty entries are dropped."""

SecretList = Annotated[tuple[SecretStr, ...], NoDecode, BeforeValidator(split_commas)]
"""Comma-separated credentials, each trimmed; empty entries are dropped."""


# Secrets of at least MIN_SECRET_BYTES.


def _each_long_enough(value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
    for position, entry in enumerate(value, start=1):
        if not long_enough(entry.get_secret_value()):
            which = "the value" if len(value) == 1 else f"entry {position}"
            raise ValueError(f"{which} {TOO_SHORT}")
    return value


def _long_enough(value: SecretStr) -> SecretStr:
    if not long_enough(value.get_secret_value()):
        raise ValueError(f"the value {TOO_SHORT}")
    return value


LongSecrets = Annotated[SecretList, AfterValidator(_each_long_enough)]
"""Comma-separated secrets, each at least MIN_SECRET_BYTES long."""

OptionalLongSecret = Annotated[
    SecretStr | None, BeforeValidator(_blank_is_none), AfterValidator(_when_set(_long_enough))
]
"""A secret at least MIN_SECRET_BYTES long; blank is the same as unset."""


# URLs.


def _absolute_url(value: str) -> str:
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http(s) URL")
    return value


def _url_check(example: str, path: bool) -> Callable[[str], str]:
    hint = f", e.g. {example}" if example else ""

    def check(value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")) or "?" in value or "#" in value:
            raise ValueError(f"must be an absolute http(s) URL without query or fragment{hint}")
        if not path and urlsplit(value).path:
            raise ValueError(f"must be the API host without a path{hint}")
        return value

    return check


def url_rule(*, example: str = "", path: bool = True) -> AfterValidator:
    """An absolute http(s) URL that others are appended to: no query or fragment, and no
    trailing slash; with `path=False`, an API host without even a path. `example` is
    quoted when the value is refused."""
    return AfterValidator(_url_check(example, path))


AbsoluteURL = Annotated[str, AfterValidator(_absolute_url)]
"""An absolute http(s) URL, trimmed; its path and query are kept (a token endpoint's)."""

BaseURL = Annotated[str, url_rule()]
"""An absolute http(s) URL that paths are appended to (a path prefix is kept)."""

OptionalBaseURL = Annotated[
    str | None,
    BeforeValidator(_blank_is_none),
    AfterValidator(_when_set(_url_check("", path=True))),
]
"""A BaseURL; blank is the same as unset."""


def _redis_refusal(url: str) -> Exception | None:
    """What redis-py raises building a connection from `url`, which it does only at the
    first command; built here without connecting. None when it builds one."""
    try:
        ConnectionPool.from_url(url).make_connection()  # type: ignore[no-untyped-call]
    except (TypeError, ValueError, RedisError) as exc:
        return exc
    return None


def _unusable_option(url: str) -> str:
    """Why redis-py cannot use the URL, naming the query option it cannot use (each is
    tried alone). Only a name that reads as one is said: the rest of the URL, a password
    with a stray `?` too, may be a secret."""
    parts = urlsplit(url)
    for option in filter(None, parts.query.split("&")):
        name = unquote_plus(option.partition("=")[0])
        refusal = _redis_refusal(urlunsplit(parts._replace(query=option)))
        if refusal is None or not _OPTION_NAME.fullmatch(name):
            continue
        if isinstance(refusal, TypeError):  # the connection is handed every unparsed option
            tls = name.startswith("ssl_") and parts.scheme != "rediss"
            hint = " (TLS needs a rediss:// URL)" if tls else ""
            return f"query option {name!r} is not one redis-py takes{hint}"
        return f"query option {name!r} has a value redis-py cannot use"
    return "is not a URL redis-py can use"


def _redis_url(value: SecretStr) -> SecretStr:
    url = value.get_secret_value().strip()
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.netloc or parts.path):
        raise ValueError("must be a redis://, rediss:// or unix:// URL")
    try:
        parts.port  # noqa: B018 - read for its check of the port
    except ValueError:
        raise ValueError("must name a port from 0 to 65535, if any") from None
    if _redis_refusal(url) is not None:
        raise ValueError(_unusable_option(url))
    return SecretStr(url)


OptionalRedisURL = Annotated[
    SecretStr | None, BeforeValidator(_blank_is_none), AfterValidator(_when_set(_redis_url))
]
"""A Redis URL, kept secret because it may carry a password; blank is the same as unset."""
