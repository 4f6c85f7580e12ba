"""`POST /webhooks/{adapter}`: the platform says an order or a customer changed (SPEC §9).

The endpoint never calls the platform and answers at once (platforms give up after 5 to
10 s): it checks that the delivery proves its sender (as far as the headers show it
before the body is read), has not been received before, and names something, then
forgets what it names from the caches, so the next read asks the platform. A refused
delivery changes nothing, not even the record of delivery ids.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import structlog
from cachetools import TTLCache
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.base import Adapter
from adapters.errors import NotSupported
from adapters.webhooks import WebhookEvent, WebhookRefused
from bridge.bodies import ClientGone, read_body
from bridge.errors import ERCError, not_found

PATH = "/webhooks/{adapter}"
MAX_BODY_BYTES = 256 * 1024
"""Far above a platform's event (BigCommerce sends a few hundred bytes, Elastic Path the
order it names), far below what could tie up memory."""
DELIVERY_MEMORY_S = 72 * 3600
"""How long a delivery id is remembered: BigCommerce retries for about 48 hours."""
MAX_DELIVERIES = 100_000

log = structlog.get_logger("erc_bridge.webhooks")


class Forgetting(Protocol):
    """What a delivery makes the bridge forget, in every cache it keeps."""

    async def forget_customer(self, customer_id: str) -> None: ...

    async def forget_order(self, order_id: str, customer_id: str | None) -> None: ...


class SeenDeliveries:
    """Delivery ids received lately: a repeat is refused and changes nothing."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._seen: TTLCache[str, bool] = TTLCache(MAX_DELIVERIES, DELIVERY_MEMORY_S, timer=clock)

    def first_time(self, delivery_id: str) -> bool:
        if delivery_id in self._seen:
            return False
        self._seen[delivery_id] = True
        return True


class WebhookEndpoint:
    """`observe` is told each delivery's outcome: `received`, `refused_unauthenticated`,
    `refused_invalid` or `replayed`."""

    def __init__(
        self,
        adapter: Adapter,
        forgetting: Forgetting,
        *,
        wall_clock: Callable[[], float] = time.time,
        seen: SeenDeliveries | None = None,
        observe: Callable[[str], None] = lambda _outcome: None,
    ) -> None:
        self._adapter = adapter
        self._forgetting = forgetting
        self._wall_clock = wall_clock
        self._seen = seen or SeenDeliveries()
        self._observe = observe

    def route(self) -> Route:
        return Route(PATH, self.receive, methods=["POST"])

    async def receive(self, request: Request) -> Response:
        if request.path_params["adapter"] != self._adapter.name:
            return not_found("No webhooks are received for this adapter").response()
        outcome = "refused_invalid"
        try:
            # What the headers decide comes first: a caller they refuse is not read from.
            self._adapter.check_webhook_headers(request.headers, now=self._wall_clock())
            body = await _bounded_body(request)
            event = self._adapter.read_webhook(request.headers, body, now=self._wall_clock())
            if event.kind is None or event.resource_id is None:
                raise WebhookRefused(400, f"the event {event.topic!r} names nothing to refresh")
            if not self._seen.first_time(event.delivery_id):
                outcome = "replayed"
                raise WebhookRefused(400, "the delivery was received before")
        except NotSupported:
            return not_found("No webhooks are received for this adapter").response()
        except WebhookRefused as refused:
            if refused.status == 401:
                outcome = "refused_unauthenticated"
            self._observe(outcome)
            # The reason is the bridge's own words: never a header or body of the delivery.
            log.warning("webhook_refused", adapter=self._adapter.name, reason=refused.reason)
            code = "unauthorized" if refused.status == 401 else "invalid_request"
            return ERCError(
                refused.status, code, "The delivery was refused", description=refused.reason
            ).response()
        await self._forget(event)
        self._observe("received")
        log.info(
            "webhook_received",
            adapter=self._adapter.name,
            topic=event.topic,
            kind=event.kind,
            resource_id=event.resource_id,
        )
        return Response(status_code=204)

    async def _forget(self, event: WebhookEvent) -> None:
        assert event.resource_id is not None
        if event.kind == "customer":
            await self._forgetting.forget_customer(event.resource_id)
        else:
            await self._forgetting.forget_order(event.resource_id, event.customer_id)


async def _bounded_body(request: Request) -> bytes:
    """The body, read piece by piece as the write routes read theirs; past the bound, or
    with a `Content-Length` that is not a number, the delivery is refused."""
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdigit():
        raise WebhookRefused(400, "the delivery is too large")
    try:
        return await read_body(request.scope, request.receive, MAX_BODY_BYTES, _too_large)
    except ClientGone:
        raise WebhookRefused(400, "the delivery ended before its body did") from None


def _too_large() -> WebhookRefused:
    return WebhookRefused(400, "the delivery is too large")
