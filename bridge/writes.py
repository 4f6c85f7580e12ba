"""The three ERC write routes (SPEC §7), each answered under both prefixes.

A write is checked in a fixed order, and nothing reaches the adapter until the request is
known to be well formed: credentials and scope, writes turned on and served by the
adapter, path ids and `brand` (another brand is 404, as on the reads), `Idempotency-Key`,
content type, size and body. Then the write waits for its order's turn (one write at a
time per order, on every replica: `bridge/order_locks.py`), and the adapter checks
ownership and the order's state and writes at most once. Every attempt leaves one
`order_write` audit line (names of fields, never their values) and one count in
`erc_bridge_writes_total`.

`ERC_BRIDGE_DEADLINE_S` bounds the write (the wait for its order's turn counts against
it), not giving the turn up nor what follows an applied change: forgetting
the customer's cached answers everywhere, and W3's items page (read with at least
`AFTER_WRITE_READ_S`), so that a change made late is still seen by every read and audited
as made. The answers are forgotten as well when the change was found already made, or
when the write failed once it may have reached the platform: the cached ones may show
the order as it was.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from pydantic import ValidationError
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from adapters.base import Adapter, Capability, WriteResult
from adapters.deadline import request_given, within
from adapters.writing import watching_sends
from bridge import links
from bridge.auth import ORDERS_WRITE, Principal, client_address
from bridge.bodies import ClientGone, header, read_body
from bridge.errors import ANSWERED, ANSWERED_STATUSES, PRIVATE, ERCError, error_of, invalid_request
from bridge.forgetting import CacheForgetting
from bridge.idempotency import HEADER as IDEMPOTENCY_HEADER
from bridge.idempotency import Answer, Claim, IdempotencyStore, fingerprint, unsent, valid_key
from bridge.metrics import Metrics
from bridge.order_locks import HOLD_MARGIN_S, NoTurn, OrderLocks
from bridge.params import Query, parse_query
from bridge.request import RESPONSE_STARTED_KEY, request_headers
from bridge.routes import PREFIXES, RouteRequest, check_brand, list_items, query_params
from bridge.service import Bridge
from mappings.bodies import ErrorField
from mappings.wire import render
from mappings.writes import CancelItems, CancelOrder, FieldProblem, NewShippingAddress, WriteBody

MAX_BODY_BYTES = 16 * 1024
JSON_TYPE = "application/json"
REPLAYED_HEADER = (b"idempotent-replayed", b"true")
KEPT_STATUSES = frozenset({200, invalid_request([]).status, *ANSWERED_STATUSES})
"""Every status `WriteEndpoint._perform` answers with, and so what an `Idempotency-Key`
keeps and replays (`_settle`): the change made, the body or its ids refused, an error of
the adapter or the deadline (a server error only once the write went out). The refusals
before the key is claimed (409, 413, 415 among them) are never kept, nor those of a write
whose order's turn never came (409, 503: `order_locks.NoTurn`)."""
TURN_PATIENCE = 0.5
"""The part of the deadline a write may wait for its order's turn: the rest is for the
write itself."""
AFTER_WRITE_READ_S = 1.0
"""The least time W3's items page may take once the change is made, past the deadline if
need be: the page is the change's answer."""

log = structlog.get_logger("erc_bridge.writes")

Apply = Callable[[Adapter, str, str, Any], Awaitable[WriteResult]]


@dataclass(frozen=True)
class WriteRoute:
    """What one write route is: its path, method, body and the adapter call it makes."""

    path: str
    method: str
    capability: Capability
    body: type[WriteBody]
    apply: Apply
    summary: str
    body_required: bool = True
    answers_items: bool = False
    """W3 answers with the order's items page (R4, first page) after the change."""

    @property
    def action(self) -> str:
        """The write's name in audit lines, metrics and operation ids: its capability's."""
        return self.capability.value


WRITE_ROUTES = (
    WriteRoute(
        "/customers/{customer_id}/orders/{order_id}/cancel",
        "POST",
        Capability.CANCEL_ORDER,
        CancelOrder,
        lambda adapter, customer, order, body: adapter.cancel_order(customer, order, body),
        "Cancel the order (W1)",
        body_required=False,
    ),
    WriteRoute(
        "/customers/{customer_id}/orders/{order_id}/change-shipping-address",
        "POST",
        Capability.CHANGE_SHIPPING_ADDRESS,
        NewShippingAddress,
        lambda adapter, customer, order, body: adapter.change_shipping_address(
            customer, order, body
        ),
        "Change the order's shipping address (W2)",
    ),
    WriteRoute(
        "/customers/{customer_id}/orders/{order_id}/items/cancel",
        "PUT",
        Capability.CANCEL_ITEMS,
        CancelItems,
        lambda adapter, customer, order, body: adapter.cancel_items(customer, order, body),
        "Cancel some of the order's items (W3)",
        answers_items=True,
    ),
)


