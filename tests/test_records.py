"""The shared record base, `parse`, the cached list parser and the text helpers."""

from __future__ import annotations

import orjson
import pytest
from pydantic import ValidationError

from mappings.bounds import Short
from mappings.errors import MappingError
from mappings.records import (
    LenientRecord,
    NotJSON,
    Record,
    built,
    field_path,
    parse,
    parse_json,
    parse_list,
    present,
    text,
)


class Line(Record):
    sku: Short
    quantity: int


class Order(Record):
    id: Short
    lines: list[Line] = []


def test_parse_reads_a_record_and_ignores_what_the_mapping_does_not_read() -> None:
    order = parse(Order, {"id": "o1", "lines": [{"sku": "A", "quantity": 2}], "extra": 1})
    assert order == Order(id="o1", lines=[Line(sku="A", quantity=2)])


def test_records_cannot_change() -> None:
    order = parse(Order, {"id": "o1"})
    with pytest.raises(ValidationError):
        order.id = "o2"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ({}, "id"),
        ({"id": "o1", "lines": [{"sku": "A", "quantity": 1}, {"sku": "B"}]}, "lines.1.quantity"),
        ({"id": "o1", "lines": [{"sku": "A", "quantity": "many"}]}, "lines.0.quantity"),
    ],
)
def test_parse_names_the_first_unreadable_field_keys_and_indexes_joined_by_dots(
    raw: object, path: str
) -> None:
    with pytest.raises(MappingError) as caught:
        parse(Order, raw)
    assert caught.value.path == path
    assert str(caught.value).startswith(f"{path}: ")


def test_parse_prefixes_where_the_body_sits_in_a_larger_one() -> None:
    with pytest.raises(MappingError) as caught:
        parse(Order, {"lines": []}, "orders.o1")
    assert caught.value.path == "orders.o1.id"


def test_parse_json_reads_a_record_from_its_bytes_as_parse_reads_it_from_objects() -> None:
    body = b'{"id": "o1", "lines": [{"sku": "A", "quantity": 2}], "extra": {"x": [1]}}'
    assert parse_json(Order, body) == parse(Order, orjson.loads(body))


def test_parse_json_names_the_unreadable_field_as_parse_does() -> None:
    with pytest.raises(MappingError) as caught:
        parse_json(Order, b'{"id": "o1", "lines": [{"sku": "A"}]}', "data")
    assert caught.value.path == "data.lines.0.quantity"


@pytest.mark.parametrize("body", [b"", b"<html>busy</html>", b'{"id": "o1"', b"\xff"])
def test_parse_json_tells_a_body_that_is_not_json_from_one_that_does_not_fit(
    body: bytes,
) -> None:
    with pytest.raises(NotJSON):
        parse_json(Order, body)
    assert not issubclass(NotJSON, MappingError)


def test_parse_list_reads_a_bare_array() -> None:
    assert parse_list(Line, [{"sku": "A", "quantity": 1}]) == [Line(sku="A", quantity=1)]
    assert parse_list(Line, []) == []


def test_parse_list_names_the_element_first() -> None:
    with pytest.raises(MappingError) as caught:
        parse_list(Line, [{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": "x"}])
    assert caught.value.path == "1.quantity"


def test_parse_list_refuses_what_is_not_an_array() -> None:
    with pytest.raises(MappingError) as caught:
        parse_list(Line, {"sku": "A", "quantity": 1})
    assert caught.value.path == ""
    assert caught.value.reason


def test_parse_list_builds_its_validator_once_per_record_type() -> None:
    from mappings import records

    parse_list(Line, [])
    before = records._list_of.cache_info()
    parse_list(Line, [{"sku": "A", "quantity": 1}])
    after = records._list_of.cache_info()
    assert after.hits == before.hits + 1
    assert after.misses == before.misses


def test_field_path_leaves_empty_parts_out() -> None:
    assert field_path("", "lineItems", 0, "offerId") == "lineItems.0.offerId"
    assert field_path() == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [("  Ana ", "Ana"), ("", None), ("   ", None), (None, None), (5, None)],
)
def test_text_is_a_trimmed_non_blank_string_or_none(value: object, expected: str | None) -> None:
    assert text(value) == expected


def test_present_drops_absent_values_and_empties_to_none() -> None:
    assert present({"a": 1, "b": None, "c": 0, "d": ""}) == {"a": 1, "c": 0, "d": ""}
    assert present({"a": None}) is None


class Shipment(LenientRecord):
    id: Short
    carrier: Short | None = None


def test_a_lenient_record_reads_numbers_as_text() -> None:
    assert parse(Shipment, {"id": 1042, "carrier": "UPS"}) == Shipment(id="1042", carrier="UPS")
    with pytest.raises(MappingError):
        parse(Order, {"id": 1042})


def test_built_is_the_model_as_its_constructor_builds_it_with_parts_given_as_dicts() -> None:
    lines = [{"sku": "A-1", "quantity": 2}]
    assert built(Order, {"id": "9", "lines": lines}) == Order(id="9", lines=[Line(**lines[0])])
    assert built(Order, {"id": "9"}).lines == []


def test_built_refuses_what_the_constructor_refuses() -> None:
    with pytest.raises(ValidationError):
        built(Order, {"id": "9", "lines": [{"sku": "A-1", "quantity": "two"}]})
    with pytest.raises(ValidationError):
        built(Order, {"lines": []})
