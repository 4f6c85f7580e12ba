"""Query parameters: parsed once, validated, every problem reported in `fields`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from starlette.datastructures import QueryParams

from bridge.errors import invalid_request
from mappings.bodies import ErrorField

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_TEXT = 200
SINGLE = ("brand",)
ORDER_LIST = ("brand", "limit", "cursor", "order_by", "search")
ITEM_LIST = ("brand", "limit", "cursor", "order_by")


@dataclass(frozen=True)
class SortField:
    field: str
    descending: bool

    @property
    def text(self) -> str:
        return f"{self.field}:{'desc' if self.descending else 'asc'}"


@dataclass(frozen=True)
class Query:
    limit: int = DEFAULT_LIMIT
    order_by: SortField | None = None
    cursor: str | None = None
    search: str | None = None
    brand: str | None = None


def _limit(raw: str, problems: list[ErrorField]) -> int:
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
        problems.append(ErrorField(name="limit", description="must be an integer of at least 1"))
        return DEFAULT_LIMIT
    return min(int(raw), MAX_LIMIT)


def _order_by(raw: str, allowed: Sequence[str], problems: list[ErrorField]) -> SortField | None:
    field, sep, direction = raw.partition(":")
    if field in allowed and sep and direction in ("asc", "desc"):
        return SortField(field, direction == "desc")
    choices = ", ".join(f"{name}:{d}" for name in allowed for d in ("asc", "desc"))
    problems.append(ErrorField(name="order_by", description=f"must be one of: {choices}"))
    return None


def parse_query(
    params: QueryParams, *, accepts: Sequence[str] = SINGLE, sort_fields: Sequence[str] = ()
) -> Query:
    """Validate the parameters this route knows (`accepts`); unknown ones are ignored."""
    problems: list[ErrorField] = []
    values: dict[str, str] = {}
    for name in accepts:
        given = params.getlist(name)
        if len(given) > 1:
            problems.append(ErrorField(name=name, description="must be given at most once"))
        elif given:
            values[name] = given[0]
    for name in ("search", "brand"):
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
    return Query(
        limit=limit,
        order_by=order_by,
        cursor=values.get("cursor") or None,
        search=values.get("search") or None,
        brand=values.get("brand") or None,
    )
