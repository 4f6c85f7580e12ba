"""Query parameters: parsed once, validated, every problem reported in `fields`."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import QueryParams

from bridge.errors import invalid_request
from mappings.bodies import ErrorField

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_TEXT = 200
MAX_ID_LENGTH = 128
ID_CHARACTERS = "A-Z a-z 0-9 . _ ~ - : @ + ="
# Opaque platform ids (UUIDs, numbers, `ord_123`, e-mail-like ids...), with at least one
# letter or digit so that `.` and `..` never reach a platform URL.
PATH_ID_PATTERN = r"^[A-Za-z0-9._~:@+=-]*[A-Za-z0-9][A-Za-z0-9._~:@+=-]*$"
_PATH_ID = re.compile(PATH_ID_PATTERN)
SINGLE = ("brand",)
ORDER_LIST = ("brand", "limit", "cursor", "order_by", "search")
ITEM_LIST = ("brand", "limit", "cursor", "order_by")
SHIPMENT_LIST = ("brand", "limit", "cursor", "order_id", "tracking_number")
PRODUCT_LIST = ("brand", "limit", "cursor", "search")
CART_LOOKUP = ("brand", "customer_id", "cart_id")
ID_PARAMETERS = ("order_id", "customer_id", "cart_id")
"""Query parameters that carry a platform id: checked as path ids are."""


@dataclass(frozen=True)
class SortField:
    field: str
    descending: bool

    @property
    def text(self) -> str:
        return f"{self.field}:{'desc' if self.descending else 'asc'}"


Given = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Query:
    limit: int = DEFAULT_LIMIT
    order_by: SortField | None = None
    cursor: str | None = None
    search: str | None = None
    brand: str | None = None
    ids: tuple[tuple[str, str], ...] = ()
    """The id parameters given (`order_id`, `customer_id`, `cart_id`), by name."""
    tracking_number: str | None = None
    given: Given = ()
    """The known parameters the request gave, in canonical form and the route's order:
    what the cache key and the `_links` are made of. Unknown parameters never reach it."""

    def id_of(self, name: str) -> str | None:
        """The id parameter `name`, when given."""
        return dict(self.ids).get(name)


_DEFAULTS = Query()


def _limit(raw: str, problems: list[ErrorField]) -> int:
    """An integer of at least 1, clamped to `MAX_LIMIT`. Only a value of no more digits
    than `MAX_LIMIT` is converted (Python will not read an integer of thousands): any
    longer one, its leading zeros aside, is above it."""
    significant = raw.lstrip("0")
    if not (raw.isascii() and raw.isdigit() and significant):
        problems.append(ErrorField(name="limit", description="must be an integer of at least 1"))
        return DEFAULT_LIMIT
    if len(significant) > len(str(MAX_LIMIT)):
        return MAX_LIMIT
    return min(int(significant), MAX_LIMIT)


def _order_by(raw: str, allowed: Sequence[str], problems: list[ErrorField]) -> SortField | None:
    field, sep, direction = raw.partition(":")
    if field in allowed and sep and direction in ("asc", "desc"):
        return SortField(field, direction == "desc")
    choices = ", ".join(f"{name}:{d}" for name in allowed for d in ("asc", "desc"))
    problems.append(ErrorField(name="order_by", description=f"must be one of: {choices}"))
    return None


def _path_ids(path: Mapping[str, Any], problems: list[ErrorField]) -> None:
    """Each id must be one a platform URL can carry (query ids are checked alike)."""
    for name, value in path.items():
        text = value if isinstance(value, str) else ""
        if not (len(text) <= MAX_ID_LENGTH and _PATH_ID.fullmatch(text)):
            problems.append(
                ErrorField(
                    name=name,
                    description=f"must be 1 to {MAX_ID_LENGTH} characters of {ID_CHARACTERS}",
                )
            )


def parse_query(
    params: QueryParams,
    *,
    path: Mapping[str, Any] | None = None,
    accepts: Sequence[str] = SINGLE,
    sort_fields: Sequence[str] = (),
    exactly_one: Sequence[str] = (),
) -> Query:
    """Validate the path ids and the query parameters this route knows (`accepts`), of
    which `exactly_one` (when named) must be given one; unknown query parameters are
    ignored."""
    problems: list[ErrorField] = []
    _path_ids(path or {}, problems)
    if not params and not problems and not exactly_one:
        return _DEFAULTS
    values: dict[str, str] = {}
    for name in accepts:
        sent = params.getlist(name)
        if len(sent) > 1:
            problems.append(ErrorField(name=name, description="must be given at most once"))
        elif sent:
            values[name] = sent[0]
    _path_ids({name: values[name] for name in ID_PARAMETERS if values.get(name)}, problems)
    _one_of(exactly_one, values, problems)
    for name in ("search", "brand", "tracking_number"):
        if len(values.get(name, "")) > MAX_TEXT:
            problems.append(
                ErrorField(name=name, description=f"must be at most {MAX_TEXT} characters")
            )
    limit = _limit(values["limit"], problems) if "limit" in values else DEFAULT_LIMIT
    order_by = (
        _order_by(values["order_by"], sort_fields, problems) if "order_by" in values else None
    )
    if problems:
        raise invalid_request(problems)
    cursor = values.get("cursor") or None
    search = values.get("search") or None
    brand = values.get("brand") or None
    ids = tuple((name, values[name]) for name in ID_PARAMETERS if values.get(name))
    tracking_number = values.get("tracking_number") or None
    canonical = {
        **dict(ids),
        "tracking_number": tracking_number,
        "limit": str(limit),
        "order_by": order_by.text if order_by else None,
        "cursor": cursor,
        "search": search,
        "brand": brand,
    }
    # Equal requests give equal tuples: `limit=020` is `limit=20`, `limit=500` is
    # `limit=100`, an empty value is no value.
    given = tuple(
        (name, text)
        for name in accepts
        if name in values and (text := canonical.get(name)) is not None
    )
    return Query(limit, order_by, cursor, search, brand, ids, tracking_number, given)


def _one_of(names: Sequence[str], values: Mapping[str, str], problems: list[ErrorField]) -> None:
    if names and sum(1 for name in names if values.get(name)) != 1:
        wanted = " or ".join(f"`{name}`" for name in names)
        for name in names:
            problems.append(ErrorField(name=name, description=f"give exactly one of {wanted}"))
