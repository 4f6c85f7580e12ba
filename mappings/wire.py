"""The ERC wire format: UTF-8 JSON, no nulls, exact money numbers, millisecond UTC times."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from pydantic import BaseModel


def format_timestamp(moment: datetime) -> str:
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"


def format_decimal(value: Decimal) -> str:
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(format_decimal(value))
    if isinstance(value, datetime):
        return format_timestamp(value)
    raise TypeError(f"cannot render {type(value).__name__} as ERC JSON")


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def to_plain(model: BaseModel) -> dict[str, Any]:
    """The body as plain Python data, before encoding (absent fields dropped).

    Nulls can only hide in `custom_fields`, which the models clean when built.
    """
    # `model_dump` without its wrapper, which only checks and passes on its arguments.
    dumped: dict[str, Any] = model.__pydantic_serializer__.to_python(
        model, by_alias=True, exclude_none=True
    )
    return dumped


def render(body: BaseModel | dict[str, Any]) -> bytes:
    """Encode a body as ERC JSON bytes."""
    plain = to_plain(body) if isinstance(body, BaseModel) else _without_nulls(body)
    return orjson.dumps(plain, default=_encode, option=orjson.OPT_PASSTHROUGH_DATETIME)
