"""ERC products (erc-api.md §3 C11): a catalog entry with its images, options and variants."""

from __future__ import annotations

from mappings.models import CustomFields, ERCModel
from mappings.money import Money


class ProductImage(ERCModel):
    id: str
    image_url: str


class ProductOption(ERCModel):
    name: str
    values: list[str]


class Variant(ERCModel):
    id: str
    sku: str | None = None
    price: Money | None = None
    images_ids: list[str] | None = None
    options: dict[str, str] | None = None
    available_quantity: int | None = None
    """None when the platform does not say (stock not tracked or not readable)."""


class Product(ERCModel):
    id: str
    title: str | None = None
    brand: str | None = None
    description: str | None = None
    default_variant_id: str | None = None
    default_image_id: str | None = None
    images: list[ProductImage] | None = None
    options: list[ProductOption] | None = None
    variants: list[Variant] | None = None
    custom_fields: CustomFields | None = None
