"""Forgetting an order or a customer in every cache the bridge keeps: the rendered bodies
and the platform resources. A write the bridge made and a platform's webhook both end here.

The guarantee is the write's: nothing from before is served afterwards, fresh or stale,
and a fill or fetch under way when something is forgotten is answered but not kept.

With Redis, forgetting reaches every replica: what is kept in Redis gets new generations
(adapters/shared_entries.py) before the call returns, and every replica hears over
pub/sub what to drop from its own memory. The replica that forgets drops its own memory
last, once Redis has answered: a read there in the meantime may find the old body in
Redis and keep it, and nobody else would tell this replica to drop it (it does not act
on its own messages). A replica that was cut off from the channel
drops everything it keeps. One that could not reach Redis to forget something reads
nothing from Redis until it has made everything there old and told every replica to
drop everything, which it tries again until Redis takes it (`_settle`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable

import orjson
import structlog

from adapters.base import Capability
from adapters.resources import ORDER, ResourceCache, customer_tag, order_tag
from adapters.shared_entries import EVERYTHING, Dependency
from adapters.shared_resources import ANY_ORDER
from adapters.shared_state import SharedState
from bridge.cache import ResponseCache
from bridge.routes import ERC_ROUTES
from bridge.service import Bridge
from bridge.shared_cache import SharedBodies

log = structlog.get_logger("erc_bridge.redis")

CHANNEL = "forget"
"""The pub/sub channel (under the store's namespace) that carries what to forget."""

# Shipments (R6) are listed per customer, and filtered by an order only in the query: the
# key names no order, so a body of any customer may show the one an event names.
_LISTING_CAPABILITIES = frozenset(
    {Capability.ORDERS, Capability.MOST_RECENT_ORDER, Capability.SHIPMENTS}
)
ORDER_LISTINGS = frozenset(r.path for r in ERC_ROUTES if r.capability in _LISTING_CAPABILITIES)
"""Routes whose bodies may show any order of their customer (R2, R5, R6)."""


def _route(key: Hashable) -> object:
    # A body's key is (route path, customer id, order id, …): see ERCEndpoint.cache_key.
    return key[0] if isinstance(key, tuple) and key else None


def _order(key: Hashable) -> object:
    return key[2] if isinstance(key, tuple) and len(key) > 2 else None


def body_dependencies(key: Hashable, owner: str | None) -> list[Dependency]:
    """What a body kept in Redis depends on: what `forget_order` and `forget_customer`
    drop it for."""
    depends = [customer_tag(owner)] if owner else []
    order = _order(key)
    if order:
        depends.append(order_tag(str(order)))
    if _route(key) in ORDER_LISTINGS:
        depends.append(ANY_ORDER)
    return depends


class CacheForgetting:
    """The bridge's `Forgetting` (bridge/webhooks.py): `resources` is None when the adapter
    keeps none; the bodies' `shared` tier, when set, reaches Redis and the replicas."""

    def __init__(self, bodies: ResponseCache, resources: ResourceCache | None) -> None:
        self._bodies = bodies
        self._resources = resources

    @classmethod
    def of(cls, bridge: Bridge) -> CacheForgetting:
        return cls(bridge.cache, bridge.adapter.resources)

    async def forget_customer(self, customer_id: str) -> None:
        # Here last, even when cut short: a read in the meantime may have brought the old
        # body from Redis into this process (see the module docstring).
        try:
            await self._everywhere({"customer": customer_id}, [customer_tag(customer_id)])
        finally:
            self.forget_customer_here(customer_id)

    async def forget_order(self, order_id: str, customer_id: str | None) -> None:
        """With the customer known, everything of that customer; without (BigCommerce names
        only the order), the order's bodies and resources whoever asked, and every
        customer's order lists, most recent order and shipments, which may show it."""
        widest = customer_tag(customer_id) if customer_id is not None else ANY_ORDER
        message = {"order": order_id, "customer": customer_id}
        try:
            await self._everywhere(message, [order_tag(order_id), widest])
        finally:
            self.forget_order_here(order_id, customer_id)

    def forget_customer_here(self, customer_id: str) -> None:
        self._bodies.forget_owner(customer_id)
        if self._resources is not None:
            self._resources.forget_here(customer_tag(customer_id))

    def forget_order_here(self, order_id: str, customer_id: str | None) -> None:
        if customer_id is not None:
            self.forget_customer_here(customer_id)
        else:
            self._bodies.forget(
                lambda key, _owner: _order(key) == order_id or _route(key) in ORDER_LISTINGS
            )
        resources = self._resources
        if resources is not None:
            resources.forget_here(order_tag(order_id))
            if customer_id is None:
                # A list is tagged with its customer only: it cannot name its orders before
                # it is fetched.
                resources.forget_untagged(ORDER)

    def forget_everything_here(self) -> None:
        self._bodies.forget(lambda _key, _owner: True)
        if self._resources is not None:
            self._resources.forget_all()

    def listen(self, state: SharedState) -> None:
        """Forget here what other replicas forget (before `state` is opened)."""
        bodies = self._bodies.shared
        if bodies is None:
            return

        def heard(message: bytes | None) -> None:
            if message is None:
                # Subscribed (again): whatever was published meanwhile is lost to us.
                self.forget_everything_here()
                return
            try:
                told = orjson.loads(message)
                if told.get("from") == bodies.origin:
                    return
                if told.get("everything"):
                    self.forget_everything_here()
                elif "order" in told:
                    self.forget_order_here(str(told["order"]), _text(told.get("customer")))
                else:
                    self.forget_customer_here(str(told["customer"]))
            except (orjson.JSONDecodeError, AttributeError, KeyError):
                log.warning("redis_forget_unreadable")

        state.subscribe(CHANNEL, heard)

    async def _everywhere(self, message: dict[str, str | None], depends: list[Dependency]) -> None:
        shared = self._bodies.shared
        if shared is None:
            return
        state = shared.entries.state
        if not await shared.entries.forget(depends):
            # Counted before anything else runs: no read here may believe Redis from now on.
            state.unheard.miss()
            log.warning("redis_forget_missed", detail="Redis entries are refused until it answers")
            if shared.settling is None or shared.settling.done():
                shared.settling = state.until_closed(_settle(shared))
        published = orjson.dumps({**message, "from": shared.origin})
        await state.publish(CHANNEL, published)


async def _settle(bodies: SharedBodies) -> None:
    """Make everything in Redis old and tell every replica to drop everything it keeps,
    tried again until Redis takes both: this replica forgot something Redis did not. Until
    then this replica reads nothing from Redis (`SharedEntries.read`), and the others may
    find there what was forgotten."""
    state = bodies.entries.state
    everything = orjson.dumps({"everything": True, "from": bodies.origin})
    while state.unheard.any:
        missed = state.unheard.missed
        if await bodies.entries.forget([EVERYTHING]) and await state.publish(CHANNEL, everything):
            state.unheard.cover(missed)
        else:
            await asyncio.sleep(state.retry_after_s)


def _text(value: object) -> str | None:
    return None if value is None else str(value)
