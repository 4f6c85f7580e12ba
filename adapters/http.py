"""The upstream HTTP client every platform adapter uses.

All transport-level failures are translated here, once, into `adapters.errors`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import structlog

from adapters.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable

log = structlog.get_logger("erc_bridge.upstream")


@dataclass(frozen=True)
class HTTPConfig:
    """Timeouts in seconds and pool size for one platform."""

    connect_timeout: float = 3.0
    read_timeout: float = 8.0
    pool_timeout: float = 5.0
    max_connections: int = 100


def path_segment(value: str) -> str:
    """Quote a path id so that it can never address another platform path."""
    quoted = quote(value, safe="")
    if quoted in {".", ".."}:
        return quoted.replace(".", "%2E")
    return quoted


class UpstreamClient:
    """One long-lived connection pool to one platform."""

    def __init__(
        self,
        base_url: str,
        *,
        platform: str,
        config: HTTPConfig | None = None,
        headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        config = config or HTTPConfig()
        self.platform = platform
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(
                connect=config.connect_timeout,
                read=config.read_timeout,
                write=config.read_timeout,
                pool=config.pool_timeout,
            ),
            limits=httpx.Limits(
                max_connections=config.max_connections,
                max_keepalive_connections=config.max_connections,
            ),
            transport=transport,
            follow_redirects=False,
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        headers: dict[str, str] | None = None,
        data: dict[str, str] | None = None,
        endpoint: str | None = None,
    ) -> httpx.Response:
        """Send one request; transport failures become UpstreamTimeout/UpstreamUnavailable."""
        started = time.perf_counter()
        try:
            response = await self._client.request(
                method, path, params=params, headers=headers, data=data
            )
        except httpx.TimeoutException as exc:
            self._log(method, endpoint or path, started, outcome="timeout")
            raise UpstreamTimeout(f"{self.platform} did not answer in time") from exc
        except httpx.TransportError as exc:
            self._log(method, endpoint or path, started, outcome="unreachable")
            raise UpstreamUnavailable(f"{self.platform} is unreachable") from exc
        self._log(method, endpoint or path, started, outcome=str(response.status_code))
        return response

    def _log(self, method: str, endpoint: str, started: float, *, outcome: str) -> None:
        log.debug(
            "platform_call",
            platform=self.platform,
            method=method,
            endpoint=endpoint,
            outcome=outcome,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )


def json_body(response: httpx.Response, platform: str) -> Any:
    """The decoded JSON body; UpstreamError when the platform sent something else."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        log.warning(
            "platform_body_unreadable",
            platform=platform,
            status=response.status_code,
            content_type=response.headers.get("content-type", ""),
        )
        raise UpstreamError(f"{platform} sent a body that is not JSON") from None
