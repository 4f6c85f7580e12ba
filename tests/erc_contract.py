"""ERC field tables (reference/erc-api.md, seeds 000-002), checked against served JSON.

Written from the reference, independently of the bridge's pydantic models, so a model
that drifts from the contract fails here.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
REGION = re.compile(r"^[A-Z]{2}-[A-Z0-9]{1,3}$")
COUNTRY = re.compile(r"^[A-Z]{2}$")

DELIVERY_TYPES = {"UNKNOWN", "LOCAL_DELIVERY", "LOCAL_PICKUP", "SHIPPING"}
GENERIC = {"UNKNOWN", "CONFIRMED", "ON_ITS_WAY", "OUT_FOR_DELIVERY", "DELIVERED"}
DETAILED = {
    "UNKNOWN",
    "ATTEMPTED_DELIVERY",
    "READY_FOR_PICKUP",
    "PICKED_UP",
    "CONFIRMED",
    "IN_TRANSIT",
    "OUT_FOR_DELIVERY",
    "DELIVERED",
    "FAILURE",
}
GENERIC_OF = {
    "UNKNOWN": "UNKNOWN",
    "CONFIRMED": "CONFIRMED",
    "READY_FOR_PICKUP": "CONFIRMED",
    "IN_TRANSIT": "ON_ITS_WAY",
    "ATTEMPTED_DELIVERY": "OUT_FOR_DELIVERY",
    "OUT_FOR_DELIVERY": "OUT_FOR_DELIVERY",
    "DELIVERED": "DELIVERED",
    "PICKED_UP": "DELIVERED",
    "FAILURE": "UNKNOWN",
}


class ContractError(AssertionError):
    pass


def _fail(path: str, problem: str) -> None:
    raise ContractError(f"{path}: {problem}")


# A field spec: (kind, required). Kinds: "str", "int", "bool", "number", "timestamp",
# "money", "object:<table>", "array:<table>", "enum:<set name>", "dict", "str:<pattern>".
TABLES: dict[str, dict[str, tuple[str, bool]]] = {
    "money": {"value": ("number", True), "currency": ("str:currency", True)},
    "address": {
        "id": ("str", False),
        "first_name": ("str", False),
        "last_name": ("str", False),
        "phone_number": ("str", False),
        "address": ("str", False),
        "zip_code": ("str", False),
        "city": ("str", False),
        "region_code": ("str:region", False),
        "country_code": ("str:country", False),
        "default": ("bool", False),
    },
    "link": {"href": ("str", True)},
    "links": {"self": ("object:link", True), "next": ("object:link", False)},
    "tracking_info": {"tracking_number": ("str", True), "external_url": ("str", False)},
    "delivery_status": {"type": ("enum:detailed", True), "status_date_time": ("timestamp", False)},
    "delivery": {
        "id": ("str", True),
        "delivery_quantity": ("int", False),
        "carrier": ("str", False),
        "delivery_type": ("str", False),
        "delivery_date_start": ("timestamp", False),
        "delivery_date_end": ("timestamp", False),
        "shipping_date": ("timestamp", False),
        "service_level": ("str", False),
        "description": ("str", False),
        "latest_status_info": ("object:delivery_status", False),
        "tracking_info": ("object:tracking_info", False),
        "returnable_quantity": ("int", False),
        "last_update": ("timestamp", False),
    },
    "item": {
        "id": ("str", True),
        "name": ("str", True),
        "description": ("str", False),
        "brand": ("str", False),
        "price": ("money", False),
        "image_url": ("str", False),
        "quantity": ("int", False),
        "sku": ("str", False),
        "deliverable_quantity": ("int", False),
        "deliveries": ("array:delivery", False),
        "custom_fields": ("dict", False),
    },
    "price_summary": {
        "original_total_amount": ("money", True),
        "discounts_amount": ("money", True),
        "shipping_amount": ("money", True),
        "taxes_amount": ("money", True),
        "final_total_amount": ("money", True),
    },
    "status_step": {
        "generic_type": ("enum:generic", True),
        "detailed_type": ("enum:detailed", False),
        "status_date_time": ("timestamp", False),
    },
    "extra_info": {
        "highlighted_item_image_url": ("str", False),
        "latest_status_info": ("object:status_step", False),
    },
    "payment": {
        "card_brand": ("str", False),
        "card_brand_image_url": ("str", False),
        "card_number": ("str", False),
        "is_refunded": ("bool", False),
    },
    "integration_info": {"external_url": ("str", True), "type": ("str", True)},
    "customer": {
        "id": ("str", True),
        "first_name": ("str", False),
        "last_name": ("str", False),
        "customer_since": ("timestamp", False),
        "shipping_addresses": ("array:address", False),
        "integration_info": ("object:integration_info", False),
        "custom_fields": ("dict", False),
        "brand": ("str", False),
        "_links": ("object:links", True),
    },
    "order_summary": {
        "id": ("str", True),
        "order_number": ("str", True),
        "customer_id": ("str", False),
        "brand": ("str", False),
        "purchase_datetime": ("timestamp", False),
        "delivery_type": ("enum:delivery_type", False),
        "shipping_addresses": ("array:address", False),
        "items_number": ("int", False),
        "price_summary": ("object:price_summary", False),
        "order_extra_info": ("object:extra_info", False),
        "status": ("str", False),
        "cancellation_status": ("enum:cancellation", False),
        "custom_fields": ("dict", False),
    },
    "orders_embedded": {"orders": ("array:order_summary", True)},
    "orders_page": {
        "_embedded": ("object:orders_embedded", True),
        "_links": ("object:links", True),
    },
    "order_detail": {
        "id": ("str", True),
        "order_number": ("str", True),
        "customer_id": ("str", False),
        "brand": ("str", False),
        "purchase_datetime": ("timestamp", False),
        "delivery_type": ("enum:delivery_type", False),
        "shipping_address": ("object:address", False),
        "billing_address": ("object:address", False),
        "items_number": ("int", False),
        "price_summary": ("object:price_summary", False),
        "payment_details": ("object:payment", False),
        "order_extra_info": ("object:extra_info", False),
        "cancellation_status": ("enum:cancellation", False),
        "custom_fields": ("dict", False),
        "_links": ("object:links", True),
    },
    "items_embedded": {"items": ("array:item", True)},
    "items_page": {"_embedded": ("object:items_embedded", True), "_links": ("object:links", True)},
    "most_recent_order": {
        "id": ("str", True),
        "order_number": ("str", True),
        "customer_id": ("str", False),
        "brand": ("str", False),
        "status_info": ("array:status_step", False),
        "status_info_current_index": ("int", False),
        "purchase_datetime": ("timestamp", False),
        "tracking_info": ("object:tracking_info", False),
        "delivery_type": ("enum:delivery_type", False),
        "shipping_addresses": ("array:address", False),
        "highlighted_item": ("object:item", False),
        "custom_fields": ("dict", False),
        "_links": ("object:links", True),
    },
    "error_field": {"name": ("str", True), "description": ("str", True)},
    "error": {
        "code": ("str", True),
        "message": ("str", True),
        "description": ("str", False),
        "fields": ("array:error_field", False),
    },
}
ENUMS = {
    "delivery_type": DELIVERY_TYPES,
    "generic": GENERIC,
    "detailed": DETAILED,
    "cancellation": {"CANCELED"},
}
PATTERNS = {"currency": CURRENCY, "region": REGION, "country": COUNTRY}


def _check_value(kind: str, value: Any, path: str) -> None:
    if value is None:
        _fail(path, "is null (absent fields must be omitted)")
    base, _, arg = kind.partition(":")
    if base == "str":
        if not isinstance(value, str) or not value:
            _fail(path, f"expected a non-empty string, got {value!r}")
        if arg and not PATTERNS[arg].match(value):
            _fail(path, f"{value!r} is not a valid {arg}")
    elif base == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(path, f"expected an integer, got {value!r}")
    elif base == "bool":
        if not isinstance(value, bool):
            _fail(path, f"expected a boolean, got {value!r}")
    elif base == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
            _fail(path, f"expected a JSON number, got {value!r}")
    elif base == "timestamp":
        if not isinstance(value, str) or not TIMESTAMP.match(value):
            _fail(path, f"expected YYYY-MM-DDTHH:MM:SS.mmmZ, got {value!r}")
    elif base == "money":
        check(value, "money", path)
    elif base == "enum":
        if value not in ENUMS[arg]:
            _fail(path, f"{value!r} is not one of {sorted(ENUMS[arg])}")
    elif base == "dict":
        if not isinstance(value, dict):
            _fail(path, "expected an object")
        _no_nulls(value, path)
    elif base == "object":
        check(value, arg, path)
    elif base == "array":
        if not isinstance(value, list):
            _fail(path, "expected an array")
        for index, element in enumerate(value):
            _check_value(f"object:{arg}", element, f"{path}[{index}]")
    else:  # pragma: no cover - a typo in the tables
        raise KeyError(kind)


def _no_nulls(value: Any, path: str) -> None:
    if value is None:
        _fail(path, "is null")
    if isinstance(value, dict):
        for key, item in value.items():
            _no_nulls(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _no_nulls(item, f"{path}[{index}]")


def check(body: Any, table: str, path: str = "$") -> None:
    """Raise ContractError unless `body` satisfies the ERC field table `table`."""
    if not isinstance(body, dict):
        _fail(path, f"expected an object, got {type(body).__name__}")
    fields = TABLES[table]
    unknown = set(body) - set(fields)
    if unknown:
        _fail(path, f"fields outside the ERC table: {sorted(unknown)}")
    for name, (kind, required) in fields.items():
        if name not in body:
            if required:
                _fail(f"{path}.{name}", "is required")
            continue
        _check_value(kind, body[name], f"{path}.{name}")
    if table == "price_summary":
        _check_price_summary(body, path)
    detailed = body.get("detailed_type") if table == "status_step" else None
    if detailed is not None and GENERIC_OF[detailed] != body["generic_type"]:
        _fail(path, f"{body['detailed_type']} does not map to {body['generic_type']}")


def _check_price_summary(summary: dict[str, Any], path: str) -> None:
    currencies = {money["currency"] for money in summary.values()}
    if len(currencies) != 1:
        _fail(path, f"mixed currencies {sorted(currencies)}")
    if summary["discounts_amount"]["value"] < 0:
        _fail(path, "discounts must be positive")