@dataclass
class Attempt:
    """One write attempt, as its audit line tells it."""

    action: str
    customer_id: str
    order_id: str
    caller: str | None = None
    outcome: str = "failed"
    reason: str | None = None
    changed: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)
    recorded: bool = False
    unsent: bool = False
    """Nothing went out and the answer is not one to keep: a server error came before the
    write went out (none was sent, or its call never was: `idempotency.unsent`), or the
    order's turn never came. Its key is freed."""

    def refused(self, error: ERCError) -> None:
        # A route that is off or not served (501) is refused, not a failure of the bridge.
        failed = error.status >= 500 and error.code != "not_supported"
        self.outcome = "failed" if failed else "refused"
        self.reason = error.code
        self.extra = {"message": error.message}


def _writes_off() -> ERCError:
    return ERCError(
        501,
        "not_supported",
        "Writes are off",
        description="ERC_BRIDGE_WRITES=true turns on the write routes",
    )


def _carries_body(scope: Scope) -> bool:
    declared = header(scope, b"content-length")
    chunked = header(scope, b"transfer-encoding") is not None
    return chunked or (declared is not None and declared.strip() != "0")


def _check_content_type(scope: Scope, *, required: bool) -> None:
    """JSON, or (for an optional body) no body and no content type at all."""
    sent = header(scope, b"content-type")
    if sent is None and not required and not _carries_body(scope):
        return
    media_type = (sent or "").partition(";")[0].strip().lower()
    if media_type != JSON_TYPE:
        raise ERCError(
            415,
            "unsupported_media_type",
            "The body must be JSON",
            description=f"Send Content-Type: {JSON_TYPE}",
        )


def payload_too_large() -> ERCError:
    return ERCError(
        413,
        "payload_too_large",
        "The body is too large",
        description=f"Write bodies are limited to {MAX_BODY_BYTES} bytes",
        headers={"Connection": "close"},
    )


def _location(loc: tuple[int | str, ...]) -> str:
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


def body_problems(exc: ValidationError) -> list[ErrorField]:
    """Each bad field once, named as the body spells it (`ids[2]`, `refund_method.x`)."""
    problems: dict[str, str] = {}
    for error in exc.errors(include_url=False, include_input=False):
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, FieldProblem):
            problems.setdefault(cause.field, cause.message)
            continue
        message = str(cause) if isinstance(cause, ValueError) else error["msg"]
        problems.setdefault(_location(error["loc"]) or "body", message)
    return [ErrorField(name=name, description=text) for name, text in problems.items()]


def parse_body(model: type[WriteBody], raw: bytes, *, required: bool) -> WriteBody:
    if not raw.strip() and not required:
        return model()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise invalid_request([ErrorField(name="body", description="not valid JSON")]) from None
    if not isinstance(data, dict):
        raise invalid_request([ErrorField(name="body", description="must be a JSON object")])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_request(body_problems(exc)) from None


def _canonical(raw: bytes) -> bytes:
    """The body as a repeat is compared: the same JSON in another spelling is the same,
    and no body is `{}`."""
    if not raw.strip():
        return b"{}"
    try:
        return orjson.dumps(orjson.loads(raw), option=orjson.OPT_SORT_KEYS)
    except orjson.JSONDecodeError:
        return raw


def _unknown_ids(body: CancelItems, known: set[str]) -> list[ErrorField]:
    return [
        ErrorField(name=f"ids[{index}]", description="not a product line of this order")
        for index, line_id in enumerate(body.ids)
        if line_id not in known
    ]


