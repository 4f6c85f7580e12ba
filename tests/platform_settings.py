"""A platform adapter's settings pointed at a loopback emulator, with its credentials:
`ElasticPathAdapter(elasticpath_settings(url), http=FAST)`. Overrides add or replace
fields, as the matching environment variables would."""

from __future__ import annotations

from typing import Any

from adapters.adobe_cpapi import AdobeSettings
from adapters.bigcommerce import BigCommerceSettings
from adapters.elasticpath import ElasticPathSettings
from tests.emulators import bigcommerce_fixtures as bc
from tests.emulators.adobe_cpapi import CPAPIEmulator
from tests.emulators.elasticpath import CLIENT_ID, CLIENT_SECRET


def elasticpath_settings(url: str, **overrides: Any) -> ElasticPathSettings:
    fields = {"base_url": url, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    return ElasticPathSettings(_env_file=None, **{**fields, **overrides})


def bigcommerce_settings(url: str, **overrides: Any) -> BigCommerceSettings:
    fields = {"base_url": url, "store_hash": bc.STORE_HASH, "access_token": bc.ACCESS_TOKEN}
    return BigCommerceSettings(_env_file=None, **{**fields, **overrides})


def adobe_settings(emulator: CPAPIEmulator, url: str, **overrides: Any) -> AdobeSettings:
    """Adobe's credentials are the emulator's own (`CPAPIEmulator.adapter_settings`)."""
    return AdobeSettings(_env_file=None, **emulator.adapter_settings(url, **overrides))
