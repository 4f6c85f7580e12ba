"""What `UpstreamClient.send` returns: a platform's answer, read and decoded in full.

Adapters read three things of an answer: its status, a few headers (`Retry-After`, a
quota, the content type for a log line) and the body as JSON. The pool hands over the
headers as the parser saw them; they are indexed by name only when one is first asked
for, and most answers never are.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, TypeVar, overload

import orjson

from adapters.http1 import Headers

Default = TypeVar("Default")


class ResponseHeaders(Mapping[str, str]):
    """An answer's headers: names compared without regard to case, repeats kept in order.

    Bytes are read as Latin-1, which never fails: what a header means to the bridge is
    ASCII, and anything else is the platform's opaque text.
    """

    __slots__ = ("_by_name", "raw")

    def __init__(self, raw: Headers) -> None:
        self.raw = raw
        """The headers as received: (name, value) pairs, in order."""
        self._by_name: dict[str, list[str]] | None = None

    @overload
    def get(self, name: str) -> str | None: ...

    @overload
    def get(self, name: str, default: str) -> str: ...

    @overload
    def get(self, name: str, default: Default) -> str | Default: ...

    def get(self, name: str, default: object = None) -> object:
        """The header's value, its repeats joined with ", " (RFC 9110 §5.3)."""
        values = self._index().get(name.lower())
        return default if values is None else ", ".join(values)

    def __getitem__(self, name: str) -> str:
        return ", ".join(self._index()[name.lower()])

    def get_list(self, name: str) -> list[str]:
        """Every value the header was given, in order; [] when it is absent."""
        return list(self._index().get(name.lower(), ()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index()

    def __iter__(self) -> Iterator[str]:
        """The names present, in lower case, each once."""
        return iter(self._index())

    def __len__(self) -> int:
        return len(self._index())

    def __repr__(self) -> str:
        return f"ResponseHeaders({self.raw!r})"

    def _index(self) -> dict[str, list[str]]:
        by_name = self._by_name
        if by_name is None:
            by_name = self._by_name = {}
            for name, value in self.raw:
                by_name.setdefault(name.decode("latin-1").lower(), []).append(
                    value.decode("latin-1")
                )
        return by_name


class PlatformResponse:
    """A platform's answer: `status_code`, `headers` and the decoded body, `content`."""

    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status_code: int, headers: Headers, content: bytes) -> None:
        self.status_code = status_code
        self.headers = ResponseHeaders(headers)
        self.content = content

    def json(self) -> Any:
        """The body decoded as JSON; `orjson.JSONDecodeError` (a ValueError) when it is not."""
        return orjson.loads(self.content)

    @property
    def is_success(self) -> bool:
        """A 2xx status."""
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        """The body as UTF-8 text, undecodable bytes replaced (for logs and messages)."""
        return self.content.decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"<PlatformResponse [{self.status_code}], {len(self.content)} bytes>"