class WriteEndpoint:
    """One write route served by one bridge, as a pure ASGI app."""

    def __init__(
        self,
        route: WriteRoute,
        bridge: Bridge,
        metrics: Metrics,
        store: IdempotencyStore,
        turns: OrderLocks,
    ) -> None:
        self.route = route
        self.bridge = bridge
        self.metrics = metrics
        self.store = store
        self.turns = turns

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        params = scope["path_params"]
        attempt = Attempt(self.route.action, str(params["customer_id"]), str(params["order_id"]))
        try:
            answer = await self.answer(scope, receive, attempt)
        except ClientGone:
            attempt.reason = "client_gone"
            self._record(attempt)
            return
        self._record(attempt)
        scope[RESPONSE_STARTED_KEY] = answer.status
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": [
                    (b"content-length", b"%d" % len(answer.body)),
                    *answer.headers,
                    PRIVATE,
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer.body})

    def _record(self, attempt: Attempt) -> None:
        """The attempt's audit line and count, once."""
        if attempt.recorded:
            return
        attempt.recorded = True
        self.metrics.observe_write(attempt.action, attempt.outcome)
        log.info(
            "order_write",
            action=attempt.action,
            customer_id=attempt.customer_id,
            order_id=attempt.order_id,
            caller=attempt.caller,
            outcome=attempt.outcome,
            reason=attempt.reason,
            changed=list(attempt.changed),
            ignored=list(attempt.ignored),
            **attempt.extra,
        )

    async def answer(self, scope: Scope, receive: Receive, attempt: Attempt) -> Answer:
        try:
            principal = self._authorize(scope, attempt)
            key = self._idempotency_key(scope)
            _check_content_type(scope, required=self.route.body_required)
            raw = await read_body(scope, receive, MAX_BODY_BYTES, payload_too_large)
        except ERCError as refusal:
            return _refused(attempt, refusal)
        claim: tuple[str, str] | None = None
        if key is not None:
            owner = principal.name if principal.key_digest is None else principal.caller
            repeat = fingerprint(
                self.route.path, attempt.customer_id, attempt.order_id, _canonical(raw)
            )
            lookup = await self.store.claim(owner, key, repeat)
            if lookup.claim is Claim.REPLAY:
                assert lookup.answer is not None
                attempt.outcome, attempt.reason = "replayed", None
                first = lookup.answer
                return Answer(first.status, first.body, (*first.headers, REPLAYED_HEADER))
            if lookup.claim is not Claim.NEW:
                return _refused(attempt, _key_refusal(lookup.claim))
            claim = (owner, key)
        # The write runs to its end even if the caller goes away, so that it is audited
        # and its key record finished (or released): a repeat learns what happened.
        task = asyncio.ensure_future(self._settle(scope, raw, attempt, claim))
        return await asyncio.shield(task)

    async def _settle(
        self, scope: Scope, raw: bytes, attempt: Attempt, claim: tuple[str, str] | None
    ) -> Answer:
        answer: Answer | None = None
        try:
            # The write and W3's page after it each have a deadline of their own.
            with request_given(self.bridge.settings.deadline_s):
                answer = await self._perform(scope, raw, attempt)
            return answer
        finally:
            if claim is not None:
                if answer is not None and not attempt.unsent:
                    await self.store.finish(*claim, answer)
                else:
                    await self.store.release(*claim)
            self._record(attempt)

    def _authorize(self, scope: Scope, attempt: Attempt) -> Principal:
        """The caller, once known, is in the audit line of every refusal that follows."""
        bridge = self.bridge
        headers = request_headers(scope)
        principal = bridge.auth.authenticate(headers, client=client_address(scope))
        attempt.caller = principal.caller
        bridge.auth.require(principal, ORDERS_WRITE)
        if not bridge.settings.writes:
            raise _writes_off()
        if self.route.capability not in bridge.adapter.capabilities:
            raise ERCError(
                501, "not_supported", f"The {bridge.adapter.name} adapter cannot serve this route"
            )
        # Before the key is looked up: a repeat naming another brand is refused, not
        # replayed. The brand is no part of the key's fingerprint, since every request
        # that passes here names this store's brand or none.
        query = parse_query(query_params(scope), path=scope["path_params"])
        check_brand(query.brand, bridge.settings.brand)
        return principal

    @staticmethod
    def _idempotency_key(scope: Scope) -> str | None:
        key = header(scope, IDEMPOTENCY_HEADER.encode())
        if key is not None and not valid_key(key):
            raise invalid_request(
                [
                    ErrorField(
                        name="Idempotency-Key",
                        description="must be 1 to 255 visible ASCII characters",
                    )
                ]
            )
        return key

    async def _perform(self, scope: Scope, raw: bytes, attempt: Attempt) -> Answer:
        route, deadline_s = self.route, self.bridge.settings.deadline_s
        begun = time.monotonic()
        with watching_sends() as sends:
            try:
                body = parse_body(route.body, raw, required=route.body_required)
                # From the order's read to the change confirmed: another write on the
                # order reads it only once this one has left it. The turn is had within
                # the deadline's time (in half of it), but outside its block, so that
                # giving it up (a Redis round trip) cannot turn a change made into a
                # timeout; the write has what is left of the deadline.
                patience_s = deadline_s * TURN_PATIENCE
                async with (
                    self.turns.turn(attempt.order_id, patience_s=patience_s),
                    within(deadline_s - (time.monotonic() - begun)),
                ):
                    result = await self._write(attempt, body)
            except NoTurn as refusal:
                attempt.unsent = True  # nothing written: a repeat with the key tries again
                return _refused(attempt, refusal.error)
            except ANSWERED as exc:
                error = error_of(exc)
                went_out = sends.started and not unsent(exc)
                attempt.unsent = error.status >= 500 and not went_out
                if went_out:  # the platform may have the change, or make it still
                    await self._forget(attempt)
                return _refused(attempt, error)
        attempt.outcome, attempt.reason = result.outcome, None
        attempt.ignored = result.ignored
        if result.outcome == "applied":
            attempt.changed = tuple(n for n in body.given() if n not in result.ignored)
        # Already done too: the platform shows a change (an earlier attempt's, someone
        # else's) that the cached answers may not.
        await self._forget(attempt)
        if not route.answers_items:
            return Answer(200, b"")
        left = deadline_s - (time.monotonic() - begun)
        return await self._items_answer(scope, attempt, max(left, AFTER_WRITE_READ_S))

    async def _write(self, attempt: Attempt, body: WriteBody) -> WriteResult:
        adapter = self.bridge.adapter
        customer, order = attempt.customer_id, attempt.order_id
        if isinstance(body, CancelItems):
            # Ownership first (NotFound), then every id must be a line of the order.
            items = await adapter.list_items(customer, order)
            unknown = _unknown_ids(body, {item.id for item in items})
            if unknown:
                raise invalid_request(unknown)
        return await self.route.apply(adapter, customer, order, body)

    async def _forget(self, attempt: Attempt) -> None:
        """Drop the customer's cached answers and resources, here and on every replica.
        Outside the deadline: the change may be made, and no read may show what was
        before it.
        Each Redis call has its own bound (`ERC_BRIDGE_REDIS_TIMEOUT_S`)."""
        forgetting = CacheForgetting.of(self.bridge)
        await forgetting.forget_order(attempt.order_id, attempt.customer_id)

    async def _items_answer(self, scope: Scope, attempt: Attempt, within_s: float) -> Answer:
        """W3's answer: the items page, read afresh. The change is made whatever this read
        does, so a failure is answered as such and the audit keeps the outcome."""
        try:
            async with within(within_s):
                content = await self._items_page(scope, attempt)
        except ANSWERED as exc:
            return _page_unread(attempt, error_of(exc))
        return Answer(200, content, ((b"content-type", JSON_TYPE.encode()),))

    async def _items_page(self, scope: Scope, attempt: Attempt) -> bytes:
        """The R4 answer after the change, read afresh: first page, default order."""
        items_path = links.path(scope).removesuffix("/cancel")
        items_scope = {
            **scope,
            "path": items_path,
            "raw_path": items_path.encode(),
            "query_string": b"",
        }
        headers = request_headers(scope)
        base = links.base_url(scope, headers.get("host"), self.bridge.settings.public_url)
        page = await list_items(RouteRequest(items_scope, self.bridge, Query(), base))
        return render(page)


