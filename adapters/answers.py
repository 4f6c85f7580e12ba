"""Platform answers into `adapters.errors`: the rules every platform shares, written once.

A platform supplies only what differs: how to read its error body (`parse_error`), its
name in messages and the variables an operator checks when it refuses the bridge's
credentials, and, where it has them, rules of its own (`platform_rule`, `other_error`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import orjson
import structlog

from adapters.errors import AdapterError, NotFound, UpstreamError, UpstreamUnavailable
from adapters.responses import PlatformResponse

log = structlog.get_logger("erc_bridge.upstream")

CREDENTIALS_REJECTED = "platform_credentials_rejected"
"""The one log event of every platform refusing the bridge's credentials: alert on it."""

LogFields = dict[str, Any]

GRANT_REFUSALS = frozenset({400, 401, 403})
"""How a token endpoint refuses a grant (RFC 6749 §5.2: `invalid_client` is 401, the
rest 400), and 403 where a gateway in front of it does."""


@dataclass(frozen=True)
class PlatformProblem:
    """What a platform's error body says: for the logs, never for the answer."""

    platform_status: int | None = None
    code: str | None = None
    title: str | None = None
    detail: str | None = None

    def log_fields(self) -> LogFields:
        return {
            "platform_status": self.platform_status,
            "code": self.code,
            "title": self.title,
            "detail": self.detail,
        }


class PlatformAnswers:
    """The translation of a platform's answers, with the hooks a platform overrides."""

    name: ClassVar[str]
    title: ClassVar[str] = ""
    """The platform's name in error messages ("Elastic Path")."""
    credentials: ClassVar[str] = ""
    """What an operator checks when the platform refuses the bridge's credentials."""
    credential_statuses: ClassVar[frozenset[int]] = frozenset({401, 403})
    """Statuses that mean the platform refuses the bridge's credentials."""

    def parse_error(self, body: Any) -> PlatformProblem:
        """What the platform's error body says, given it decoded from JSON (None when it is
        not JSON); it must never raise."""
        return PlatformProblem()

    def platform_rule(
        self, status: int, problem: PlatformProblem, fields: LogFields
    ) -> AdapterError | None:
        """The platform's own meaning of an answer, before the shared rules; None for none."""
        return None

    def other_error(self, status: int, problem: PlatformProblem, fields: LogFields) -> AdapterError:
        """An error answer no rule claimed: a 4xx other than 429 means a request the bridge
        should not have sent (or an API change); the rest is the platform failing. Both
        are 502; the log says which."""
        if 400 <= status < 500 and status != 429:
            log.error(
                "platform_rejected_request",
                hint="a request the bridge should not have sent, "
                f"or a change in the {self.title} API",
                **fields,
            )
            return UpstreamError(f"{self.title} rejected the request ({status})")
        log.warning("platform_error", **fields)
        return UpstreamError(f"{self.title} answered {status}")

    def raise_for_status(
        self,
        response: PlatformResponse,
        endpoint: str,
        *,
        missing: str | None = None,
        authenticating: bool = False,
        **context: Any,
    ) -> None:
        """The one place a platform's error answer becomes an adapter error.

        A 404 is NotFound(`missing`) when `missing` is given; a refusal of the
        credentials (or of the grant, when `authenticating` at the token endpoint) is
        UpstreamUnavailable with `credentials_rejected`. `context` is logged with it.
        """
        status = response.status_code
        if 200 <= status < 300:
            return
        problem = self.parse_error(_json_or_none(response.content))
        fields = {
            "platform": self.name,
            "endpoint": endpoint,
            "status": status,
            **problem.log_fields(),
            **context,
        }
        found = self.platform_rule(status, problem, fields)
        if found is not None:
            raise found
        if status == 404 and missing is not None:
            raise NotFound(missing)
        if status in (GRANT_REFUSALS if authenticating else self.credential_statuses):
            raise self.credentials_rejected(fields)
        raise self.other_error(status, problem, fields)

    def credentials_rejected(self, fields: LogFields) -> UpstreamUnavailable:
        log.error(CREDENTIALS_REJECTED, **fields)
        return UpstreamUnavailable(
            f"{self.title} rejected the bridge's credentials (check {self.credentials})",
            credentials_rejected=True,
        )


def _json_or_none(content: bytes) -> Any:
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
