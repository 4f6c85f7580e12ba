"""The ERC cart (erc-api.md §3 C12). Amounts and quantities are strings on the wire, as
ERC's cart shape has them (decimal text in the cart's currency, e.g. "12.50")."""

from __future__ import annotations

from mappings.models import CustomFields, ERCModel, Timestamp


class CartCost(ERCModel):
    base_amount: str | None = None
    discounts_amount: str | None = None
    final_amount: str
    taxes_amount: str | None = None


class CartDiscount(ERCModel):
    discounted_amount: str
    type: str
    discount_code: str
    discount_name: str | None = None
    discount_description: str | None = None


class CartLine(ERCModel):
    line_id: str
    variant_id: str
    variant_title: str
    product_id: str
    sku: str
    default_image: str | None = None
    """Required by ERC, but left out when the platform has no image for the line."""
    quantity: str
    quantity_available: str | None = None
    url: str | None = None
    cost: CartCost
    cart_lines_discounts: list[CartDiscount] | None = None


class Cart(ERCModel):
    cart_id: str
    customer_id: str | None = None
    total_quantity: str | None = None
    currency: str | None = None
    cart_status: str | None = None
    created_time: Timestamp | None = None
    updated_time: Timestamp | None = None
    cost: CartCost
    cart_discounts: list[CartDiscount] | None = None
    cart_lines: list[CartLine] | None = None
    brand: str | None = None
    custom_fields: CustomFields | None = None
