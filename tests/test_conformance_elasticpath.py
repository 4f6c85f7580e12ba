"""Elastic Path against the adapter conformance suite, through its emulator's fault hooks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from adapters.base import Adapter
from adapters.elasticpath import ElasticPathAdapter, ElasticPathSettings
from tests.conformance import ALL_FAULTS, AdapterConformance, Fault, Manifest, Platform
from tests.conftest import FAST
from tests.emulators import elasticpath_fixtures as fx
from tests.emulators.elasticpath import (
    CLIENT_ID,
    CLIENT_SECRET,
    ElasticPathEmulator,
    error_body,
)
from tests.servers import serve

UNTIL_CLEARED = 1_000


class ElasticPathFaults:
    """The suite's faults, as the emulator's `fail_next` answers for every API call."""

    def __init__(self, emulator: ElasticPathEmulator) -> None:
        self.emulator = emulator

    def inject(self, fault: Fault) -> None:
        if fault is Fault.MALFORMED:
            self.emulator.fail_next(200, b'{"data": [{"type": "order", "id": ', times=UNTIL_CLEARED)
            return
        status = {
            Fault.NOT_FOUND: 404,
            Fault.UNAUTHORIZED: 401,
            Fault.RATE_LIMITED: 429,
            Fault.SERVER_ERROR: 500,
        }[fault]
        self.emulator.fail_next(status, error_body(status, "Injected failure"), times=UNTIL_CLEARED)

    def clear(self) -> None:
        self.emulator.reset()


class TestElasticPathConformance(AdapterConformance):
    manifest = Manifest(
        customer=fx.MARIA,
        orders=9,
        order=fx.ORDER_COMPLETE,
        items=2,
        empty_customer=fx.NOAH,
        other_customer=fx.HANS,
        other_order=fx.ORDER_EUR,
        faults=ALL_FAULTS,
        missing_customer="00000000-0000-4000-8000-000000000001",
        missing_order="00000000-0000-4000-8000-000000000000",
    )

    @contextmanager
    def serve_platform(self) -> Iterator[Platform]:
        emulator = ElasticPathEmulator(fx.default_store())
        with serve(emulator.app) as url:
            yield Platform(url=url, faults=ElasticPathFaults(emulator), emulator=emulator)

    def build_adapter(self, platform: Platform) -> Adapter:
        settings = ElasticPathSettings(
            _env_file=None, base_url=platform.url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
        )
        return ElasticPathAdapter(settings, http=FAST)
