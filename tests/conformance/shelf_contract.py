"""The ERC field tables of R6 shipments, R7 products and R8 cart (erc-api.md §3 C8, C11,
C12), checked as `tests.erc_contract` checks the order routes. Tables that exist there
(money, address, links) are checked by it."""

from __future__ import annotations

import re
from typing import Any

from tests import erc_contract
from tests.erc_contract import ContractError

AMOUNT = re.compile(r"^-?\d+(\.\d+)?$")
COUNT = re.compile(r"^\d+$")

SHELF_TABLES: dict[str, dict[str, tuple[str, bool]]] = {
    "shipment_tracking": {
        "tracking_number": ("str", False),
        "tracking_carrier": ("str", False),
        "external_url": ("str", False),
    },
    "shipment_item": {
        "id": ("str", True),
        "product_id": ("str", False),
        "name": ("str", False),
        "description": ("str", False),
        "brand": ("str", False),
        "price": ("money", False),
        "image_url": ("str", False),
        "quantity": ("count", False),
        "sku": ("str", False),
    },
    "shipment": {
        "id": ("str", True),
        "brand": ("str", False),
        "customer_id": ("str", False),
        "order_id": ("str", False),
        "delivery_quantity": ("count", False),
        "delivery_date_start": ("timestamp", False),
        "delivery_date_end": ("timestamp", False),
        "delivery_staff": ("str", False),
        "latest_status_info": ("str", False),
        "last_updated": ("timestamp", False),
        "created_time": ("timestamp", False),
        "description": ("str", False),
        "shipping_provider": ("str", False),
        "shipping_date": ("timestamp", False),
        "shipping_address": ("object:address", False),
        "tracking_info": ("object:shipment_tracking", False),
        "items": ("array:shipment_item", False),
        "custom_fields": ("dict", False),
    },
    "shipments_embedded": {"shipments": ("array:shipment", True)},
    "shipments_page": {
        "_embedded": ("object:shipments_embedded", True),
        "_links": ("object:links", True),
    },
    "product_image": {"id": ("str", True), "image_url": ("str", True)},
    "product_option": {"name": ("str", True), "values": ("strings", True)},
    "variant": {
        "id": ("str", True),
        "sku": ("str", False),
        "price": ("money", False),
        "images_ids": ("strings", False),
        "options": ("dict", False),
        "available_quantity": ("int", False),
    },
    "product": {
        "id": ("str", True),
        "title": ("str", False),
        "brand": ("str", False),
        "description": ("str", False),
        "default_variant_id": ("str", False),
        "default_image_id": ("str", False),
        "images": ("array:product_image", False),
        "options": ("array:product_option", False),
        "variants": ("array:variant", False),
        "custom_fields": ("dict", False),
    },
    "products_embedded": {"products": ("array:product", True)},
    "products_page": {
        "_embedded": ("object:products_embedded", True),
        "_links": ("object:links", True),
    },
    "cart_cost": {
        "base_amount": ("amount", False),
        "discounts_amount": ("amount", False),
        "final_amount": ("amount", True),
        "taxes_amount": ("amount", False),
    },
    "cart_discount": {
        "discounted_amount": ("amount", True),
        "type": ("str", True),
        "discount_code": ("str", True),
        "discount_name": ("str", False),
        "discount_description": ("str", False),
    },
    "cart_line": {
        "line_id": ("str", True),
        "variant_id": ("str", True),
        "variant_title": ("str", True),
        "product_id": ("str", True),
        "sku": ("str", True),
        "default_image": ("str", False),  # a line whose product has no image has none
        "quantity": ("count", True),
        "quantity_available": ("count", False),
        "url": ("str", False),
        "cost": ("object:cart_cost", True),
        "cart_lines_discounts": ("array:cart_discount", False),
    },
    "cart": {
        "cart_id": ("str", True),
        "customer_id": ("str", False),
        "total_quantity": ("count", False),
        "currency": ("str:currency", False),
        "cart_status": ("str", False),
        "created_time": ("timestamp", False),
        "updated_time": ("timestamp", False),
        "cost": ("object:cart_cost", True),
        "cart_discounts": ("array:cart_discount", False),
        "cart_lines": ("array:cart_line", False),
        "brand": ("str", False),
        "custom_fields": ("dict", False),
        "_links": ("object:links", True),
    },
}
STRINGS = {"amount": AMOUNT, "count": COUNT}
"""Kinds of these tables only: decimal and whole-number text (ERC's cart and shipment
shapes carry amounts and quantities as strings)."""


def check(body: Any, table: str, path: str = "$") -> None:
    """Raise ContractError unless `body` satisfies the table (shelf or order routes)."""
    if table not in SHELF_TABLES:
        erc_contract.check(body, table, path)
        return
    if not isinstance(body, dict):
        raise ContractError(f"{path}: expected an object, got {type(body).__name__}")
    fields = SHELF_TABLES[table]
    unknown = set(body) - set(fields)
    if unknown:
        raise ContractError(f"{path}: fields outside the ERC table: {sorted(unknown)}")
    for name, (kind, required) in fields.items():
        if name not in body:
            if required:
                raise ContractError(f"{path}.{name}: is required")
            continue
        _check_value(kind, body[name], f"{path}.{name}")


def _check_value(kind: str, value: Any, path: str) -> None:
    base, _, arg = kind.partition(":")
    if base in STRINGS:
        if not isinstance(value, str) or not STRINGS[base].match(value):
            raise ContractError(f"{path}: expected {base} text, got {value!r}")
    elif base == "strings":
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ContractError(f"{path}: expected an array of strings, got {value!r}")
    elif base == "object":
        check(value, arg, path)
    elif base == "array":
        if not isinstance(value, list):
            raise ContractError(f"{path}: expected an array")
        for index, element in enumerate(value):
            check(element, arg, f"{path}[{index}]")
    else:
        erc_contract._check_value(kind, value, path)