def _key_refusal(claim: Claim) -> ERCError:
    if claim is Claim.UNCONFIRMED:
        return ERCError(
            503,
            "unavailable",
            "The Idempotency-Key could not be checked in time, and nothing was written",
            description="Repeat the request with the same key",
            headers={"Retry-After": "1"},
        )
    if claim is Claim.RUNNING:
        return ERCError(
            409,
            "conflict",
            "A request with this Idempotency-Key is still being answered",
            description="Repeat it once the first has been answered",
        )
    return ERCError(
        422,
        "idempotency_key_reused",
        "This Idempotency-Key was used for another request",
        description="A key names one route, order and body; use a new key for another",
        fields=[ErrorField(name="Idempotency-Key", description="already used for another request")],
    )


def _page_unread(attempt: Attempt, error: ERCError) -> Answer:
    """The items are cancelled (or were already), but their page could not be read."""
    attempt.reason = error.code
    attempt.extra = {"message": error.message}
    return _error_answer(
        ERCError(
            error.status,
            error.code,
            "The items are cancelled, but the items page could not be read",
            description=f"{error.message}. The cancel is done and needs no repeat; "
            "read the order's items to see them",
        )
    )


def _refused(attempt: Attempt, error: ERCError) -> Answer:
    attempt.refused(error)
    return _error_answer(error)


_SET_AT_SENDING = (b"content-length", PRIVATE[0])


def _error_answer(error: ERCError) -> Answer:
    response = error.response()
    headers = tuple(h for h in response.raw_headers if h[0] not in _SET_AT_SENDING)
    return Answer(error.status, bytes(response.body), headers)


def write_routes(bridge: Bridge, metrics: Metrics, store: IdempotencyStore) -> list[Route]:
    # One turn per order for every write route under either prefix.
    hold_s = bridge.settings.deadline_s + HOLD_MARGIN_S
    turns = OrderLocks(bridge.shared, hold_s=hold_s)
    return [
        Route(
            prefix + route.path,
            WriteEndpoint(route, bridge, metrics, store, turns),
            methods=[route.method],
        )
        for prefix in PREFIXES
        for route in WRITE_ROUTES
    ]


def served_write_routes(capabilities: frozenset[Capability]) -> list[WriteRoute]:
    """The write routes an adapter with `capabilities` serves."""
    return [route for route in WRITE_ROUTES if route.capability in capabilities]
