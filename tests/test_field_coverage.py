"""The field coverage table in README.md is the one the conformance manifests produce."""

from __future__ import annotations

from tests.conformance import coverage

REGENERATE = "python -m tests.conformance.coverage --write"


def test_readme_coverage_table_is_current() -> None:
    readme = coverage.readme_table(coverage.README.read_text(encoding="utf-8"))
    assert readme == coverage.table(), f"README.md's coverage table is stale: run {REGENERATE}"


def test_rows_leave_out_what_the_bridge_fills_and_what_every_body_has() -> None:
    rows = coverage.rows()
    assert ("R1", "first_name") in rows
    assert ("R4", "items[].brand") in rows
    assert ("R4", "items[].deliveries[].tracking_info") in rows
    assert ("R5", "highlighted_item") in rows
    for left_out in [("R1", "brand"), ("R1", "_links"), ("R3", "id"), ("R4", "items[].name")]:
        assert left_out not in rows


def test_fields_are_read_from_bodies() -> None:
    body = {
        "_embedded": {
            "items": [
                {"id": "1", "name": "Mug", "brand": "Acme"},
                {"id": "2", "name": "Tea", "deliveries": [{"id": "d", "carrier": "UPS"}]},
            ]
        },
        "_links": {"self": {"href": "http://bridge.example/items"}},
    }
    assert coverage.fields_of(body, "R4") == {
        "items[].id",
        "items[].name",
        "items[].brand",
        "items[].deliveries[].id",
        "items[].deliveries[].carrier",
    }
    customer = {"id": "c", "brand": "Shop", "first_name": "Ada", "_links": {}}
    assert coverage.fields_of(customer, "R1") == {"id", "first_name"}
