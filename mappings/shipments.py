"""ERC shipments (erc-api.md §3 C8): what was sent to a customer, parcel by parcel.

Adapters return `Shipment`s; the R6 body is built from them by the bridge. Quantities are
strings on the wire, as ERC's shipment shape has them; `latest_status_info` is a string
too (not the object deliveries use).
"""

from __future__ import annotations

from mappings.models import Address, CustomFields, ERCModel, ItemHead, Timestamp


class ShipmentTracking(ERCModel):
    tracking_number: str | None = None
    tracking_carrier: str | None = None
    external_url: str | None = None


class ShipmentItem(ItemHead):
    product_id: str | None = None
    quantity: str | None = None
    sku: str | None = None


class Shipment(ERCModel):
    id: str
    brand: str | None = None
    customer_id: str | None = None
    order_id: str | None = None
    delivery_quantity: str | None = None
    delivery_date_start: Timestamp | None = None
    delivery_date_end: Timestamp | None = None
    delivery_staff: str | None = None
    latest_status_info: str | None = None
    last_updated: Timestamp | None = None
    created_time: Timestamp | None = None
    description: str | None = None
    shipping_provider: str | None = None
    shipping_date: Timestamp | None = None
    shipping_address: Address | None = None
    tracking_info: ShipmentTracking | None = None
    items: list[ShipmentItem] | None = None
    custom_fields: CustomFields | None = None
