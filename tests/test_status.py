import pytest

from mappings.models import Order, StatusEvent
from mappings.status import (
    DeliveryType,
    DetailedStatus,
    GenericStatus,
    current_step_index,
    generic_of,
    least_advanced,
    parse_enum,
    status_steps,
)
from mappings.views import status_info
from tests.erc_contract import GENERIC_OF


@pytest.mark.parametrize(("detailed", "generic"), GENERIC_OF.items())
def test_detailed_to_generic_follows_the_spec(detailed: str, generic: str) -> None:
    assert generic_of(DetailedStatus(detailed)) is GenericStatus(generic)


def test_every_detailed_status_is_mapped() -> None:
    assert set(GENERIC_OF) == {s.value for s in DetailedStatus}


@pytest.mark.parametrize("raw", ["delayed", "", None, 3, "in_transit "])
def test_unmapped_values_become_unknown_and_never_raise(raw: object) -> None:
    parsed = parse_enum(DetailedStatus, raw, DetailedStatus.UNKNOWN)
    expected = DetailedStatus.IN_TRANSIT if raw == "in_transit " else DetailedStatus.UNKNOWN
    assert parsed is expected


def test_step_lists_per_delivery_type() -> None:
    four = ["CONFIRMED", "ON_ITS_WAY", "OUT_FOR_DELIVERY", "DELIVERED"]
    two = ["CONFIRMED", "DELIVERED"]
    assert status_steps(DeliveryType.SHIPPING) == tuple(map(GenericStatus, four))
    assert status_steps(DeliveryType.LOCAL_DELIVERY) == tuple(map(GenericStatus, four))
    assert status_steps(DeliveryType.LOCAL_PICKUP) == tuple(map(GenericStatus, two))
    assert status_steps(DeliveryType.UNKNOWN) == tuple(map(GenericStatus, two))


def test_current_index_is_absent_while_unknown() -> None:
    assert current_step_index(DeliveryType.SHIPPING, GenericStatus.UNKNOWN) is None


def test_two_step_lists_place_travelling_orders_on_the_first_step() -> None:
    assert current_step_index(DeliveryType.UNKNOWN, GenericStatus.ON_ITS_WAY) == 0
    assert current_step_index(DeliveryType.LOCAL_PICKUP, GenericStatus.DELIVERED) == 1


def test_least_advanced_delivery_sets_the_order_status() -> None:
    assert least_advanced([DetailedStatus.DELIVERED, DetailedStatus.IN_TRANSIT]) is (
        DetailedStatus.IN_TRANSIT
    )
    assert least_advanced([DetailedStatus.DELIVERED, DetailedStatus.FAILURE]) is (
        DetailedStatus.FAILURE
    )
    assert least_advanced([]) is DetailedStatus.UNKNOWN


def test_status_info_marks_reached_steps_with_known_events() -> None:
    order = Order(
        id="o",
        order_number="1",
        customer_id="c",
        delivery_type=DeliveryType.SHIPPING,
        status=StatusEvent(detailed=DetailedStatus.ATTEMPTED_DELIVERY, at="2026-01-03T00:00:00Z"),
        status_history=[StatusEvent(detailed=DetailedStatus.CONFIRMED, at="2026-01-01T00:00:00Z")],
    )
    steps, current = status_info(order)
    assert current == 2
    assert [s.generic_type for s in steps] == list(status_steps(DeliveryType.SHIPPING))
    assert steps[0].status_date_time is not None
    assert steps[1].detailed_type is DetailedStatus.IN_TRANSIT
    assert steps[1].status_date_time is None
    assert steps[2].detailed_type is DetailedStatus.ATTEMPTED_DELIVERY
    assert steps[3].detailed_type is None


@pytest.mark.parametrize("delivery_type", [DeliveryType.UNKNOWN, DeliveryType.LOCAL_PICKUP])
def test_a_two_step_list_stops_a_travelling_order_on_a_step_of_its_own_status(
    delivery_type: DeliveryType,
) -> None:
    order = Order(
        id="o",
        order_number="1",
        customer_id="c",
        delivery_type=delivery_type,
        status=StatusEvent(detailed=DetailedStatus.IN_TRANSIT, at="2026-01-03T00:00:00Z"),
    )
    steps, current = status_info(order)
    assert current == 0
    assert steps[0].generic_type is GenericStatus.CONFIRMED
    # The step's detail belongs to the step (SPEC §2 table), and IN_TRANSIT's date is not its.
    assert steps[0].detailed_type is DetailedStatus.CONFIRMED
    assert steps[0].status_date_time is None
    assert steps[1].detailed_type is None
