"""ERC status vocabularies, the detailed→generic table and the R5 `status_info` steps."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import TypeVar


class DeliveryType(StrEnum):
    UNKNOWN = "UNKNOWN"
    LOCAL_DELIVERY = "LOCAL_DELIVERY"
    LOCAL_PICKUP = "LOCAL_PICKUP"
    SHIPPING = "SHIPPING"


class GenericStatus(StrEnum):
    UNKNOWN = "UNKNOWN"
    CONFIRMED = "CONFIRMED"
    ON_ITS_WAY = "ON_ITS_WAY"
    OUT_FOR_DELIVERY = "OUT_FOR_DELIVERY"
    DELIVERED = "DELIVERED"


class DetailedStatus(StrEnum):
    UNKNOWN = "UNKNOWN"
    ATTEMPTED_DELIVERY = "ATTEMPTED_DELIVERY"
    READY_FOR_PICKUP = "READY_FOR_PICKUP"
    PICKED_UP = "PICKED_UP"
    CONFIRMED = "CONFIRMED"
    IN_TRANSIT = "IN_TRANSIT"
    OUT_FOR_DELIVERY = "OUT_FOR_DELIVERY"
    DELIVERED = "DELIVERED"
    FAILURE = "FAILURE"


class CancellationStatus(StrEnum):
    CANCELED = "CANCELED"


GENERIC_OF: dict[DetailedStatus, GenericStatus] = {
    DetailedStatus.UNKNOWN: GenericStatus.UNKNOWN,
    DetailedStatus.CONFIRMED: GenericStatus.CONFIRMED,
    DetailedStatus.READY_FOR_PICKUP: GenericStatus.CONFIRMED,
    DetailedStatus.IN_TRANSIT: GenericStatus.ON_ITS_WAY,
    DetailedStatus.ATTEMPTED_DELIVERY: GenericStatus.OUT_FOR_DELIVERY,
    DetailedStatus.OUT_FOR_DELIVERY: GenericStatus.OUT_FOR_DELIVERY,
    DetailedStatus.DELIVERED: GenericStatus.DELIVERED,
    DetailedStatus.PICKED_UP: GenericStatus.DELIVERED,
    DetailedStatus.FAILURE: GenericStatus.UNKNOWN,
}

# The detailed value a reached step implies when the source recorded no event for it.
TYPICAL_DETAIL: dict[GenericStatus, DetailedStatus] = {
    GenericStatus.CONFIRMED: DetailedStatus.CONFIRMED,
    GenericStatus.ON_ITS_WAY: DetailedStatus.IN_TRANSIT,
    GenericStatus.OUT_FOR_DELIVERY: DetailedStatus.OUT_FOR_DELIVERY,
    GenericStatus.DELIVERED: DetailedStatus.DELIVERED,
}

_PROGRESS: dict[DetailedStatus, int] = {
    DetailedStatus.FAILURE: 0,
    DetailedStatus.UNKNOWN: 0,
    DetailedStatus.CONFIRMED: 1,
    DetailedStatus.READY_FOR_PICKUP: 2,
    DetailedStatus.IN_TRANSIT: 3,
    DetailedStatus.ATTEMPTED_DELIVERY: 4,
    DetailedStatus.OUT_FOR_DELIVERY: 5,
    DetailedStatus.PICKED_UP: 6,
    DetailedStatus.DELIVERED: 6,
}

_SHIPPED_STEPS = (
    GenericStatus.CONFIRMED,
    GenericStatus.ON_ITS_WAY,
    GenericStatus.OUT_FOR_DELIVERY,
    GenericStatus.DELIVERED,
)
_HANDED_OVER_STEPS = (GenericStatus.CONFIRMED, GenericStatus.DELIVERED)

E = TypeVar("E", bound=StrEnum)


def parse_enum(enum: type[E], raw: object, default: E) -> E:
    """Map a source value onto an ERC enum; anything unrecognised becomes `default`."""
    if isinstance(raw, str):
        try:
            return enum(raw.strip().upper())
        except ValueError:
            return default
    return default


def generic_of(detailed: DetailedStatus) -> GenericStatus:
    return GENERIC_OF[detailed]


def status_steps(delivery_type: DeliveryType) -> tuple[GenericStatus, ...]:
    if delivery_type in (DeliveryType.SHIPPING, DeliveryType.LOCAL_DELIVERY):
        return _SHIPPED_STEPS
    return _HANDED_OVER_STEPS


def current_step_index(delivery_type: DeliveryType, current: GenericStatus) -> int | None:
    """Index of the last step the order has reached; None while the status is UNKNOWN."""
    if current is GenericStatus.UNKNOWN:
        return None
    steps = status_steps(delivery_type)
    if current in steps:
        return steps.index(current)
    # Two-step lists have no ON_ITS_WAY/OUT_FOR_DELIVERY: the order is still before DELIVERED.
    order = list(GenericStatus)
    return max(i for i, step in enumerate(steps) if order.index(step) <= order.index(current))


def least_advanced(statuses: Iterable[DetailedStatus]) -> DetailedStatus:
    """The order-level status of several deliveries: the one furthest behind.

    A FAILURE on any delivery wins, so that an agent sees it.
    """
    collected = list(statuses)
    if not collected:
        return DetailedStatus.UNKNOWN
    if DetailedStatus.FAILURE in collected:
        return DetailedStatus.FAILURE
    return min(collected, key=_PROGRESS.__getitem__)
