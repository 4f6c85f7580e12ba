"""What every platform's payload records share: their base, how they are validated, and
the small text helpers the mappings read them with.

A body that does not fit its record fails with one `MappingError` whose path names the
first field we could not read, written the same way for every platform: keys and list
indexes joined by dots (`lineItems.0.offerId`, `1.total_inc_tax` in a bare list).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from mappings.errors import MappingError

R = TypeVar("R", bound=BaseModel)


class Record(BaseModel):
    """A platform record: fields the mapping does not read are ignored, and it cannot change."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class LenientRecord(Record):
    """A record of a platform that sends some ids and codes as JSON numbers, some as strings:
    its text fields take both."""

    model_config = ConfigDict(coerce_numbers_to_str=True)


def parse(model: type[R], raw: object, path: str = "") -> R:
    """Validate one platform body; `path` is where it sits in a larger body, if anywhere."""
    try:
        # The model's validator itself: `model_validate` only passes its defaults on.
        record: R = model.__pydantic_validator__.validate_python(raw)
    except ValidationError as exc:
        raise _unreadable(exc, path) from None
    return record


def built(model: type[R], fields: dict[str, Any]) -> R:
    """`model(**fields)` for what the bridge built itself, validated alike for less: no
    keyword call, no `__init__`, and fields given as dicts become models without a call."""
    instance: R = model.__pydantic_validator__.validate_python(fields)
    return instance


class NotJSON(ValueError):
    """The body is not JSON at all (which is the platform's answer, not its record)."""


def parse_json(model: type[R], body: bytes, path: str = "") -> R:
    """Validate one platform body straight from its JSON bytes (no Python objects in
    between): MappingError when it does not fit `model`, NotJSON when it is not JSON."""
    try:
        record: R = model.__pydantic_validator__.validate_json(body)
    except ValidationError as exc:
        if exc.errors(include_input=False, include_url=False)[0]["type"] == "json_invalid":
            raise NotJSON(str(exc)) from None
        raise _unreadable(exc, path) from None
    return record


def parse_list(model: type[R], raw: object, path: str = "") -> list[R]:
    """Validate a body that is a bare JSON array of `model`."""
    try:
        return _list_of(model).validate_python(raw)
    except ValidationError as exc:
        raise _unreadable(exc, path) from None


@cache
def _list_of(model: type[R]) -> TypeAdapter[list[R]]:
    # Building a TypeAdapter compiles a validator: once per record type is enough.
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def _unreadable(exc: ValidationError, path: str) -> MappingError:
    first = exc.errors(include_input=False, include_url=False)[0]
    return MappingError(first["msg"], field_path(path, *first["loc"]))


def field_path(*parts: str | int) -> str:
    """`parts` as one path in the shared format; empty parts are left out."""
    return ".".join(str(part) for part in parts if part != "")


def text(value: object) -> str | None:
    """A usable string: present and not blank, trimmed. Platforms send "" for absent values."""
    if not isinstance(value, str):
        return None
    return value.strip() or None


def shown(value: object) -> str | None:
    """`text`, unless anonymized: platforms mask erased personal data with `*` (SPEC §5)."""
    usable = text(value)
    return None if usable is None or "*" in usable else usable


def present(values: Mapping[str, Any]) -> dict[str, Any] | None:
    """`values` without the absent (None) ones; None when nothing is left."""
    return {key: value for key, value in values.items() if value is not None} or None
