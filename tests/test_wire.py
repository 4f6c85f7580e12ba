"""The ERC wire format: no nulls anywhere, millisecond UTC timestamps."""

from datetime import UTC, datetime, timedelta, timezone

from mappings.models import Order, OrderItem
from mappings.wire import format_timestamp, render


def test_nulls_inside_custom_fields_never_reach_the_wire() -> None:
    item = OrderItem(id="i", name="n", custom_fields={"a": None, "b": {"c": None, "d": [1, None]}})
    assert render(item) == b'{"id":"i","name":"n","custom_fields":{"b":{"d":[1]}}}'


def test_absent_optional_fields_are_omitted() -> None:
    body = render(Order(id="o", order_number="#1", customer_id="c"))
    assert b"null" not in body
    assert b"shipping_address" not in body


def test_timestamps_are_utc_with_milliseconds() -> None:
    lisbon_summer = timezone(timedelta(hours=1))
    moment = datetime(2026, 7, 1, 12, 30, 5, 123987, tzinfo=lisbon_summer)
    assert format_timestamp(moment) == "2026-07-01T11:30:05.123Z"
    assert format_timestamp(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05.000Z"
    assert format_timestamp(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05.000Z"


def test_text_beside_nulls_in_custom_fields_is_kept_as_it_is_at_every_depth() -> None:
    fields = {"a": " x ", "b": ["y", None, {"c": None, "d": "z"}], "e": [[None, "w"]], "f": 0}
    item = OrderItem(id="i", name="n", custom_fields=fields)
    assert render(item) == (
        b'{"id":"i","name":"n","custom_fields":{"a":" x ","b":["y",{"d":"z"}],"e":[["w"]],"f":0}}'
    )
