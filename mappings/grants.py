"""The answer of an OAuth 2.0 token endpoint (RFC 6749 §5.1), as platforms that grant
bearer tokens send it."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictFloat, StringConstraints

from mappings.errors import MappingError
from mappings.records import Record, parse

TOKEN_MAX = 8192
"""What common HTTP servers take in one header line: a longer token could not be sent."""

Token = Annotated[str, StringConstraints(min_length=1, max_length=TOKEN_MAX)]
Seconds = Annotated[StrictFloat, Field(gt=0)]


class TokenGrant(Record):
    access_token: Token
    expires_in: Seconds | None = None
    """How long the token stays valid, in seconds from now (RFC 6749)."""
    expires: StrictFloat | None = None
    """When the token expires, in Unix seconds: Elastic Path sends it beside `expires_in`."""

    def lifetime(self, *, now: float) -> float:
        """Seconds the token stays valid; the shorter reading when both fields are given."""
        readings = [self.expires_in] if self.expires_in is not None else []
        if self.expires is not None:
            readings.append(self.expires - now)
        if not readings:
            raise MappingError("the token response gives neither expires_in nor expires", "expires")
        return min(readings)


def parse_grant(raw: object) -> TokenGrant:
    return parse(TokenGrant, raw)
