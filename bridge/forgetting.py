"""Forgetting an order or a customer in every cache the bridge keeps: the rendered bodies
and the platform resources. A write the bridge made and a platform's webhook both end here.

The guarantee is the write's: nothing from before is served afterwards, fresh or stale,
and a fill or fetch under way when something is forgotten is answered but not kept.
"""

from __future__ import annotations

from collections.abc import Hashable

from adapters.base import Capability, HTTPAdapter
from adapters.resources import ORDER, ResourceCache, customer_tag, order_tag
from bridge.cache import ResponseCache
from bridge.routes import ERC_ROUTES
from bridge.service import Bridge

_LISTING_CAPABILITIES = frozenset({Capability.ORDERS, Capability.MOST_RECENT_ORDER})
ORDER_LISTINGS = frozenset(r.path for r in ERC_ROUTES if r.capability in _LISTING_CAPABILITIES)
"""Routes whose bodies may show any order of their customer (R2, R5)."""


def _route(key: Hashable) -> object:
    # A body's key is (route path, customer id, order id, …): see ERCEndpoint.cache_key.
    return key[0] if isinstance(key, tuple) and key else None


def _order(key: Hashable) -> object:
    return key[2] if isinstance(key, tuple) and len(key) > 2 else None


class CacheForgetting:
    """The bridge's `Forgetting` (bridge/webhooks.py): `resources` is None when the adapter
    keeps none."""

    def __init__(self, bodies: ResponseCache, resources: ResourceCache | None) -> None:
        self._bodies = bodies
        self._resources = resources

    @classmethod
    def of(cls, bridge: Bridge) -> CacheForgetting:
        adapter = bridge.adapter
        resources = adapter.resources if isinstance(adapter, HTTPAdapter) else None
        return cls(bridge.cache, resources)

    def forget_customer(self, customer_id: str) -> None:
        self._bodies.forget_owner(customer_id)
        if self._resources is not None:
            self._resources.forget(customer_tag(customer_id))

    def forget_order(self, order_id: str, customer_id: str | None) -> None:
        """With the customer known, everything of that customer; without (BigCommerce names
        only the order), the order's bodies and resources whoever asked, and every
        customer's order lists and most recent order, which may show it."""
        if customer_id is not None:
            self.forget_customer(customer_id)
        else:
            self._bodies.forget(
                lambda key, _owner: _order(key) == order_id or _route(key) in ORDER_LISTINGS
            )
        resources = self._resources
        if resources is not None:
            resources.forget(order_tag(order_id))
            if customer_id is None:
                # A list is tagged with its customer only: it cannot name its orders before
                # it is fetched.
                resources.forget_untagged(ORDER)
